"""The machine's resources: how many threads to give torch, and how much memory is free.

Thread policy (every command and the long Python entry points use it). Torch's default (one
thread per core) is a little faster on an idle machine, but a thread that waits for a busy
core slows every operation down (measured here: 1.3x slower with one of two cores busy, 2.9x
on a loaded machine). So unless the user says how many, a computation gets the cores that are
free *now* (the cores this process may use, minus the other work running at this moment,
counted as the machine's runnable threads minus this process's own, from ``/proc/stat``,
averaged over about 10 ms), shared among its parallel workers, and never fewer than one thread.
The kernels give the same numbers whatever the thread count. (A first version measured CPU
time over 50 ms per choice; its cost made ``cis demo`` slower than ``--threads 1`` with a core
busy: see ``scripts/timing/thread_timing.py``.)

Memory policy (the command line applies it, :func:`keep_freed_memory`). A forward pass makes
buffers of a few MB per layer and chunk; glibc's malloc hands such buffers back to the system when
they are freed and maps fresh pages for the next ones, which then fault in page by page (measured:
a fifth of the CPU time of a short evaluation went to the kernel). Keeping freed memory in the
process for the next buffers removes most of that.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import time

import torch

from ._errors import require_int


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` is running (this process counts as running; one owned by another user too).

    >>> process_alive(os.getpid())
    True
    """
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, else ``os.cpu_count()``)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _procs_running() -> int | None:
    """Threads runnable on the whole machine right now (``procs_running`` of ``/proc/stat``), or ``None``."""
    try:
        with open("/proc/stat") as f:
            for line in f:
                if line.startswith("procs_running"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def _own_running() -> int:
    """Threads of this process that are runnable right now (the one asking among them)."""
    count = 0
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:  # pragma: no cover - not Linux
        return 1
    for task in tasks:
        try:
            with open(f"/proc/self/task/{task}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        count += stat[stat.rindex(")") + 2] == "R"
    return max(1, count)


def busy_cores(samples: int = 8, gap: float = 0.001) -> float:
    """How many cores *other* work wants now: the machine's runnable threads minus this process's own,
    averaged over ``samples`` looks ``gap`` seconds apart (about 10 ms in all). Falls back to the
    one-minute load average where ``/proc/stat`` has no ``procs_running``."""
    seen = []
    for i in range(samples):
        running = _procs_running()
        if running is None:  # pragma: no cover - not Linux
            return float(os.getloadavg()[0])
        seen.append(max(0, running - _own_running()))
        if i + 1 < samples:
            time.sleep(gap)
    return sum(seen) / len(seen)


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


#: ``mallopt`` parameters (glibc's malloc.h) and the values :func:`keep_freed_memory` sets: buffers up to 32 MB
#: (the largest value glibc accepts) come from the heap, and up to 1 GB of freed heap is kept for reuse.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_MMAP_THRESHOLD, _TRIM_THRESHOLD = 32 << 20, 1 << 30


def keep_freed_memory() -> bool:
    """Have glibc's malloc keep freed buffers for reuse rather than return them to the system at once.

    Sets ``M_MMAP_THRESHOLD`` (32 MB) and ``M_TRIM_THRESHOLD`` (1 GB) with ``mallopt``: the same memory
    serves one chunk's buffers after another instead of being mapped and faulted in again. A process-wide
    setting, so an application applies it (``cis`` does), not the library. Returns whether it took effect
    (``False`` where the C library has no ``mallopt``, as on macOS).
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # pragma: no cover - not glibc
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD))


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
