"""manager_dict in Python: N writes d[i % 1000] = i to a multiprocessing.Manager() dict proxy."""
import multiprocessing as mp
import sys
import time

KEYS = 1000


def main():
    n, warmup = int(sys.argv[1]), int(sys.argv[2])
    with mp.Manager() as manager:
        d = manager.dict()
        for i in range(warmup):
            d[i % KEYS] = i
        start = time.perf_counter()
        for i in range(n):
            d[i % KEYS] = i
        elapsed = time.perf_counter() - start
        assert d[(n - 1) % KEYS] == n - 1
    print("RESULT", elapsed, n)


if __name__ == "__main__":
    main()
