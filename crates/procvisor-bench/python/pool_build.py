"""supervised_pool_restart in Python: build a Pool(N) (forkserver, procvisor's default method) and
apply once, K times; terminating each pool is not timed (Python has no supervisors: a restart by
hand is a new pool)."""
import multiprocessing as mp
import sys
import time


def square(x):
    return x * x


def main():
    processes, k = int(sys.argv[1]), int(sys.argv[2])
    ctx = mp.get_context("forkserver")
    # Warm-up: this starts the server.
    with ctx.Pool(processes) as pool:
        assert pool.apply(square, (7,)) == 49
    total = 0.0
    for _ in range(k):
        start = time.perf_counter()
        pool = ctx.Pool(processes)
        assert pool.apply(square, (7,)) == 49
        total += time.perf_counter() - start
        pool.terminate()
        pool.join()
    print("RESULT", total, k)


if __name__ == "__main__":
    main()
