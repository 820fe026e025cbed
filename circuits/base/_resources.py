"""The machine's resources: how many threads to give torch, and how much memory is free.

Thread policy (every command and the long Python entry points use it). Torch's default (one
thread per core) is a little faster on an idle machine, but a thread that waits for a busy
core slows every operation down (measured here: 1.3x slower with one of two cores busy, 2.9x
on a loaded machine). So unless the user says how many, a computation gets the cores that are
free *now* (the cores this process may use, minus the other work running at this moment,
measured over a twentieth of a second from ``/proc/stat``), shared among its parallel workers,
and never fewer than one thread. The kernels give the same numbers whatever the thread count.
"""

from __future__ import annotations

import contextlib
import os
import time

import torch

from ._errors import require_int


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, else ``os.cpu_count()``)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _cpu_times() -> tuple[float, float] | None:
    """``(busy, total)`` jiffies of all CPUs from ``/proc/stat`` (``None`` where there is none)."""
    try:
        with open("/proc/stat") as f:
            fields = [float(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)
    return sum(fields) - idle, sum(fields)


def busy_cores(window: float = 0.05) -> float:
    """How many cores other processes keep busy now (averaged over ``window`` seconds; this process
    sleeps meanwhile). Falls back to the one-minute load average where ``/proc/stat`` is missing."""
    first = _cpu_times()
    if first is None:  # pragma: no cover - not Linux
        return float(os.getloadavg()[0])
    time.sleep(window)
    second = _cpu_times()
    total = second[1] - first[1]
    if total <= 0:
        return 0.0
    return (second[0] - first[0]) / total * (os.cpu_count() or 1)


def free_cores() -> int:
    """Cores not busy with other work right now (at least 1)."""
    return max(1, min(usable_cores(), round(usable_cores() - busy_cores())))


def choose_threads(threads: int | None = None, *, workers: int = 1) -> int:
    """Torch threads per worker: ``threads`` if given, else the free cores shared among ``workers``.

    Example:
        >>> choose_threads(3)
        3
        >>> 1 <= choose_threads(workers=64) <= usable_cores()
        True
    """
    if threads is not None:
        return require_int("threads", threads, 1, 1024)
    workers = require_int("workers", workers, 1)
    return max(1, free_cores() // workers)


@contextlib.contextmanager
def using_threads(threads: int | None = None, *, workers: int = 1):
    """Run the block with :func:`choose_threads` torch threads, then restore the previous count.

    Yields the number of threads chosen.
    """
    chosen = choose_threads(threads, workers=workers)
    before = torch.get_num_threads()
    torch.set_num_threads(chosen)
    try:
        yield chosen
    finally:
        torch.set_num_threads(before)


def available_memory() -> int:
    """Bytes of memory available to new work (``MemAvailable`` of ``/proc/meminfo``; 8 GiB if unknown)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):  # pragma: no cover - not Linux
        pass
    return 8 << 30
