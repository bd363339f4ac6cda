"""value_lock in Python: 2 processes x N locked increments of a shared Value (fork)."""
import multiprocessing as mp
import sys
import time


def increment(v, go, n):
    go.wait()
    for _ in range(n):
        with v.get_lock():
            v.value += 1


def main():
    n = int(sys.argv[1])
    ctx = mp.get_context("fork")
    v = ctx.Value("q", 0)
    go = ctx.Event()
    workers = [ctx.Process(target=increment, args=(v, go, n)) for _ in range(2)]
    for w in workers:
        w.start()
    time.sleep(0.05)
    start = time.perf_counter()
    go.set()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - start
    assert v.value == 2 * n, v.value
    print("RESULT", elapsed, 2 * n)


if __name__ == "__main__":
    main()
