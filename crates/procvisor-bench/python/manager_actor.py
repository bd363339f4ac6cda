"""manager_actor in Python: N calls to a method of a class registered with a BaseManager."""
from multiprocessing.managers import BaseManager
import sys
import time


class Counter:
    def __init__(self):
        self.total = 0

    def add(self, n):
        self.total += n
        return self.total


class CounterManager(BaseManager):
    pass


CounterManager.register("Counter", Counter)


def main():
    n, warmup = int(sys.argv[1]), int(sys.argv[2])
    with CounterManager() as manager:
        counter = manager.Counter()
        for _ in range(warmup):
            counter.add(1)
        start = time.perf_counter()
        for _ in range(n):
            counter.add(1)
        elapsed = time.perf_counter() - start
        assert counter.add(0) == n + warmup
    print("RESULT", elapsed, n)


if __name__ == "__main__":
    main()
