"""One home for how many CPU threads a GATE process uses (torch, OpenMP, BLAS).

Why deliberate: by default torch and OpenBLAS each start as many spinning OpenMP threads as
there are cores, so two GATE processes on one machine (a second ``add-task``, the app's server,
its worker) oversubscribe the cores and each runs many times slower than alone. Task addition
trains small MLPs, where one thread per process is about as fast as several. The CLI, the
background worker and the app all call :func:`configure_threads`; ``GATE_THREADS`` overrides
the default for a machine that runs one GATE process on many cores.
"""

from __future__ import annotations

import os

THREADS_ENV = "GATE_THREADS"
DEFAULT_THREADS = 1
_POOL_ENVS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def thread_count(explicit: int | None = None) -> int:
    """``explicit`` if given, else ``$GATE_THREADS``, else :data:`DEFAULT_THREADS` (at least 1)."""
    if explicit is not None:
        return max(1, int(explicit))
    try:
        return max(1, int(os.environ.get(THREADS_ENV, DEFAULT_THREADS)))
    except ValueError:
        return DEFAULT_THREADS


def configure_threads(explicit: int | None = None) -> int:
    """Cap this process's torch, OpenMP and BLAS pools at :func:`thread_count` threads; returns it.

    The pool variables are set (when not already set) for libraries not yet imported and for
    child processes; torch and already-loaded BLAS libraries are capped directly.
    """
    n = thread_count(explicit)
    for name in _POOL_ENVS:
        os.environ.setdefault(name, str(n))
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(n)
    threadpool_limits(n)
    return n
