//! Process scenarios for `tests/process_matrix.rs`: `scenarios NAME METHOD`.
//!
//! Each scenario makes its own assertions (a failed one panics, exiting non-zero) and prints
//! `PASS` at the end; `STEP` lines on stderr tell the test which step hung, if one does. Every
//! scenario runs once per start method.

use procvisor::{
    Barrier, BoundedSemaphore, Condition, Connection, Event, ExitCode, ExitReason, FailureKind,
    JoinableQueue, Lock, Process, ProcessError, Queue, RLock, RawArray, Semaphore, StartMethod,
    Value, active_children, current_process, parent_process, pipe, register, set_start_method,
    wait_timeout,
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
/// Recurses until the stack runs out (the array keeps each frame from being optimised away).
fn recurse(depth: u64) -> u64 {
    if depth == u64::MAX {
        return 0;
    }
    let frame = std::hint::black_box([depth; 64]);
    frame[(depth % 64) as usize] + recurse(depth + 1)
}
fn overflow_the_stack() -> u64 {
    recurse(0)
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
        .result::<(String, u32, String, Vec<u32>)>()
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
    overflow_the_stack,
    abort,
    sleep_ms,
    whoami,
    start_grandchild
);
register!(try_to_start_a_child, read_stdin, log_something, echo_over);
register!(
    produce,
    consume,
    consume_slowly,
    hold_lock,
    hold_rlock,
    lockstep,
    bounded_worker,
    wait_for_notify,
    task_worker,
    count_up,
    put_one
);

fn produce(q: Queue<(u32, u32)>, me: u32, count: u32) -> Result<(), String> {
    for i in 0..count {
        q.put((me, i)).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Takes items until none comes for a while; returns them in arrival order.
fn consume(q: Queue<(u32, u32)>) -> Vec<(u32, u32)> {
    let mut got = Vec::new();
    while let Ok(item) = q.get_timeout(Duration::from_millis(700)) {
        got.push(item);
    }
    got
}

/// Records every item it takes in `seen`, announces each on `progress`, and waits for more.
fn consume_slowly(q: Queue<u32>, seen: RawArray<u8>, progress: Semaphore) {
    loop {
        let item = q.get().expect("get");
        seen.set(item as usize, 1).expect("in range");
        progress.release();
    }
}

fn hold_lock(lock: Lock, held: Event) {
    let guard = lock.acquire().expect("acquire");
    held.set();
    std::thread::sleep(Duration::from_secs(600));
    drop(guard);
}

fn hold_rlock(lock: RLock, held: Event) {
    let outer = lock.acquire().expect("acquire");
    let inner = lock.acquire().expect("re-enter");
    held.set();
    std::thread::sleep(Duration::from_secs(600));
    drop((inner, outer));
}

fn lockstep(barrier: Barrier, passes: Queue<u32>, rounds: u32) -> Result<(), String> {
    for i in 0..rounds {
        barrier.wait_timeout(LONG).map_err(|e| e.to_string())?;
        passes.put(i).map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn bounded_worker(sem: BoundedSemaphore, inside: Value<u32>, most: Value<u32>) {
    for _ in 0..20 {
        let _permit = sem.acquire();
        let now = inside.update(|n| n + 1);
        most.update(|m| m.max(now));
        std::thread::yield_now();
        inside.update(|n| n - 1);
    }
}

fn wait_for_notify(cond: Condition, ready: Event, go: Event) -> bool {
    let mut guard = cond.acquire().expect("acquire");
    ready.set();
    let notified = cond.wait_timeout(&mut guard, LONG);
    drop(guard);
    go.wait_timeout(LONG) && notified
}

fn task_worker(q: JoinableQueue<u32>, total: Value<u64>) {
    while let Ok(item) = q.get_timeout(Duration::from_millis(500)) {
        total.update(|t| t + u64::from(item));
        q.task_done().expect("one task_done per item");
    }
}

fn count_up(counter: Value<u64>, times: u32) {
    for _ in 0..times {
        counter.update(|c| c + 1);
    }
}

fn put_one(q: JoinableQueue<Vec<u8>>, item: Vec<u8>) -> Result<(), String> {
    q.put(item).map_err(|e| e.to_string())
}

/// Waits until `condition` holds; fails naming `what` after [`LONG`].
fn wait_until(what: &str, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + LONG;
    while !condition() {
        assert!(Instant::now() < deadline, "{what}: not within {LONG:?}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn started<F: procvisor::runtime::Target<A>, A: serde::Serialize>(f: F, args: A) -> Process {
    let mut p = Process::new(f, args).expect("registered");
    p.start().expect("start");
    p
}

const LONG: Duration = Duration::from_secs(30);

fn exit_codes() {
    step("success");
    let mut p = started(succeed, ());
    let pid: u32 = p.result_timeout(LONG).unwrap();
    assert_eq!((Some(pid), p.exitcode()), (p.pid(), Some(0)));

    step("returned error");
    let mut p = started(fail, ());
    let err = p.result_timeout::<()>(LONG).unwrap_err();
    assert_eq!(p.exitcode(), Some(1));
    let failure = err.failure().expect("a reported failure");
    assert_eq!(
        (failure.kind(), failure.message()),
        (FailureKind::Error, "it went wrong")
    );

    step("panic");
    let mut p = started(explode, ());
    let err = p.result_timeout::<()>(LONG).unwrap_err();
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
    p.join_timeout(LONG).unwrap();
    assert_eq!(p.exitcode(), Some(3));
    assert!(matches!(
        p.result::<()>(),
        Err(ProcessError::Failed {
            reason: ExitReason::Code(3),
            failure: None,
            ..
        })
    ));

    step("std::process::exit(7) in the target");
    let mut p = started(exit_directly, ());
    assert!(matches!(
        p.result_timeout::<()>(LONG),
        Err(ProcessError::Failed {
            reason: ExitReason::Code(7),
            failure: None,
            ..
        })
    ));

    step("stack overflow");
    let mut p = started(overflow_the_stack, ());
    let err = p.result_timeout::<u64>(LONG).unwrap_err();
    assert!(
        matches!(p.exit_reason(), Some(ExitReason::Signal(_))),
        "{err}"
    );
    let failure = err.failure().expect("the overflow is reported");
    assert_eq!(failure.kind(), FailureKind::StackOverflow, "{err}");
    assert!(err.to_string().contains("overflowed its stack"), "{err}");

    step("abort");
    let mut p = started(abort, ());
    p.join_timeout(LONG).unwrap();
    assert_eq!(p.exitcode(), Some(-libc::SIGABRT));

    for (signal, send) in [
        (libc::SIGTERM, Process::terminate as fn(&Process) -> _),
        (libc::SIGKILL, Process::kill),
        (libc::SIGINT, Process::interrupt),
    ] {
        step(&format!("signal {signal}"));
        let mut p = started(sleep_ms, (60_000_u64,));
        send(&p).unwrap();
        p.join_timeout(LONG).unwrap();
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
    let err = p.join_timeout(Duration::from_millis(50)).unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert!(start.elapsed() >= Duration::from_millis(45));
    assert!(p.join_timeout(Duration::ZERO).unwrap_err().is_timeout());
    p.terminate().unwrap();
    step("join after terminate");
    p.join().unwrap();
    assert!(!p.is_alive());
    p.join().expect("joining twice is fine");
    assert_eq!(p.exitcode(), Some(-libc::SIGTERM));
}

fn names() {
    step("default name and parent");
    let mut p = started(whoami, ());
    let (name, parent_pid, parent_name, ident) = p
        .result_timeout::<(String, u32, String, Vec<u32>)>(LONG)
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
        .result_timeout::<(String, u32, String, Vec<u32>)>(LONG)
        .unwrap();
    assert_eq!(name, "SomeProcess");

    step("active_children");
    assert!(active_children().is_empty(), "{:?}", active_children());
    let mut p = started(sleep_ms, (60_000_u64,));
    assert_eq!(active_children(), vec![(p.name(), p.pid().unwrap())]);
    p.kill().unwrap();
    p.join().unwrap();
    assert!(active_children().is_empty());
    assert_eq!(current_process().name(), "MainProcess");
    assert!(parent_process().is_none());
}

fn grandchild() {
    step("a child that starts a child");
    let mut p = started(start_grandchild, ());
    let (grandchild_name, grandchild_parent, child_pid) =
        p.result_timeout::<(String, u32, u32)>(LONG).unwrap();
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
    started(succeed, ()).join_timeout(LONG).unwrap();
    let baseline = open_fds();
    step("start 100");
    let mut processes: Vec<Process> = (0..100).map(|_| started(succeed, ())).collect();
    step("join 100");
    for p in &mut processes {
        p.join_timeout(LONG).unwrap();
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
    assert!(matches!(p.join(), Err(ProcessError::NotStarted)));
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
    p.join_timeout(LONG).unwrap();
    p.close().unwrap();
    p.close().expect("closing twice is fine");
    assert!(matches!(p.join(), Err(ProcessError::Closed)));
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
        assert_eq!(p.result_timeout::<i32>(LONG).unwrap(), 42);
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
        p.result_timeout::<String>(LONG),
        Err(ProcessError::WrongResultType { .. })
    ));
    step("a connection argument");
    let (mut here, there) = pipe(true).unwrap();
    let mut p = started(echo_over, (there,));
    here.send(&"shout").unwrap();
    assert_eq!(here.recv_timeout::<String>(LONG).unwrap(), "SHOUT");
    p.result_timeout::<()>(LONG).unwrap();
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
    assert!(wait_timeout(&objects, Duration::ZERO).unwrap().is_empty());
    step("wait for the sentinel");
    assert_eq!(wait_timeout(&objects, LONG).unwrap(), vec![1]);
    p.join_timeout(LONG).unwrap();
}

fn daemon() {
    let mut p = Process::new(try_to_start_a_child, ())
        .unwrap()
        .with_daemon(true);
    assert!(p.daemon());
    p.start().unwrap();
    let err = p.result_timeout::<()>(LONG).unwrap_err();
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
    assert_eq!(p.result_timeout::<usize>(LONG).unwrap(), 0);
}

fn logging() {
    assert!(procvisor::log_to_stderr(tracing::Level::INFO));
    let mut p = started(log_something, ());
    p.result_timeout::<()>(LONG).unwrap();
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
            tokio::time::timeout(Duration::from_millis(30), p.join_async())
                .await
                .is_err(),
            "the sleeper is still running"
        );
        p.kill().unwrap();
        p.join_async().await.unwrap();
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
            .result_timeout::<u32>(LONG)
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

fn queue_many_to_many() {
    // A small ring so producers block on consumers and the ring wraps often.
    let q: Queue<(u32, u32)> = Queue::with_capacity(16, 4096).unwrap();
    step("start 3 producers and 2 consumers");
    let producers: Vec<Process> = (0..3)
        .map(|p| started(produce, (q.clone(), p, 3000_u32)))
        .collect();
    let mut consumers: Vec<Process> = (0..2).map(|_| started(consume, (q.clone(),))).collect();
    for mut p in producers {
        p.result_timeout::<()>(LONG).unwrap();
    }
    step("collect what each consumer got");
    let mut all = Vec::new();
    for c in &mut consumers {
        let got: Vec<(u32, u32)> = c.result_timeout(LONG).unwrap();
        for p in 0..3 {
            let mine: Vec<u32> = got
                .iter()
                .filter(|(q, _)| *q == p)
                .map(|(_, i)| *i)
                .collect();
            assert!(
                mine.windows(2).all(|w| w[0] < w[1]),
                "producer {p}'s items out of order"
            );
        }
        all.extend(got);
    }
    all.sort_unstable();
    let expected: Vec<(u32, u32)> = (0..3)
        .flat_map(|p| (0..3000).map(move |i| (p, i)))
        .collect();
    assert_eq!(all.len(), expected.len(), "items lost or duplicated");
    assert!(all == expected);
    assert!(q.empty());
}

fn queue_consumer_killed() {
    let q: Queue<u32> = Queue::new(0).unwrap();
    let seen = RawArray::new(&[0_u8; 100]).unwrap();
    let progress = Semaphore::new(0).unwrap();
    let mut first = started(consume_slowly, (q.clone(), seen.clone(), progress.clone()));
    for i in 0..50 {
        q.put(i).unwrap();
    }
    step("the first consumer takes all 50");
    for _ in 0..50 {
        progress.acquire_timeout(LONG).expect("progress").leak();
    }
    // It now waits for more, holding the consumer lock: kill it there.
    step("kill the first consumer while it waits");
    first.kill().unwrap();
    first.join_timeout(LONG).unwrap();
    for i in 50..100 {
        q.put(i).unwrap();
    }
    step("a second consumer takes over the consumer lock and gets the rest");
    let mut second = started(consume_slowly, (q.clone(), seen.clone(), progress.clone()));
    for _ in 50..100 {
        progress
            .acquire_timeout(LONG)
            .expect("the second consumer made progress")
            .leak();
    }
    second.kill().unwrap();
    second.join_timeout(LONG).unwrap();
    assert_eq!(seen.to_vec(), vec![1; 100], "every item delivered");
    assert!(q.empty(), "and none twice");
}

fn queue_producer_killed() {
    step("fill the ring: four items of 1000 bytes (1016 with their header) in 4 KiB");
    let q: JoinableQueue<Vec<u8>> = JoinableQueue::with_capacity(5, 4096).unwrap();
    let mut n = 0_u8;
    while q.put_nowait(vec![n; 1000]).is_ok() {
        n += 1;
    }
    assert_eq!((n, q.qsize()), (4, 4));
    step("a child puts a fifth: it reserves its slot and waits for room in the ring");
    let mut child = started(put_one, (q.clone(), vec![99_u8; 1000]));
    wait_until("the child reserved its slot", || q.qsize() == 5);
    assert!(q.full());
    step("kill it while it waits");
    child.kill().unwrap();
    child.join_timeout(LONG).unwrap();
    step("the counts forget its item");
    assert_eq!(q.qsize(), 4);
    assert!(!q.full());
    step("take them, in order");
    for i in 0..4 {
        assert_eq!(q.get_timeout(LONG).unwrap(), vec![i; 1000]);
    }
    assert!(q.get_nowait().unwrap_err().is_empty());
    assert_eq!(q.qsize(), 0);
    step("its slot is free again: five small items fit, a sixth does not");
    for i in 4..9 {
        q.put_nowait(vec![i]).expect("room for maxsize items");
    }
    assert!(q.full());
    assert!(q.put_nowait(vec![9]).unwrap_err().is_full());
    for i in 4..9 {
        assert_eq!(q.get_timeout(LONG).unwrap(), vec![i]);
    }
    step("join returns once the nine items put are done");
    for _ in 0..8 {
        q.task_done().unwrap();
    }
    assert!(!q.join_timeout(Duration::ZERO));
    q.task_done().unwrap();
    assert!(q.join_timeout(LONG));
    assert!(
        q.task_done().is_err(),
        "the dead child's item was never put"
    );

    step("a child blocked at maxsize holds the producer lock: killed there, puts go on");
    let q: JoinableQueue<Vec<u8>> = JoinableQueue::with_capacity(1, 4096).unwrap();
    q.put(vec![1]).unwrap();
    let mut child = started(put_one, (q.clone(), vec![2]));
    wait_until("the child waits for room", || {
        q.put_nowait(vec![3]).is_err_and(|e| e.is_full())
    });
    child.kill().unwrap();
    child.join_timeout(LONG).unwrap();
    assert_eq!(q.get_timeout(LONG).unwrap(), vec![1]);
    q.put_timeout(vec![3], LONG).unwrap();
    assert_eq!(q.get_timeout(LONG).unwrap(), vec![3]);
    assert_eq!(q.qsize(), 0);
}

fn queue_producer_killed_mid_message() {
    // 256 KiB through a 4 KiB ring: the child streams it in fragments while someone reads.
    let big = vec![7_u8; 256 << 10];
    let q: JoinableQueue<Vec<u8>> = JoinableQueue::with_capacity(0, 4096).unwrap();
    step("nobody reads: the child fills the ring with the item's first fragment and waits");
    let mut child = started(put_one, (q.clone(), big.clone()));
    wait_until("the child counted its item", || {
        !q.join_timeout(Duration::ZERO)
    });
    // It counts its item just before its first fragment goes out. Killed before that, it
    // leaves nothing in the ring and what follows holds all the same; the pause makes the kill
    // land after it, in the case this step is about.
    std::thread::sleep(Duration::from_millis(20));
    step("kill it in the middle of its item");
    child.kill().unwrap();
    child.join_timeout(LONG).unwrap();
    step("a timed get drops the part it reads and times out, with no other producer");
    let start = Instant::now();
    assert!(
        q.get_timeout(Duration::from_millis(500))
            .unwrap_err()
            .is_empty()
    );
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(q.qsize(), 0);
    assert!(
        q.join_timeout(Duration::ZERO),
        "the killed put counts for nothing"
    );
    step("the queue works after");
    q.put(vec![1, 2, 3]).unwrap();
    assert_eq!(q.get_timeout(LONG).unwrap(), vec![1, 2, 3]);
    q.task_done().unwrap();
    assert!(q.join_timeout(Duration::ZERO));

    step("a consumer in the middle of reading the item when its producer is killed");
    let mut child = started(put_one, (q.clone(), vec![7_u8; 4 << 20]));
    wait_until("the child counted its item", || {
        !q.join_timeout(Duration::ZERO)
    });
    // The reader takes the fragments out as the child writes them, and is waiting for the
    // next one (whether or not it started before the kill) when it finds the child dead.
    let reader = {
        let q = q.clone();
        std::thread::spawn(move || {
            let start = Instant::now();
            (q.get_timeout(Duration::from_secs(1)), start.elapsed())
        })
    };
    child.kill().unwrap();
    child.join_timeout(LONG).unwrap();
    let deadline = Instant::now() + LONG;
    while !reader.is_finished() {
        assert!(Instant::now() < deadline, "the reader waits for ever");
        std::thread::sleep(Duration::from_millis(5));
    }
    let (got, waited) = reader.join().unwrap();
    match got {
        Err(e) => assert!(e.is_empty(), "{e}"),
        // The child may have finished before the kill: then the item is whole.
        Ok(item) => {
            assert!(item.len() == 4 << 20 && item.iter().all(|&b| b == 7));
            q.task_done().unwrap();
        }
    }
    assert!(waited < Duration::from_secs(10), "{waited:?}");
    assert_eq!(q.qsize(), 0);
    assert!(q.join_timeout(Duration::ZERO));
    q.put(vec![4]).unwrap();
    assert_eq!(q.get_timeout(LONG).unwrap(), vec![4]);
}

fn lock_holder_killed() {
    for reentrant in [false, true] {
        step(if reentrant {
            "RLock holder"
        } else {
            "Lock holder"
        });
        let held = Event::new().unwrap();
        let (lock, rlock) = (Lock::new().unwrap(), RLock::new().unwrap());
        let mut holder = if reentrant {
            started(hold_rlock, (rlock.clone(), held.clone()))
        } else {
            started(hold_lock, (lock.clone(), held.clone()))
        };
        assert!(held.wait_timeout(LONG), "the holder took the lock");
        assert!(lock.try_acquire().is_err() || reentrant);
        holder.kill().unwrap();
        holder.join_timeout(LONG).unwrap();
        step("the next acquirer recovers it");
        let start = Instant::now();
        if reentrant {
            let guard = rlock
                .acquire_timeout(Duration::from_secs(10))
                .expect("recovered");
            assert!(guard.previous_owner_died());
            assert_eq!(rlock.level(), 1);
        } else {
            let guard = lock
                .acquire_timeout(Duration::from_secs(10))
                .expect("recovered");
            assert!(guard.previous_owner_died());
            drop(guard);
            let again = lock.acquire().unwrap();
            assert!(
                !again.previous_owner_died(),
                "only the first acquisition after the death says so"
            );
        }
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "recovered in {:?}",
            start.elapsed()
        );
    }
}

fn barrier_lockstep() {
    let barrier = Barrier::new(5, None, None).unwrap();
    let passes: Queue<u32> = Queue::new(0).unwrap();
    let mut parties: Vec<Process> = (0..5)
        .map(|_| started(lockstep, (barrier.clone(), passes.clone(), 100_u32)))
        .collect();
    step("collect 500 passes");
    let order: Vec<u32> = (0..500)
        .map(|_| passes.get_timeout(LONG).unwrap())
        .collect();
    assert!(
        order.windows(2).all(|w| w[0] <= w[1]),
        "all five copies of a pass before the next pass"
    );
    for p in &mut parties {
        p.result_timeout::<()>(LONG).unwrap();
    }
    assert_eq!((barrier.n_waiting(), barrier.broken()), (0, false));
}

fn semaphore_bound() {
    let sem = BoundedSemaphore::new(2).unwrap();
    let (inside, most) = (Value::new(0_u32).unwrap(), Value::new(0_u32).unwrap());
    let mut workers: Vec<Process> = (0..6)
        .map(|_| started(bounded_worker, (sem.clone(), inside.clone(), most.clone())))
        .collect();
    for w in &mut workers {
        w.result_timeout::<()>(LONG).unwrap();
    }
    assert!(
        most.get() <= 2,
        "at most two inside at once, saw {}",
        most.get()
    );
    assert_eq!((inside.get(), sem.value()), (0, 2));
}

fn condition_and_event() {
    let cond = Condition::new().unwrap();
    let (ready, go) = (Event::new().unwrap(), Event::new().unwrap());
    let mut waiter = started(wait_for_notify, (cond.clone(), ready.clone(), go.clone()));
    assert!(ready.wait_timeout(LONG));
    step("notify the waiting child");
    let guard = cond.acquire().unwrap();
    cond.notify(&guard, 1);
    drop(guard);
    go.set();
    assert!(
        waiter.result_timeout::<bool>(LONG).unwrap(),
        "the child was notified and saw the event"
    );
}

fn joinable_and_counting() {
    let q: JoinableQueue<u32> = JoinableQueue::new(0).unwrap();
    let total = Value::new(0_u64).unwrap();
    let mut workers: Vec<Process> = (0..3)
        .map(|_| started(task_worker, (q.clone(), total.clone())))
        .collect();
    for i in 1..=300 {
        q.put(i).unwrap();
    }
    step("join the joinable queue");
    assert!(q.join_timeout(LONG));
    assert_eq!(
        total.get(),
        300 * 301 / 2,
        "join returned after every item was done"
    );
    for w in &mut workers {
        w.result_timeout::<()>(LONG).unwrap();
    }
    step("count under the value's lock from two processes");
    let counter = Value::new(0_u64).unwrap();
    let mut counters: Vec<Process> = (0..2)
        .map(|_| started(count_up, (counter.clone(), 10_000_u32)))
        .collect();
    for c in &mut counters {
        c.result_timeout::<()>(LONG).unwrap();
    }
    assert_eq!(counter.get(), 20_000);
}

fn shm_crash() {
    // Segments this process leaks by dying: the tracker must unlink the tracked ones.
    let tracked = procvisor::SharedMemory::create(4096).unwrap();
    let list =
        procvisor::ShareableList::new(&[procvisor::object!(1), procvisor::object!("x")]).unwrap();
    let untracked = procvisor::SharedMemory::create(4096).unwrap().track(false);
    println!("TRACKED {}", tracked.name());
    println!("TRACKED {}", list.shm().name());
    println!("UNTRACKED {}", untracked.name());
    println!("READY");
    std::thread::sleep(Duration::from_secs(600));
}

/// Serves a manager on ADDRESS with AUTHKEY until killed (for the partition test, which runs it
/// in a network namespace of its own).
fn manager_server(address: &str, authkey: &str) -> ! {
    let address: procvisor::Address = address.parse().expect("an address");
    let server = procvisor::ManagerServer::bind(Some(address), authkey.as_bytes()).unwrap();
    println!("READY {}", server.address());
    server.serve_forever();
    std::process::exit(0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args[1] == "manager_server" {
        manager_server(&args[2], &args[3]);
    }
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
        "queue_many_to_many" => queue_many_to_many(),
        "queue_consumer_killed" => queue_consumer_killed(),
        "lock_holder_killed" => lock_holder_killed(),
        "queue_producer_killed" => queue_producer_killed(),
        "queue_producer_killed_mid_message" => queue_producer_killed_mid_message(),
        "barrier_lockstep" => barrier_lockstep(),
        "semaphore_bound" => semaphore_bound(),
        "condition_and_event" => condition_and_event(),
        "joinable_and_counting" => joinable_and_counting(),
        "shm_crash" => shm_crash(),
        other => panic!("unknown scenario {other}"),
    }
    println!("PASS");
}
