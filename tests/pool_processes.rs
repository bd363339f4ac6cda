//! The pool under every start method (its workers forked, spawned, or forked by the server),
//! run by the `pool_scenarios` helper binary so that the test process itself never forks.

use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(120);

procvisor_suite::scenario_matrix!(env!("CARGO_BIN_EXE_pool_scenarios"), DEADLINE; basics, forked_child, nested_pool);

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| !stat.rsplit(") ").next().unwrap_or("").starts_with('Z'))
}

#[test]
fn a_pool_alive_at_exit_does_not_hold_the_program_and_its_workers_go() {
    for method in ["fork", "spawn", "forkserver"] {
        let finished = procvisor_suite::scenario(
            env!("CARGO_BIN_EXE_pool_scenarios"),
            "pool_at_exit",
            method,
            DEADLINE,
        );
        let pids: Vec<u32> = finished
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix("WORKERS "))
            .expect("the scenario names its workers")
            .split(' ')
            .map(|p| p.parse().unwrap())
            .collect();
        let deadline = Instant::now() + Duration::from_secs(10);
        while pids.iter().any(|&p| alive(p)) {
            assert!(
                Instant::now() < deadline,
                "{method}: workers {pids:?} outlived the program"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
