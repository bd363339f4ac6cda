"""restart in Python: a hand-written supervisor. Kill a child that answers on a Pipe, wait on
its sentinel, start a new one, and time until the new one answers (Python has no supervisor)."""
import multiprocessing as mp
import multiprocessing.connection
import os
import signal
import sys
import time


def echo(conn):
    while True:
        conn.send((conn.recv(), os.getpid()))


def start(ctx):
    parent, child = ctx.Pipe()
    p = ctx.Process(target=echo, args=(child,))
    p.start()
    parent.send(None)
    parent.recv()
    return p, parent


def main():
    kills = int(sys.argv[1])
    ctx = mp.get_context("forkserver")
    p, conn = start(ctx)
    total = 0.0
    for _ in range(kills):
        t0 = time.perf_counter()
        os.kill(p.pid, signal.SIGKILL)
        multiprocessing.connection.wait([p.sentinel])
        p.join()
        p, conn = start(ctx)
        total += time.perf_counter() - t0
    p.kill()
    p.join()
    print("RESULT", total, kills)


if __name__ == "__main__":
    main()
