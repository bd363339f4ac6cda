//! Process scenarios for `tests/process_matrix.rs`: `scenarios NAME METHOD`.
//!
//! Each scenario makes its own assertions (a failed one panics, exiting non-zero) and prints
//! `PASS` at the end; `STEP` lines on stderr tell the test which step hung, if one does. Every
//! scenario runs once per start method.

use procvisor::{
    Connection, ExitCode, ExitReason, FailureKind, Process, ProcessError, StartMethod,
    active_children, current_process, parent_process, pipe, register, set_start_method, wait,
};
use procvisor_suite::step;
use std::io::Read;
use std::time::{Duration, Instant};

fn succeed() -> u32 {
    std::process::id()
}
fn fail() -> Result<(), String> {
    Err("it went wrong".into())
}
fn explode() {
    panic!("boom from the child");
}
fn exit_three() -> ExitCode {
    ExitCode(3)
}
fn exit_directly() {
    std::process::exit(7);
}
fn abort() {
    std::process::abort();
}
fn sleep_ms(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}
fn whoami() -> (String, u32, String, Vec<u32>) {
    let me = current_process();
    let parent = parent_process().expect("a child has a parent");
    (
        me.name().to_string(),
        parent.pid(),
        parent.name().to_string(),
        me.ident().to_vec(),
    )
}
fn start_grandchild() -> Result<(String, u32, u32), String> {
    let mut p = Process::new(whoami, ()).map_err(|e| e.to_string())?;
    p.start().map_err(|e| e.to_string())?;
    let (name, parent_pid, _, _) = p
        .result::<(String, u32, String, Vec<u32>)>(None)
        .map_err(|e| e.to_string())?;
    Ok((name, parent_pid, std::process::id()))
}
fn try_to_start_a_child() -> Result<(), String> {
    let mut p = Process::new(succeed, ()).map_err(|e| e.to_string())?;
    p.start().map_err(|e| e.to_string())
}
fn read_stdin() -> usize {
    let mut buf = Vec::new();
    std::io::stdin()
        .read_to_end(&mut buf)
        .expect("stdin is readable");
    buf.len()
}
fn log_something() {
    tracing::info!("hello from child");
    tracing::warn!(answer = 42, "a warning with a field");
}
fn echo_over(mut conn: Connection) -> Result<(), procvisor::ConnectionError> {
    let message: String = conn.recv()?;
    conn.send(&message.to_uppercase())
}
fn unregistered_target() {}
register!(
    succeed,
    fail,
    explode,
    exit_three,
    exit_directly,
    abort,
    sleep_ms,
    whoami,
    start_grandchild
);
register!(try_to_start_a_child, read_stdin, log_something, echo_over);

fn started<F: procvisor::runtime::Target<A>, A: serde::Serialize>(f: F, args: A) -> Process {
    let mut p = Process::new(f, args).expect("registered");
    p.start().expect("start");
    p
}

const LONG: Duration = Duration::from_secs(30);

fn exit_codes() {
    step("success");
    let mut p = started(succeed, ());
    let pid: u32 = p.result(Some(LONG)).unwrap();
    assert_eq!((Some(pid), p.exitcode()), (p.pid(), Some(0)));

    step("returned error");
    let mut p = started(fail, ());
    let err = p.result::<()>(Some(LONG)).unwrap_err();
    assert_eq!(p.exitcode(), Some(1));
    let failure = err.failure().expect("a reported failure");
    assert_eq!(
        (failure.kind(), failure.message()),
        (FailureKind::Error, "it went wrong")
    );

    step("panic");
    let mut p = started(explode, ());
    let err = p.result::<()>(Some(LONG)).unwrap_err();
    assert_eq!(p.exitcode(), Some(1));
    let failure = err.failure().expect("a reported panic");
    assert!(failure.is_panic());
    assert_eq!(failure.message(), "boom from the child");
    assert!(
        failure
            .location()
            .unwrap()
            .starts_with("src/bin/scenarios.rs:"),
        "{failure}"
    );

    step("ExitCode(3)");
    let mut p = started(exit_three, ());
    p.join(Some(LONG)).unwrap();
    assert_eq!(p.exitcode(), Some(3));
    assert!(matches!(
        p.result::<()>(None),
        Err(ProcessError::Failed {
            reason: ExitReason::Code(3),
            failure: None,
            ..
        })
    ));

    step("std::process::exit(7) in the target");
    let mut p = started(exit_directly, ());
    assert!(matches!(
        p.result::<()>(Some(LONG)),
        Err(ProcessError::Failed {
            reason: ExitReason::Code(7),
            failure: None,
            ..
        })
    ));

    step("abort");
    let mut p = started(abort, ());
    p.join(Some(LONG)).unwrap();
    assert_eq!(p.exitcode(), Some(-libc::SIGABRT));

    for (signal, send) in [
        (libc::SIGTERM, Process::terminate as fn(&Process) -> _),
        (libc::SIGKILL, Process::kill),
        (libc::SIGINT, Process::interrupt),
    ] {
        step(&format!("signal {signal}"));
        let mut p = started(sleep_ms, (60_000_u64,));
        send(&p).unwrap();
        p.join(Some(LONG)).unwrap();
        assert_eq!(p.exitcode(), Some(-signal));
        assert_eq!(p.exit_reason(), Some(ExitReason::Signal(signal)));
        send(&p).expect("signalling an ended process is not an error");
    }
}

fn join_timeouts() {
    step("a sleeping child");
    let mut p = started(sleep_ms, (60_000_u64,));
    assert!(p.is_alive());
    assert_eq!(p.exitcode(), None);
    let start = Instant::now();
    let err = p.join(Some(Duration::from_millis(50))).unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert!(start.elapsed() >= Duration::from_millis(45));
    assert!(p.join(Some(Duration::ZERO)).unwrap_err().is_timeout());
    p.terminate().unwrap();
    step("join after terminate");
    p.join(None).unwrap();
    assert!(!p.is_alive());
    p.join(None).expect("joining twice is fine");
    assert_eq!(p.exitcode(), Some(-libc::SIGTERM));
}

fn names() {
    step("default name and parent");
    let mut p = started(whoami, ());
    let (name, parent_pid, parent_name, ident) = p
        .result::<(String, u32, String, Vec<u32>)>(Some(LONG))
        .unwrap();
    assert_eq!(name, "Process-1");
    assert_eq!(ident, vec![1]);
    assert_eq!(
        (parent_pid, parent_name.as_str()),
        (std::process::id(), "MainProcess")
    );
    assert_eq!(p.name(), "Process-1");

    step("custom name");
    let mut p = Process::new(whoami, ()).unwrap().with_name("SomeProcess");
    p.start().unwrap();
    let (name, ..) = p
        .result::<(String, u32, String, Vec<u32>)>(Some(LONG))
        .unwrap();
    assert_eq!(name, "SomeProcess");

    step("active_children");
    assert!(active_children().is_empty(), "{:?}", active_children());
    let mut p = started(sleep_ms, (60_000_u64,));
    assert_eq!(active_children(), vec![(p.name(), p.pid().unwrap())]);
    p.kill().unwrap();
    p.join(None).unwrap();
    assert!(active_children().is_empty());
    assert_eq!(current_process().name(), "MainProcess");
    assert!(parent_process().is_none());
}

fn grandchild() {
    step("a child that starts a child");
    let mut p = started(start_grandchild, ());
    let (grandchild_name, grandchild_parent, child_pid) =
        p.result::<(String, u32, u32)>(Some(LONG)).unwrap();
    assert_eq!(grandchild_name, "Process-1:1");
    assert_eq!(grandchild_parent, child_pid);
    assert_eq!(Some(child_pid), p.pid());
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn zombies() -> Vec<String> {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter(|stat| {
            let fields: Vec<&str> = stat.rsplit(") ").next().unwrap_or("").split(' ').collect();
            fields.first() == Some(&"Z") && fields.get(1) == Some(&me.as_str())
        })
        .collect()
}

fn many() {
    step("warm-up (starts the runtime and, for forkserver, the server)");
    started(succeed, ()).join(Some(LONG)).unwrap();
    let baseline = open_fds();
    step("start 100");
    let mut processes: Vec<Process> = (0..100).map(|_| started(succeed, ())).collect();
    step("join 100");
    for p in &mut processes {
        p.join(Some(LONG)).unwrap();
        assert_eq!(p.exitcode(), Some(0));
    }
    drop(processes);
    step("wait until every link is released");
    let deadline = Instant::now() + LONG;
    while (open_fds() > baseline || !zombies().is_empty()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(zombies().is_empty(), "zombies: {:?}", zombies());
    assert!(
        open_fds() <= baseline,
        "{} descriptors open, {baseline} before",
        open_fds()
    );
}

fn misuse() {
    let mut p = Process::new(sleep_ms, (60_000_u64,)).unwrap();
    assert!(matches!(p.join(None), Err(ProcessError::NotStarted)));
    assert!(matches!(p.terminate(), Err(ProcessError::NotStarted)));
    assert!(matches!(p.sentinel(), Err(ProcessError::NotStarted)));
    assert_eq!((p.pid(), p.exitcode(), p.is_alive()), (None, None, false));
    p.set_name("renamed").unwrap();
    p.start().unwrap();
    assert!(matches!(p.start(), Err(ProcessError::AlreadyStarted)));
    assert!(matches!(
        p.set_name("again"),
        Err(ProcessError::AlreadyRunning)
    ));
    assert!(matches!(
        p.set_daemon(true),
        Err(ProcessError::AlreadyRunning)
    ));
    assert!(matches!(p.close(), Err(ProcessError::StillRunning)));
    p.kill().unwrap();
    p.join(Some(LONG)).unwrap();
    p.close().unwrap();
    p.close().expect("closing twice is fine");
    assert!(matches!(p.join(None), Err(ProcessError::Closed)));
    assert!(matches!(p.start(), Err(ProcessError::Closed)));
    assert!(matches!(p.kill(), Err(ProcessError::Closed)));
    assert!(!p.is_alive());

    step("unregistered target");
    match Process::new(unregistered_target, ()) {
        Err(ProcessError::Unregistered { target, short }) => {
            assert!(target.ends_with("unregistered_target"));
            assert_eq!(short, "unregistered_target");
        }
        other => panic!("expected Unregistered, got {other:?}"),
    }
    step("a closure target");
    let mut p = Process::closure(|| -> Result<i32, String> { Ok(41 + 1) });
    if p.start_method() == StartMethod::Fork {
        p.start().unwrap();
        assert_eq!(p.result::<i32>(Some(LONG)).unwrap(), 42);
    } else {
        assert!(matches!(
            p.start(),
            Err(ProcessError::ClosureNeedsFork { .. })
        ));
    }
}

fn results() {
    step("wrong result type");
    let mut p = started(succeed, ());
    assert!(matches!(
        p.result::<String>(Some(LONG)),
        Err(ProcessError::WrongResultType { .. })
    ));
    step("a connection argument");
    let (mut here, there) = pipe(true).unwrap();
    let mut p = started(echo_over, (there,));
    here.send(&"shout").unwrap();
    assert_eq!(here.recv_timeout::<String>(LONG).unwrap(), "SHOUT");
    p.result::<()>(Some(LONG)).unwrap();
    step("repr");
    let repr = format!("{p:?}");
    assert!(
        repr.starts_with("<Process name='Process-2' pid=")
            && repr.ends_with(" stopped exitcode=0>"),
        "{repr}"
    );
}

fn sentinel() {
    let (conn, _peer) = pipe(true).unwrap();
    let mut p = started(sleep_ms, (100_u64,));
    let sentinel = p.sentinel().unwrap();
    let objects: [&dyn procvisor::Waitable; 2] = [&conn, &sentinel];
    assert!(wait(&objects, Some(Duration::ZERO)).unwrap().is_empty());
    step("wait for the sentinel");
    assert_eq!(wait(&objects, Some(LONG)).unwrap(), vec![1]);
    p.join(Some(LONG)).unwrap();
}

fn daemon() {
    let mut p = Process::new(try_to_start_a_child, ())
        .unwrap()
        .with_daemon(true);
    assert!(p.daemon());
    p.start().unwrap();
    let err = p.result::<()>(Some(LONG)).unwrap_err();
    assert!(
        err.failure()
            .unwrap()
            .message()
            .contains("daemonic processes are not allowed to have children"),
        "{err}"
    );
}

fn stdin_is_null() {
    let mut p = started(read_stdin, ());
    assert_eq!(p.result::<usize>(Some(LONG)).unwrap(), 0);
}

fn logging() {
    assert!(procvisor::log_to_stderr(tracing::Level::INFO));
    let mut p = started(log_something, ());
    p.result::<()>(Some(LONG)).unwrap();
    tracing::info!("parent done");
}

fn async_api() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut p = started(succeed, ());
        let pid: u32 = p.result_async().await.unwrap();
        assert_eq!(Some(pid), p.pid());
        let mut p = started(sleep_ms, (60_000_u64,));
        assert!(
            p.join_async(Some(Duration::from_millis(30)))
                .await
                .unwrap_err()
                .is_timeout()
        );
        p.kill().unwrap();
        p.join_async(None).await.unwrap();
        assert_eq!(p.exitcode(), Some(-9));
    });
}

fn busy_fork() {
    // A runtime whose threads allocate, log and print while this thread forks 1000 times.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    for i in 0..4 {
        let stop = stop.clone();
        runtime.spawn(async move {
            let mut noise = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                noise.push(vec![i as u8; 1024]);
                if noise.len() > 64 {
                    noise.clear();
                    eprintln!("busy {i}");
                }
                tokio::task::yield_now().await;
            }
        });
    }
    for i in 0..1000 {
        if i % 100 == 0 {
            step(&format!("fork {i}"));
        }
        let mut p = started(succeed, ());
        let pid = p
            .result::<u32>(Some(LONG))
            .unwrap_or_else(|e| panic!("fork {i}: {e}"));
        assert_eq!(Some(pid), p.pid(), "fork {i}");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
}

fn parent_killed() {
    for _ in 0..3 {
        let p = started(sleep_ms, (600_000_u64,));
        println!("CHILD {}", p.pid().unwrap());
        std::mem::forget(p);
    }
    println!("READY");
    std::thread::sleep(Duration::from_secs(600));
}

fn exit_joins_children() {
    // The non-daemonic child finishes after the main thread is done; the daemonic one would
    // sleep for ten minutes. Returning from main must join the first and terminate the second.
    let marker = std::env::var("MARKER").expect("MARKER");
    let p = started(sleep_ms, (300_u64,));
    println!("CHILD {}", p.pid().unwrap());
    let mut d = Process::new(sleep_ms, (600_000_u64,))
        .unwrap()
        .with_daemon(true);
    d.start().unwrap();
    println!("DAEMON {}", d.pid().unwrap());
    drop((p, d));
    std::fs::write(marker, b"main returned").unwrap();
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (name, method) = (
        args[1].as_str(),
        args[2].parse::<StartMethod>().expect("a start method"),
    );
    set_start_method(method).unwrap();
    step(name);
    match name {
        "exit_codes" => exit_codes(),
        "join_timeouts" => join_timeouts(),
        "names" => names(),
        "grandchild" => grandchild(),
        "many" => many(),
        "misuse" => misuse(),
        "results" => results(),
        "sentinel" => sentinel(),
        "daemon" => daemon(),
        "stdin_is_null" => stdin_is_null(),
        "logging" => logging(),
        "async_api" => async_api(),
        "busy_fork" => busy_fork(),
        "parent_killed" => parent_killed(),
        "exit_joins_children" => exit_joins_children(),
        other => panic!("unknown scenario {other}"),
    }
    println!("PASS");
}
