"""The pool workloads on pebble's ProcessPool (2 workers, fork); imap_unordered has no pebble
counterpart: schedule and as_completed."""
import concurrent.futures
import multiprocessing as mp

from pebble import ProcessPool

from peer_common import run, square, submit_then_get, timed_map, unordered_sum


def pool():
    p = ProcessPool(max_workers=2, context=mp.get_context("fork"))
    list(p.map(square, range(100)).result())
    return p


def pool_map(n):
    with pool() as p:
        timed_map(lambda items, chunks: list(p.map(square, items, chunksize=chunks).result()), n)


def pool_apply_async(n):
    with pool() as p:
        submit_then_get(lambda i: p.schedule(square, args=(i,)), lambda f: f.result(), n)


def pool_imap_unordered_c1(n):
    with pool() as p:
        unordered_sum(
            lambda items: (
                f.result()
                for f in concurrent.futures.as_completed(
                    [p.schedule(square, args=(i,)) for i in items]
                )
            ),
            n,
        )


if __name__ == "__main__":
    run({f.__name__: f for f in (pool_map, pool_apply_async, pool_imap_unordered_c1)})
