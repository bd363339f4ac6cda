"""scale_manager in Python: C client processes (forkserver, procvisor's default method) each
set and get keys of their own in one Manager().dict(); the mean latency of one operation and
the throughput of all clients."""
import multiprocessing as mp
import sys
import time


def client(d, ready, base, ops, results):
    ready.wait(30)
    start = time.perf_counter()
    for i in range(ops // 2):
        key = base + i % 100
        d[key] = i
        assert d.get(key) == i
    results.put((time.perf_counter() - start) / (ops // 2 * 2))


def main():
    clients = int(sys.argv[1])
    ops = 100 if "--smoke" in sys.argv else 1000
    ctx = mp.get_context("forkserver")
    with ctx.Manager() as manager:
        d = manager.dict()
        ready = ctx.Barrier(clients + 1)
        results = ctx.Queue()
        procs = [
            ctx.Process(target=client, args=(d, ready, c * 1000, ops, results))
            for c in range(clients)
        ]
        for p in procs:
            p.start()
        ready.wait(30)
        start = time.perf_counter()
        latencies = [results.get(timeout=60) for _ in procs]
        elapsed = time.perf_counter() - start
        for p in procs:
            p.join(20)
    print("MEASURE op_latency", sum(latencies) / len(latencies))
    print("MEASURE ops_per_s", clients * (ops // 2 * 2) / elapsed)


if __name__ == "__main__":
    main()
