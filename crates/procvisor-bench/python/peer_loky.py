"""The pool workloads on loky's ProcessPoolExecutor (2 workers, fork: loky allows it with a
warning, silenced here); imap_unordered has no executor counterpart: submit and as_completed."""
import concurrent.futures
import warnings

from loky import ProcessPoolExecutor
from loky.backend.context import get_context

from peer_common import run, square, submit_then_get, timed_map, unordered_sum

warnings.filterwarnings("ignore")


def executor():
    ex = ProcessPoolExecutor(max_workers=2, context=get_context("fork"))
    list(ex.map(square, range(100)))
    return ex


def pool_map(n):
    with executor() as ex:
        timed_map(lambda items, chunks: list(ex.map(square, items, chunksize=chunks)), n)


def pool_apply_async(n):
    with executor() as ex:
        submit_then_get(lambda i: ex.submit(square, i), lambda f: f.result(), n)


def pool_imap_unordered_c1(n):
    with executor() as ex:
        unordered_sum(
            lambda items: (
                f.result()
                for f in concurrent.futures.as_completed([ex.submit(square, i) for i in items])
            ),
            n,
        )


if __name__ == "__main__":
    run({f.__name__: f for f in (pool_map, pool_apply_async, pool_imap_unordered_c1)})
