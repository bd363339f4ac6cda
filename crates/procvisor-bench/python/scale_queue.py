"""scale_queue in Python: P producer processes (forkserver, procvisor's default method) each
put N ints into one multiprocessing.Queue; one consumer gets them all; items/s."""
import multiprocessing as mp
import sys
import time


def produce(q, ready, n):
    ready.wait(30)
    for i in range(n):
        q.put(i)


def main():
    producers = int(sys.argv[1])
    n = 500 if "--smoke" in sys.argv else 20_000
    ctx = mp.get_context("forkserver")
    q = ctx.Queue()
    ready = ctx.Barrier(producers + 1)
    procs = [ctx.Process(target=produce, args=(q, ready, n)) for _ in range(producers)]
    for p in procs:
        p.start()
    ready.wait(30)
    start = time.perf_counter()
    total = n * producers
    s = 0
    for _ in range(total):
        s += q.get(timeout=20)
    elapsed = time.perf_counter() - start
    for p in procs:
        p.join(20)
    assert s == producers * n * (n - 1) // 2, f"wrong sum {s}"
    print("MEASURE items_per_s", total / elapsed)


if __name__ == "__main__":
    main()
