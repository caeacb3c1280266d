"""Independent trainings (ensemble members, probes) side by side on threads, one torch thread each.

Why threads: a member's steps are small matrix products that one core runs about as fast as
two, so giving one member two intra-op threads barely helps, while two members at once on
two cores finish the ensemble nearly twice as soon. Torch releases the GIL inside its kernels
and autograd runs a CPU backward on the calling thread, so Python threads suffice. Every op
runs on one thread either way: the results equal those of the members trained one by one with
one thread.

The pool uses the threads this process may use (:func:`gate_core.threads.configure_threads`,
``GATE_THREADS``, default 1: then members train one by one, as before). Members report
progress through the ``report`` they are given; the events reach ``emit`` on the calling
thread, because the app's callback writes to its registry (an SQLite connection of that
thread) and cancels a run by raising, which stops every member at its next event.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import TypeVar

import torch

T = TypeVar("T")
Report = Callable[[dict], None]

#: Held while a member seeds the global torch RNG and draws its initial weights, so members
#: started together get the weights they would get one by one.
SEED_LOCK = threading.Lock()


class MemberStopped(Exception):
    """Raised inside a member at its next report once the run is cancelled or another failed."""


def run_members(jobs: Sequence[Callable[[Report], T]], emit: Report, threads: int) -> list[T]:
    """Each ``job(report)``'s result, in order; up to ``threads`` jobs at once.

    A job's exception (or ``emit``'s, e.g. a cancellation) stops the others at their next
    report and is raised here once every running job has stopped.
    """
    if threads <= 1 or len(jobs) <= 1:
        return [job(emit) for job in jobs]
    events: queue.SimpleQueue[dict] = queue.SimpleQueue()
    stop = threading.Event()

    def report(event: dict) -> None:
        if stop.is_set():
            raise MemberStopped
        events.put(event)

    def job_on_one_thread(job: Callable[[Report], T]) -> T:
        torch.set_num_threads(1)
        return job(report)

    def relay() -> None:
        while not events.empty():
            emit(events.get())

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with ThreadPoolExecutor(min(threads, len(jobs)), "gate-member") as pool:
            futures = [pool.submit(job_on_one_thread, job) for job in jobs]
            try:
                pending = set(futures)
                while pending:
                    done, pending = wait(pending, timeout=0.1, return_when=FIRST_EXCEPTION)
                    relay()
                    if any(f.exception() is not None for f in done):
                        break
            finally:
                stop.set()  # nothing runs on once we leave: a failure or a cancellation
        failures = [f.exception() for f in futures if f.exception() is not None]
        first = next((e for e in failures if not isinstance(e, MemberStopped)), None)
        if first is not None:
            raise first
        return [f.result() for f in futures]
    finally:
        torch.set_num_threads(previous)
