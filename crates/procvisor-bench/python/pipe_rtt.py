"""pipe_rtt in Python: round trips of [42, None, 'hello'] over multiprocessing.Pipe (fork)."""
import multiprocessing as mp
import sys
import time


def echo(conn, n):
    for _ in range(n):
        conn.send(conn.recv())


def main():
    n, warmup = int(sys.argv[1]), int(sys.argv[2])
    ctx = mp.get_context("fork")
    a, b = ctx.Pipe()
    p = ctx.Process(target=echo, args=(b, n + warmup))
    p.start()
    msg = [42, None, "hello"]
    for _ in range(warmup):
        a.send(msg)
        a.recv()
    start = time.perf_counter()
    for _ in range(n):
        a.send(msg)
        a.recv()
    elapsed = time.perf_counter() - start
    p.join()
    print("RESULT", elapsed, n)


if __name__ == "__main__":
    main()
