"""pool_map in Python: Pool(2).map(x*x) over N ints with the default chunk size (fork)."""
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
        squares = pool.map(square, range(n))
        elapsed = time.perf_counter() - start
        assert squares[-1] == (n - 1) ** 2
    print("RESULT", elapsed, n)


if __name__ == "__main__":
    main()
