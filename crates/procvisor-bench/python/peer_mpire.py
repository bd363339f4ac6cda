"""The pool workloads on mpire's WorkerPool (2 workers, fork, kept alive between calls)."""
from mpire import WorkerPool

from peer_common import run, square, submit_then_get, timed_map, unordered_sum


def pool():
    return WorkerPool(n_jobs=2, start_method="fork", keep_alive=True)


def pool_map(n):
    with pool() as p:
        p.map(square, range(100))
        timed_map(lambda items, chunks: p.map(square, items, chunk_size=chunks), n)


def pool_apply_async(n):
    with pool() as p:
        p.map(square, range(100))
        submit_then_get(lambda i: p.apply_async(square, (i,)), lambda r: r.get(), n)


def pool_imap_unordered_c1(n):
    with pool() as p:
        # Warmed up with chunks of one too: mpire 2.10's kept-alive workers fail a call with
        # chunks of one after a call with larger chunks.
        sum(p.imap_unordered(square, range(100), chunk_size=1))
        unordered_sum(lambda items: p.imap_unordered(square, items, chunk_size=1), n)


if __name__ == "__main__":
    run({f.__name__: f for f in (pool_map, pool_apply_async, pool_imap_unordered_c1)})
