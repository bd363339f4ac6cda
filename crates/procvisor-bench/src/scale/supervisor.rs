//! `scale_supervisor`: a supervisor of 10 to 1,000 actor children in its own process: the
//! time to start it, a restart storm (every child killed once, until all are back), and the
//! memory each child adds to the process.

use super::{Growth, Measured, Metric, Scale, Unit, own_rss, text};
use procvisor::{
    Actor, ActorContext, ChildSpec, EventKind, InitError, Placement, RestartIntensity, Supervisor,
    register_actor,
};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

pub(super) static SCALE: Scale = Scale {
    name: "scale_supervisor",
    size: "children",
    sizes: &[10, 100, 1000],
    smoke_sizes: &[10, 20],
    metrics: &[
        Metric {
            key: "start",
            label: "start until all started",
            unit: Unit::Seconds,
            growth: Growth::Total,
            vs_python: None,
        },
        Metric {
            key: "storm",
            label: "restart storm until all back",
            unit: Unit::Seconds,
            growth: Growth::Total,
            vs_python: None,
        },
        Metric {
            key: "rss_per_child",
            label: "RSS growth per child",
            unit: Unit::Bytes,
            growth: Growth::PerUnit,
            vs_python: None,
        },
    ],
    python: None,
    measure,
    deadline: |children| Duration::from_secs(30 + children / 10),
};

/// A child that answers with the number it was started with.
pub(super) struct Member(u64);

impl Actor for Member {
    type Args = u64;
    type Msg = ();
    type Reply = u64;

    async fn start(n: u64, _: &ActorContext<Self>) -> Result<Self, InitError> {
        Ok(Member(n))
    }

    async fn handle(&mut self, (): (), _: &ActorContext<Self>) -> u64 {
        self.0
    }
}
register_actor!(Member);

fn id(i: u64) -> String {
    format!("scale-member-{i}")
}

fn measure(children: u64, _smoke: bool) -> Result<Measured, String> {
    let before = own_rss()?;
    let spec = (0..children).fold(
        Supervisor::builder("scale").intensity(RestartIntensity::unlimited()),
        |spec, i| spec.child(ChildSpec::actor::<Member>(&id(i), i).placed(Placement::Local)),
    );
    let start = Instant::now();
    let supervisor = spec.start().map_err(text)?;
    let started = start.elapsed();
    let per_child = (own_rss()? - before) / children as f64;

    // The storm: every child crashed once (kill_child), as fast as they can be asked.
    let mut events = supervisor.events().map_err(text)?;
    let start = Instant::now();
    for i in 0..children {
        supervisor.kill_child(&id(i)).map_err(text)?;
    }
    let mut back = BTreeSet::new();
    while (back.len() as u64) < children {
        match events.next_timeout(Duration::from_secs(20)) {
            Some(event) => {
                if let EventKind::Restarted { .. } = event.kind {
                    back.insert(event.child);
                }
            }
            None => return Err(format!("{} of {children} children came back", back.len())),
        }
    }
    let storm = start.elapsed();
    let last = supervisor
        .child::<Member>(&id(children - 1))
        .call_timeout((), Duration::from_secs(10))
        .map_err(text)?;
    if last != children - 1 {
        return Err(format!("child {} answered {last}", children - 1));
    }
    supervisor.shutdown().map_err(text)?;
    Ok(vec![
        ("start", started.as_secs_f64()),
        ("storm", storm.as_secs_f64()),
        ("rss_per_child", per_child),
    ])
}
