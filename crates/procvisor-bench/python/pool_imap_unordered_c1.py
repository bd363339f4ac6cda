"""pool_imap_unordered_c1 in Python: Pool(2).imap_unordered(x*x) over N ints, chunksize 1 (fork)."""
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
        total = 0
        for value in pool.imap_unordered(square, range(n)):
            total += value
        elapsed = time.perf_counter() - start
        assert total == sum(x * x for x in range(n))
    print("RESULT", elapsed, n)


if __name__ == "__main__":
    main()
