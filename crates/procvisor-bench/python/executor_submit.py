"""executor_submit in Python: N submit(x*x) on ProcessPoolExecutor(2), then every result() (fork)."""
import concurrent.futures as cf
import multiprocessing as mp
import sys
import time


def square(x):
    return x * x


def main():
    n = int(sys.argv[1])
    with cf.ProcessPoolExecutor(2, mp_context=mp.get_context("fork")) as executor:
        list(executor.map(square, range(100)))
        start = time.perf_counter()
        futures = [executor.submit(square, i) for i in range(n)]
        last = None
        for future in futures:
            last = future.result()
        elapsed = time.perf_counter() - start
        assert last == (n - 1) ** 2
    print("RESULT", elapsed, n)


if __name__ == "__main__":
    main()
