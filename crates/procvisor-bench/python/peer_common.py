"""What the peer scripts (peer_<library>.py) share: the task, Pool.map's chunk size, timing in
batches, the output the bench reads, and the submit-then-wait loops of the pool workloads.

Each peer script does exactly the Python side's work (python/pool_*.py): 2 workers, a warm-up
map of 100 items, then N items, timed. It prints `RESULT <seconds> <operations>` and, where
the operations are timed in batches, `LATENCIES <batch> <seconds of each batch>...`.
"""
import sys
import time

BATCH = 100


def square(x):
    return x * x


def chunksize(n, workers=2):
    """multiprocessing.Pool.map's default chunk size for n items on `workers` processes."""
    chunks, extra = divmod(n, workers * 4)
    return chunks + 1 if extra else chunks


class Timer:
    """Times the run, and every BATCH operations within it."""

    def __init__(self):
        self.count = 0
        self.times = []
        self.start = self.last = time.perf_counter()

    def tick(self):
        self.count += 1
        if self.count % BATCH == 0:
            now = time.perf_counter()
            self.times.append(now - self.last)
            self.last = now

    def report(self, n):
        elapsed = time.perf_counter() - self.start
        print("RESULT", elapsed, n)
        print("LATENCIES", BATCH, *self.times)


def timed_map(map_list, n):
    """pool_map: one map over n items with Pool.map's chunk size; map_list returns a list."""
    start = time.perf_counter()
    squares = map_list(range(n), chunksize(n))
    elapsed = time.perf_counter() - start
    assert squares[-1] == (n - 1) ** 2
    print("RESULT", elapsed, n)


def submit_then_get(submit, get, n):
    """pool_apply_async: n submits, then every result in order."""
    timer = Timer()
    handles = [submit(i) for i in range(n)]
    last = None
    for handle in handles:
        last = get(handle)
        timer.tick()
    timer.report(n)
    assert last == (n - 1) ** 2


def unordered_sum(results, n):
    """pool_imap_unordered_c1: n results as they come, chunk size 1, summed."""
    timer = Timer()
    total = 0
    for value in results(range(n)):
        total += value
        timer.tick()
    timer.report(n)
    assert total == sum(x * x for x in range(n))


def run(workloads):
    """Runs workloads[argv[1]](n) with n = argv[2]."""
    name, n = sys.argv[1], int(sys.argv[2])
    if name not in workloads:
        sys.exit(f"no {name} workload here; known: {', '.join(workloads)}")
    workloads[name](n)
