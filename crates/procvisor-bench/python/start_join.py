"""start_join_<method> in Python: start and join a trivial Process, N times."""
import multiprocessing as mp
import sys
import time


def noop():
    pass


def main():
    method, n = sys.argv[1], int(sys.argv[2])
    ctx = mp.get_context(method)
    # Warm-up: for forkserver this starts the server.
    p = ctx.Process(target=noop)
    p.start()
    p.join()
    start = time.perf_counter()
    for _ in range(n):
        p = ctx.Process(target=noop)
        p.start()
        p.join()
        assert p.exitcode == 0
    elapsed = time.perf_counter() - start
    print("RESULT", elapsed, n)


if __name__ == "__main__":
    main()
