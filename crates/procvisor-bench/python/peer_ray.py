"""The pool workloads on Ray's ray.util.multiprocessing.Pool (2 processes on a local Ray
cluster of 2 CPUs, started before the timing)."""
import ray
from ray.util.multiprocessing import Pool

from peer_common import run, square, submit_then_get, timed_map, unordered_sum


def pool():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    p = Pool(processes=2)
    p.map(square, range(100))
    return p


def pool_map(n):
    with pool() as p:
        timed_map(lambda items, chunks: p.map(square, items, chunksize=chunks), n)


def pool_apply_async(n):
    with pool() as p:
        submit_then_get(lambda i: p.apply_async(square, (i,)), lambda r: r.get(), n)


def pool_imap_unordered_c1(n):
    with pool() as p:
        unordered_sum(lambda items: p.imap_unordered(square, items, chunksize=1), n)


if __name__ == "__main__":
    run({f.__name__: f for f in (pool_map, pool_apply_async, pool_imap_unordered_c1)})
