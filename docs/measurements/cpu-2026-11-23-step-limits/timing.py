"""The timing helpers of this directory's scripts (one thread, after warm-up calls)."""

import time


def once(f) -> float:
    """Seconds one call of f takes."""
    start = time.perf_counter()
    f()
    return time.perf_counter() - start


def median_ms(f, calls: int = 30, warmup: int = 5) -> float:
    """The median of `calls` timed calls of f after `warmup` untimed ones, in ms."""
    for _ in range(warmup):
        f()
    times = sorted(once(f) for _ in range(calls))
    return times[len(times) // 2] * 1e3
