"""queue_tput in Python: N ints from a producer process through multiprocessing.Queue (fork)."""
import multiprocessing as mp
import sys
import time


def produce(q, n):
    for i in range(n):
        q.put(i)


def main():
    n = int(sys.argv[1])
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=produce, args=(q, n))
    p.start()
    q.get()
    start = time.perf_counter()
    for expected in range(1, n):
        assert q.get() == expected
    elapsed = time.perf_counter() - start
    p.join()
    print("RESULT", elapsed, n - 1)


if __name__ == "__main__":
    main()
