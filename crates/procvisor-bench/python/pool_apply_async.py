"""pool_apply_async in Python: N apply_async(x*x) on Pool(2), then every get() (fork)."""
import multiprocessing as mp
import sys
import time


def square(x):
    return x * x


def main():
    n = int(sys.argv[1])
    with mp.get_context("fork").Pool(2) as pool:
        pool.map(square, range(100))
        start = time.perf_counter()
        results = [pool.apply_async(square, (i,)) for i in range(n)]
        last = None
        for result in results:
            last = result.get()
        elapsed = time.perf_counter() - start
        assert last == (n - 1) ** 2
    print("RESULT", elapsed, n)


if __name__ == "__main__":
    main()
