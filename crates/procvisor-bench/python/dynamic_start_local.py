"""dynamic_start_local in Python: start N threads, each serving a queue of its own, and ask each
once; all stay alive until the last has answered (Python has no actors or supervisors: a thread
with a queue is its closest in-process equivalent)."""
import queue
import sys
import threading
import time


def serve(n, requests, replies):
    while requests.get() is not None:
        replies.put(n)


def main():
    n = int(sys.argv[1])
    replies = queue.SimpleQueue()
    workers = []
    start = time.perf_counter()
    for i in range(n):
        requests = queue.SimpleQueue()
        t = threading.Thread(target=serve, args=(i, requests, replies))
        t.start()
        requests.put(())
        assert replies.get() == i
        workers.append((t, requests))
    elapsed = time.perf_counter() - start
    for _, requests in workers:
        requests.put(None)
    for t, _ in workers:
        t.join()
    print("RESULT", elapsed, n)


if __name__ == "__main__":
    main()
