"""scale_pool_start in Python: Pool(N) (forkserver, procvisor's default method) until every
worker has answered once (N tasks held at a barrier), then RSS and PSS of each idle worker."""
import multiprocessing as mp
import os
import sys
import time

barrier = None


def init(b):
    global barrier
    barrier = b


def meet():
    barrier.wait(60)
    return os.getpid()


def memory(pid):
    """(RSS, PSS) of process pid in bytes, from /proc/PID/smaps_rollup."""
    fields = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            name, _, rest = line.partition(":")
            if name in ("Rss", "Pss"):
                fields[name] = int(rest.split()[0]) * 1024
    return fields["Rss"], fields["Pss"]


def main():
    n = int(sys.argv[1])
    ctx = mp.get_context("forkserver")
    # Warm-up, untimed: this starts the forkserver.
    with ctx.Pool(1) as pool:
        pool.apply(os.getpid)
    b = ctx.Barrier(n)
    start = time.perf_counter()
    pool = ctx.Pool(n, initializer=init, initargs=(b,))
    pids = {r.get(60) for r in [pool.apply_async(meet) for _ in range(n)]}
    ready = time.perf_counter() - start
    assert len(pids) == n, f"{len(pids)} of {n} workers answered"
    mem = [memory(p.pid) for p in pool._pool]
    print("MEASURE ready", ready)
    print("MEASURE rss_per_worker", sum(m[0] for m in mem) / len(mem))
    print("MEASURE pss_per_worker", sum(m[1] for m in mem) / len(mem))
    sys.stdout.flush()
    pool.terminate()
    pool.join()


if __name__ == "__main__":
    main()
