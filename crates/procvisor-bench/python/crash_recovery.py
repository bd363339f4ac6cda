"""crash_recovery in Python: SIGKILL a Pool(2) worker in the middle of a task; time until the
pool has two live workers again. The killed task is never reported (gh-66587): the script
checks that its get() times out."""
import multiprocessing as mp
import os
import signal
import sys
import time

# Inherited by the workers (fork): where the hanging task says which worker runs it.
PID = None


def square(x):
    return x * x


def hang():
    PID.value = os.getpid()
    while True:
        time.sleep(1)


def main():
    global PID
    kills = int(sys.argv[1])
    ctx = mp.get_context("fork")
    PID = ctx.Value("i", 0)
    with ctx.Pool(2) as pool:
        pool.map(square, range(100))
        total = 0.0
        lost = []
        for _ in range(kills):
            PID.value = 0
            lost.append(pool.apply_async(hang))
            while PID.value == 0:
                time.sleep(0.0002)
            victim = PID.value
            start = time.perf_counter()
            os.kill(victim, signal.SIGKILL)
            while True:
                alive = [p for p in pool._pool if p.is_alive() and p.pid != victim]
                if len(alive) == 2:
                    break
                time.sleep(0.0001)
            total += time.perf_counter() - start
        for result in lost:
            try:
                result.get(timeout=0.1)
                raise SystemExit("a lost task was reported")
            except mp.TimeoutError:
                pass
        pool.terminate()
    print("RESULT", total, kills)


if __name__ == "__main__":
    main()
