//! Side-by-side benchmarks of procvisor against Python multiprocessing (workloads arrive with their features).

fn main() {}
