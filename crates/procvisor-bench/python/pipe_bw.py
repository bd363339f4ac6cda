"""pipe_bw in Python: 1 MiB messages over multiprocessing.Pipe (fork), send_bytes/recv_bytes."""
import multiprocessing as mp
import sys
import time

CHUNK = 1 << 20


def sink(conn, chunks):
    total = 0
    for _ in range(chunks):
        total += len(conn.recv_bytes())
    assert total == chunks * CHUNK
    conn.send_bytes(b"k")


def main():
    chunks = int(sys.argv[1])
    ctx = mp.get_context("fork")
    a, b = ctx.Pipe()
    p = ctx.Process(target=sink, args=(b, chunks))
    p.start()
    data = b"\x5a" * CHUNK
    start = time.perf_counter()
    for _ in range(chunks):
        a.send_bytes(data)
    a.recv_bytes()
    elapsed = time.perf_counter() - start
    p.join()
    print("RESULT", elapsed, chunks)


if __name__ == "__main__":
    main()
