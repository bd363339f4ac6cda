"""dynamic_start_process in Python: start N forkserver Processes, each answering on a Pipe of its
own, and ask each once; all stay alive until the last has answered (Python has no supervisors:
this is starting them by hand)."""
import multiprocessing as mp
import sys
import time


def echo(n, conn):
    while conn.recv() is not None:
        conn.send(n)


def start(ctx, i):
    parent, child = ctx.Pipe()
    p = ctx.Process(target=echo, args=(i, child))
    p.start()
    child.close()
    parent.send(())
    assert parent.recv() == i
    return p, parent


def stop(p, conn):
    conn.send(None)
    p.join()


def main():
    n = int(sys.argv[1])
    ctx = mp.get_context("forkserver")
    # Warm-up: this starts the server.
    stop(*start(ctx, -1))
    begin = time.perf_counter()
    workers = [start(ctx, i) for i in range(n)]
    elapsed = time.perf_counter() - begin
    for p, conn in workers:
        stop(p, conn)
    print("RESULT", elapsed, n)


if __name__ == "__main__":
    main()
