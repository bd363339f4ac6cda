"""cluster_apply_async's Ray side: N apply_async of x*x through ray.util.multiprocessing.Pool
on this machine (a local Ray cluster), then every result."""
import sys
import time

from ray.util.multiprocessing import Pool


def square(x):
    return x * x


def main():
    n = int(sys.argv[1])
    with Pool(processes=2) as pool:
        pool.map(square, range(100))
        start = time.perf_counter()
        results = [pool.apply_async(square, (i,)) for i in range(n)]
        last = None
        for r in results:
            last = r.get()
        elapsed = time.perf_counter() - start
        assert last == (n - 1) * (n - 1)
    print("RESULT", elapsed, n)


if __name__ == "__main__":
    main()
