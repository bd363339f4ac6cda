//! Queues, locks and shared state across real processes, under every start method: exactly-once
//! delivery with many producers and consumers, a consumer killed while it held the consumer
//! lock, lock holders killed inside their section, barriers in lockstep, bounded semaphores.

const DEADLINE: std::time::Duration = std::time::Duration::from_secs(120);

procvisor_suite::scenario_matrix!(DEADLINE;
    queue_many_to_many,
    queue_consumer_killed,
    lock_holder_killed,
    barrier_lockstep,
    semaphore_bound,
    condition_and_event,
    joinable_and_counting,
);
