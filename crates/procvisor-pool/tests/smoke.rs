use procvisor_pool::Pool;

fn square(x: i64) -> i64 {
    x * x
}
procvisor_runtime::register!(square);

#[test]
fn smoke() {
    let pool = Pool::new(2).unwrap();
    assert_eq!(pool.map(square, [1, 2, 3]).unwrap(), vec![1, 4, 9]);
    assert_eq!(pool.apply(square, (7,)).unwrap(), 49);
    let v: Vec<i64> = pool
        .imap(square, 0..10)
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(v, (0..10).map(|x| x * x).collect::<Vec<_>>());
    eprintln!("{:?}", pool.stats());
}
