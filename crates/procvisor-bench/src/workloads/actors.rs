//! `actor_call` and `restart`: an actor in a child process, called; a supervised actor
//! process, killed and replaced.

use super::pipe::{self, PipeRtt};
use crate::harness::{OpTimer, Peer, Sample, Side, Target, Workload};
use crate::python;
use procvisor::{
    Actor, ActorContext, ChildSpec, InitError, RemoteRef, RestartIntensity, StartMethod,
    Supervisor, get_context, register_actor, spawn_in,
};
use std::time::{Duration, Instant};

type Message = (i64, Option<i64>, String);

/// Answers with what it got, or its pid.
struct Echo;

impl Actor for Echo {
    type Args = ();
    type Msg = Option<Message>;
    type Reply = (Option<Message>, u32);

    async fn start((): (), _: &ActorContext<Self>) -> Result<Self, InitError> {
        Ok(Echo)
    }

    async fn handle(&mut self, msg: Option<Message>, _: &ActorContext<Self>) -> Self::Reply {
        (msg, std::process::id())
    }
}
register_actor!(Echo);

pub(crate) struct ActorCall;

impl Workload for ActorCall {
    fn name(&self) -> &'static str {
        "actor_call"
    }

    fn unit(&self) -> &'static str {
        "round trip"
    }

    fn targets(&self) -> &'static [Target] {
        // Within 1.5x of a Connection round trip between the same kinds of processes.
        &[Target::VsBaseline(1.5)]
    }

    fn has_baseline(&self) -> bool {
        true
    }

    fn peers(&self) -> &'static [Peer] {
        &[Peer::Floor]
    }

    fn measure_peer(&self, _: Peer, smoke: bool) -> Result<Sample, String> {
        pipe::floor(smoke)
    }

    fn measure(&self, side: Side, smoke: bool) -> Result<Duration, String> {
        self.sample(side, smoke).map(|s| s.per_op)
    }

    fn sample(&self, side: Side, smoke: bool) -> Result<Sample, String> {
        let n: u32 = if smoke { 200 } else { 20_000 };
        match side {
            Side::Procvisor => {
                let echo = spawn_in::<Echo>(get_context(StartMethod::Forkserver), ())
                    .map_err(|e| e.to_string())?;
                timed_calls(&echo, n)
            }
            // Context: Python's Pipe round trip (Python has no actors).
            Side::Python => PipeRtt.sample(Side::Python, smoke),
            // The same round trip on a bare Connection.
            Side::Baseline => PipeRtt.sample(Side::Procvisor, smoke),
        }
    }
}

/// `actor_call_loaded`: `actor_call` with a busy-looping process on every CPU but one, started
/// for each side's measurement, so that the call and its baseline meet the same load (a busy
/// machine is where thread hand-offs cost most).
pub(crate) struct ActorCallLoaded;

/// Busy-looping processes, stopped when dropped.
struct Load(Vec<std::process::Child>);

impl Load {
    /// One busy process per CPU but one.
    fn start() -> Result<Load, String> {
        let busy = procvisor::cpu_count().saturating_sub(1).max(1);
        let children = (0..busy)
            .map(|_| {
                std::process::Command::new("sh")
                    .args(["-c", "while :; do :; done"])
                    .spawn()
                    .map_err(|e| format!("cannot start a busy loop: {e}"))
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Load(children))
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Workload for ActorCallLoaded {
    fn name(&self) -> &'static str {
        "actor_call_loaded"
    }

    fn unit(&self) -> &'static str {
        "round trip"
    }

    fn targets(&self) -> &'static [Target] {
        // The performance issue's target: at most 2x a Connection round trip under the same load.
        &[Target::VsBaseline(2.0)]
    }

    fn has_baseline(&self) -> bool {
        true
    }

    fn measure(&self, side: Side, smoke: bool) -> Result<Duration, String> {
        self.sample(side, smoke).map(|s| s.per_op)
    }

    fn sample(&self, side: Side, smoke: bool) -> Result<Sample, String> {
        let _load = Load::start()?;
        ActorCall.sample(side, smoke)
    }
}

/// Answers every call later ([`ActorContext::reply_later`]), at once: the cost of keeping a
/// reply and sending it, against [`Echo`]'s direct answer.
struct EchoLater;

impl Actor for EchoLater {
    type Args = ();
    type Msg = Option<Message>;
    type Reply = (Option<Message>, u32);

    async fn start((): (), _: &ActorContext<Self>) -> Result<Self, InitError> {
        Ok(EchoLater)
    }

    async fn handle(&mut self, msg: Option<Message>, ctx: &ActorContext<Self>) -> Self::Reply {
        let reply = (msg, std::process::id());
        match ctx.reply_later() {
            Some(later) => {
                later.send(reply);
                (None, 0)
            }
            None => reply,
        }
    }
}
register_actor!(EchoLater);

/// `actor_reply_later`: `actor_call` to an actor that answers through a kept reply.
pub(crate) struct ActorReplyLater;

/// `n` timed calls to `actor` with the same message, after a warm-up.
fn timed_calls<A>(actor: &RemoteRef<A>, n: u32) -> Result<Sample, String>
where
    A: Actor<Msg = Option<Message>, Reply = (Option<Message>, u32)>,
{
    let msg = Some((42, None, "hello".to_string()));
    for _ in 0..200 {
        actor.call(msg.clone()).map_err(|e| e.to_string())?;
    }
    let mut timer = OpTimer::start(n as usize, 1);
    for _ in 0..n {
        let (back, _) = actor.call(msg.clone()).map_err(|e| e.to_string())?;
        if back != msg {
            return Err(format!("the actor answered {back:?}"));
        }
        timer.tick();
    }
    let sample = timer.finish();
    actor
        .stop_timeout(Duration::from_secs(5))
        .map_err(|e| e.to_string())?;
    Ok(sample)
}

impl Workload for ActorReplyLater {
    fn name(&self) -> &'static str {
        "actor_reply_later"
    }

    fn unit(&self) -> &'static str {
        "round trip"
    }

    fn targets(&self) -> &'static [Target] {
        // A reply kept and sent costs about what a reply returned does.
        &[Target::VsBaseline(1.1)]
    }

    fn has_baseline(&self) -> bool {
        true
    }

    fn measure(&self, side: Side, smoke: bool) -> Result<Duration, String> {
        self.sample(side, smoke).map(|s| s.per_op)
    }

    fn sample(&self, side: Side, smoke: bool) -> Result<Sample, String> {
        let n: u32 = if smoke { 200 } else { 20_000 };
        match side {
            Side::Procvisor => {
                let later = spawn_in::<EchoLater>(get_context(StartMethod::Forkserver), ())
                    .map_err(|e| e.to_string())?;
                timed_calls(&later, n)
            }
            // Context: Python's Pipe round trip (Python has no actors).
            Side::Python => PipeRtt.sample(Side::Python, smoke),
            // The same call to an actor that answers by returning (`actor_call`).
            Side::Baseline => ActorCall.sample(Side::Procvisor, smoke),
        }
    }
}

pub(crate) struct RestartAfterKill;

/// Kills the supervised echo's process; the time until a new one answers.
fn kill_and_wait(echo: &RemoteRef<Echo>) -> Result<Duration, String> {
    let (_, pid) = echo
        .call_timeout(None, Duration::from_secs(10))
        .map_err(|e| e.to_string())?;
    let start = Instant::now();
    // SAFETY: kill(2) has no memory effects.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    loop {
        if let Ok((_, now)) = echo.call_timeout(None, Duration::from_secs(1)) {
            if now != pid {
                return Ok(start.elapsed());
            }
        }
        if start.elapsed() > Duration::from_secs(10) {
            return Err("the echo was not restarted within 10 s".into());
        }
        std::thread::sleep(Duration::from_micros(100));
    }
}

/// A fresh actor process, until it answers (one "process start" for an actor).
fn fresh_start() -> Result<Duration, String> {
    let start = Instant::now();
    let echo =
        spawn_in::<Echo>(get_context(StartMethod::Forkserver), ()).map_err(|e| e.to_string())?;
    echo.call(None).map_err(|e| e.to_string())?;
    let elapsed = start.elapsed();
    echo.stop_timeout(Duration::from_secs(5))
        .map_err(|e| e.to_string())?;
    Ok(elapsed)
}

impl Workload for RestartAfterKill {
    fn name(&self) -> &'static str {
        "restart"
    }

    fn unit(&self) -> &'static str {
        "kill"
    }

    fn targets(&self) -> &'static [Target] {
        // Target: within 2 ms plus one process start (see the note).
        &[]
    }

    fn has_baseline(&self) -> bool {
        true
    }

    fn measure(&self, side: Side, smoke: bool) -> Result<Duration, String> {
        let kills = if smoke { 1 } else { 10 };
        match side {
            Side::Procvisor => {
                let supervisor = Supervisor::builder("bench")
                    .intensity(RestartIntensity::unlimited())
                    .child(ChildSpec::actor::<Echo>("bench-echo", ()))
                    .start()
                    .map_err(|e| e.to_string())?;
                let echo: RemoteRef<Echo> = supervisor.child("bench-echo");
                let mut total = Duration::ZERO;
                for _ in 0..kills {
                    total += kill_and_wait(&echo)?;
                }
                supervisor.shutdown().map_err(|e| e.to_string())?;
                Ok(total / kills)
            }
            // A hand-written restart in Python: wait on the sentinel, start a new Process, ask it.
            Side::Python => python::run("restart", &[kills.to_string()]),
            Side::Baseline => {
                let mut total = Duration::ZERO;
                for _ in 0..kills {
                    total += fresh_start()?;
                }
                Ok(total / kills)
            }
        }
    }

    fn notes(&self) -> Vec<String> {
        let (Ok(restart), Ok(start)) = (self.measure(Side::Procvisor, false), fresh_start()) else {
            return vec!["could not measure the restart note".into()];
        };
        let verdict = if restart <= start + Duration::from_millis(2) {
            "met"
        } else {
            "MISSED"
        };
        vec![format!(
            "kill to a new answer: {:.2} ms; a fresh actor process answering: {:.2} ms; target (restart <= start + 2 ms): {verdict}",
            restart.as_secs_f64() * 1e3,
            start.as_secs_f64() * 1e3
        )]
    }
}
