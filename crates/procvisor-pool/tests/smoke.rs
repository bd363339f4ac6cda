use procvisor_pool::{Pool, PoolError};
use std::time::Duration;

fn square(x: i64) -> i64 {
    x * x
}
fn sleepy(ms: u64) -> u32 {
    std::thread::sleep(Duration::from_millis(ms));
    std::process::id()
}
fn die(_: u8) {
    unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
}
fn boom(x: i64) -> i64 {
    if x == 3 {
        panic!("boom {x}")
    }
    x
}
procvisor_runtime::register!(square, sleepy, die, boom);

#[test]
fn smoke() {
    let pool = Pool::new(2).unwrap();
    assert_eq!(pool.map(square, [1, 2, 3]).unwrap(), vec![1, 4, 9]);
    let t = std::time::Instant::now();
    let r = pool.apply(die, (1,));
    eprintln!("{:?} after {:?}", r, t.elapsed());
    assert!(matches!(r, Err(PoolError::WorkerLost { .. })));
    eprintln!("{}", r.unwrap_err());
    let r = pool.map(boom, 0..5);
    eprintln!("{}", r.unwrap_err());
    let slow = pool.apply_async(sleepy, (300,)).unwrap();
    let quick: Vec<_> = (0..10)
        .map(|_| pool.apply_async(sleepy, (1,)).unwrap())
        .collect();
    for q in quick {
        q.get(Some(Duration::from_secs(5))).unwrap();
    }
    slow.get(None).unwrap();
    let r = pool
        .tasks()
        .timeout(Duration::from_millis(100))
        .apply(sleepy, (5000,));
    eprintln!("{}", r.unwrap_err());
    eprintln!("{:?}", pool.stats());
}
