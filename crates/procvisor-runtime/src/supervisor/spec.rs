//! What a supervisor supervises, and how: OTP's child specs and supervisor flags.

use crate::actor::Actor;
use crate::context::StartMethod;
use crate::supervision_policy::{Backoff, RestartIntensity};
use crate::target::Target;
use procvisor_wire::Payload;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Which children restart when one of them ends and must be restarted (OTP's strategies).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Strategy {
    /// Only that child.
    #[default]
    OneForOne,
    /// Every child: the others are stopped (in reverse start order), then all start again.
    OneForAll,
    /// That child and the ones started after it.
    RestForOne,
}

/// When a child that ended is restarted (OTP's restart types).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Restart {
    /// Always.
    #[default]
    Permanent,
    /// Only after an abnormal end (a crash, a kill, a non-zero exit code); a normal stop is
    /// final.
    Transient,
    /// Never: an ended temporary child is removed from the supervisor.
    Temporary,
}

/// When a supervisor ends by itself because its significant children did (OTP 24's
/// `auto_shutdown`): "run this job under supervision, then stop".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum AutoShutdown {
    /// Never (the default): significant children are not allowed.
    #[default]
    Never,
    /// When any significant child ends by itself (and is not restarted).
    AnySignificant,
    /// When every significant child has ended by itself.
    AllSignificant,
}

/// How a child is stopped (OTP's shutdown).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Shutdown {
    /// Ask it to stop, wait this long, then kill it.
    Timeout(Duration),
    /// Ask it to stop and wait as long as it takes (the default for supervisors).
    Infinity,
    /// Kill it at once.
    BrutalKill,
}

impl Default for Shutdown {
    /// Five seconds, as OTP gives workers.
    fn default() -> Self {
        Shutdown::Timeout(Duration::from_secs(5))
    }
}

/// Where an actor or a nested supervisor runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Placement {
    /// In a process of its own, started with this method (`None`: the default method).
    OwnProcess(Option<StartMethod>),
    /// In the supervisor's process.
    Local,
}

/// What a child is.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum ChildKind {
    Actor {
        actor: String,
        args: Payload,
        placement: Placement,
    },
    Process {
        target: String,
        args: Payload,
        method: Option<StartMethod>,
    },
    Supervisor {
        spec: Box<SupervisorSpec>,
        placement: Placement,
    },
}

/// One child of a supervisor: what to start, and how to treat it (OTP's child spec).
///
/// The child's id names it in its supervisor and, for actors, is the name it is registered
/// under (so [`RemoteRef::named`](crate::RemoteRef::named) with the id reaches the current
/// incarnation, across restarts): keep ids unique in the program.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChildSpec {
    pub(crate) id: String,
    pub(crate) kind: ChildKind,
    pub(crate) restart: Restart,
    pub(crate) shutdown: Shutdown,
    pub(crate) significant: bool,
    /// Why the spec cannot be used (unencodable arguments), reported when the supervisor starts.
    pub(crate) invalid: Option<String>,
    /// What `which_children` and the tree call it, when not its actor type (a pool, a
    /// manager: their service actor is a detail).
    #[serde(default)]
    pub(crate) label: Option<String>,
}

impl ChildSpec {
    fn new(id: &str, kind: ChildKind, invalid: Option<String>) -> ChildSpec {
        ChildSpec {
            id: id.to_string(),
            kind,
            restart: Restart::default(),
            shutdown: Shutdown::default(),
            significant: false,
            invalid,
            label: None,
        }
    }

    /// What `which_children` and the tree call this child instead of its actor type (`pool`,
    /// `manager`): for a child that runs a service through an actor of its own.
    #[doc(hidden)]
    pub fn labelled(mut self, label: &str) -> ChildSpec {
        self.label = Some(label.to_string());
        self
    }

    /// An actor of type `A` (registered with [`register_actor!`](crate::register_actor)),
    /// started with `args` in a process of its own.
    pub fn actor<A: Actor>(id: &str, args: A::Args) -> ChildSpec {
        let (args, invalid) = encode(&args);
        ChildSpec::new(
            id,
            ChildKind::Actor {
                actor: std::any::type_name::<A>().to_string(),
                args,
                placement: Placement::OwnProcess(None),
            },
            invalid,
        )
    }

    /// A registered function run as a whole process (restarted as a new process).
    pub fn process<F, A>(id: &str, target: F, args: A) -> ChildSpec
    where
        F: Target<A>,
        A: Serialize,
    {
        drop(target);
        let (args, invalid) = encode(&args);
        ChildSpec::new(
            id,
            ChildKind::Process {
                target: crate::target::name_of::<F>().to_string(),
                args,
                method: None,
            },
            invalid,
        )
    }

    /// A nested supervisor, in the supervising process (see [`placed`](Self::placed) to put it
    /// in a process of its own: a supervision tree can span processes).
    pub fn supervisor(id: &str, spec: SupervisorSpec) -> ChildSpec {
        let mut child = ChildSpec::new(
            id,
            ChildKind::Supervisor {
                spec: Box::new(spec),
                placement: Placement::Local,
            },
            None,
        );
        child.shutdown = Shutdown::Infinity;
        child
    }

    /// Runs an actor or a nested supervisor there (a process child always has its own).
    pub fn placed(mut self, placement: Placement) -> ChildSpec {
        match &mut self.kind {
            ChildKind::Actor { placement: p, .. } | ChildKind::Supervisor { placement: p, .. } => {
                *p = placement
            }
            ChildKind::Process { method, .. } => {
                if let Placement::OwnProcess(m) = placement {
                    *method = m;
                }
            }
        }
        self
    }

    /// When it restarts (default [`Restart::Permanent`]).
    pub fn restart(mut self, restart: Restart) -> ChildSpec {
        self.restart = restart;
        self
    }

    /// How it stops (default: five seconds for workers, as long as it takes for supervisors).
    pub fn shutdown(mut self, shutdown: Shutdown) -> ChildSpec {
        self.shutdown = shutdown;
        self
    }

    /// Makes it significant (OTP 24): when it ends by itself, its supervisor may shut down,
    /// per its [`auto_shutdown`](SupervisorSpec::auto_shutdown). Only a transient or temporary
    /// child may be significant (a permanent one is always restarted).
    pub fn significant(mut self, significant: bool) -> ChildSpec {
        self.significant = significant;
        self
    }

    /// A template for actors of type `A` (a dynamic supervisor's): arguments come per child.
    pub(crate) fn actor_template<A: Actor>(id: &str) -> ChildSpec {
        ChildSpec::new(
            id,
            ChildKind::Actor {
                actor: std::any::type_name::<A>().to_string(),
                args: Payload::encode(&()).expect("unit encodes"),
                placement: Placement::OwnProcess(None),
            },
            None,
        )
    }

    /// The same spec, marked as unusable for `why`.
    pub(crate) fn invalid(mut self, why: String) -> ChildSpec {
        self.invalid = Some(why);
        self
    }

    /// The same child, under another id (a dynamic supervisor's template, say).
    pub(crate) fn renamed(&self, id: &str) -> ChildSpec {
        ChildSpec {
            id: id.to_string(),
            ..self.clone()
        }
    }

    /// The same child, with other start arguments (for an actor or a process).
    pub(crate) fn with_args(mut self, new: Payload) -> ChildSpec {
        match &mut self.kind {
            ChildKind::Actor { args, .. } | ChildKind::Process { args, .. } => *args = new,
            ChildKind::Supervisor { .. } => {}
        }
        self
    }

    /// Whether it is a supervisor (OTP's child type `supervisor`) rather than a worker.
    pub(crate) fn is_supervisor(&self) -> bool {
        matches!(self.kind, ChildKind::Supervisor { .. })
    }

    /// Why the spec is not acceptable as it is, if it is not.
    pub(crate) fn check(&self) -> Result<(), String> {
        if let Some(invalid) = &self.invalid {
            return Err(invalid.clone());
        }
        if self.significant && self.restart == Restart::Permanent {
            return Err(format!(
                "child \"{}\" is significant and permanent: only a transient or temporary child may be significant",
                self.id
            ));
        }
        Ok(())
    }

    /// The child's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    pub(crate) fn describe(&self) -> String {
        if let Some(label) = &self.label {
            return label.clone();
        }
        let short = |name: &str| crate::process::short_name(name);
        match &self.kind {
            ChildKind::Actor { actor, .. } => format!("actor {}", short(actor)),
            ChildKind::Process { target, .. } => format!("process {}", short(target)),
            ChildKind::Supervisor { spec, .. } => format!("supervisor ({})", spec.strategy),
        }
    }
}

fn encode<T: Serialize>(value: &T) -> (Payload, Option<String>) {
    match Payload::encode(value) {
        Ok(payload) => (payload, None),
        Err(e) => (
            Payload::encode(&()).expect("unit encodes"),
            Some(format!("cannot encode the arguments: {e}")),
        ),
    }
}

/// A supervisor's flags and children (OTP's supervisor spec), built with
/// [`Supervisor::builder`](crate::Supervisor::builder) or [`SupervisorSpec::new`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SupervisorSpec {
    pub(crate) name: String,
    pub(crate) strategy: Strategy,
    pub(crate) intensity: (u32, Duration),
    pub(crate) backoff: (Duration, Duration, f64),
    pub(crate) children: Vec<ChildSpec>,
    pub(crate) auto_shutdown: AutoShutdown,
    pub(crate) max_children: Option<usize>,
    /// Children that end for good are forgotten, not kept stopped (a dynamic supervisor, as
    /// OTP's `simple_one_for_one`).
    pub(crate) forget_ended: bool,
    /// The supervisor above, which hears this one's events (set when it starts this one).
    pub(crate) parent: Option<crate::actor::RemoteRef<super::actor::SupervisorActor>>,
}

impl SupervisorSpec {
    /// A supervisor named `name`, one-for-one, restart intensity more than 3 in 5 seconds, no
    /// backoff, no children yet.
    pub fn new(name: &str) -> SupervisorSpec {
        let intensity = RestartIntensity::default();
        SupervisorSpec {
            name: name.to_string(),
            strategy: Strategy::OneForOne,
            intensity: (intensity.max_restarts, intensity.period),
            backoff: (Duration::ZERO, Duration::ZERO, 0.0),
            children: Vec::new(),
            auto_shutdown: AutoShutdown::Never,
            max_children: None,
            forget_ended: false,
            parent: None,
        }
    }

    /// The restart strategy.
    pub fn strategy(mut self, strategy: Strategy) -> SupervisorSpec {
        self.strategy = strategy;
        self
    }

    /// More than `intensity.max_restarts` restarts within `intensity.period` and the supervisor
    /// gives up: it stops its children and ends as failed, which its own supervisor sees as a
    /// crash (OTP's escalation).
    pub fn intensity(mut self, intensity: RestartIntensity) -> SupervisorSpec {
        self.intensity = (intensity.max_restarts, intensity.period);
        self
    }

    /// Waits before each restart, growing with the supervisor's recent restarts (those its
    /// intensity counts, whichever child they were), with jitter (OTP
    /// has none; Akka's `restartWithBackoff`).
    pub fn backoff(mut self, backoff: Backoff) -> SupervisorSpec {
        self.backoff = (backoff.initial, backoff.max, backoff.jitter);
        self
    }

    /// Adds a child; children start in the order they are added and stop in reverse.
    pub fn child(mut self, child: ChildSpec) -> SupervisorSpec {
        self.children.push(child);
        self
    }

    /// Ends the supervisor when its significant children end by themselves (see
    /// [`AutoShutdown`]; default [`AutoShutdown::Never`]).
    pub fn auto_shutdown(mut self, auto_shutdown: AutoShutdown) -> SupervisorSpec {
        self.auto_shutdown = auto_shutdown;
        self
    }

    /// At most `n` children running at once (stopped ones do not count): a `start_child`
    /// beyond it fails with
    /// [`SupervisorError::MaxChildren`](crate::SupervisorError::MaxChildren) (Elixir's
    /// `DynamicSupervisor` option). Default: no limit.
    pub fn max_children(mut self, n: usize) -> SupervisorSpec {
        self.max_children = Some(n);
        self
    }

    /// This spec, for a supervisor that reports its events to `parent`.
    pub(crate) fn with_parent(
        &self,
        parent: crate::actor::RemoteRef<super::actor::SupervisorActor>,
    ) -> SupervisorSpec {
        SupervisorSpec {
            parent: Some(parent),
            ..self.clone()
        }
    }

    pub(crate) fn restart_intensity(&self) -> RestartIntensity {
        RestartIntensity::new(self.intensity.0, self.intensity.1)
    }

    pub(crate) fn backoff_policy(&self) -> Backoff {
        Backoff {
            initial: self.backoff.0,
            max: self.backoff.1,
            jitter: self.backoff.2,
        }
    }
}

/// OTP's names: `one_for_one`, `one_for_all`, `rest_for_one`.
impl std::fmt::Display for Strategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Strategy::OneForOne => "one_for_one",
            Strategy::OneForAll => "one_for_all",
            Strategy::RestForOne => "rest_for_one",
        })
    }
}
