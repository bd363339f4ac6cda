"""lock_uncontended in Python: acquire and release a multiprocessing.Lock N times."""
import multiprocessing as mp
import sys
import time


def main():
    n = int(sys.argv[1])
    lock = mp.get_context("fork").Lock()
    start = time.perf_counter()
    for _ in range(n):
        lock.acquire()
        lock.release()
    elapsed = time.perf_counter() - start
    print("RESULT", elapsed, n)


if __name__ == "__main__":
    main()
