"""The isolated worker: a real SIGSEGV or an overrun costs one job, and the next job works."""

from __future__ import annotations

import ctypes
import math
import time

import pytest

from gate_core.data import untrusted
from gate_core.data.featurize import featurize_molecules
from gate_core.featurizers.graph import DEFAULT_FEATURIZER
from gate_core.featurizers.molecule import parse_smiles
from gate_core.isolation import IsolatedWorker, WorkerCrashed, WorkerTimeout


@pytest.fixture(scope="module")
def worker():
    w = IsolatedWorker(preload=("gate_core.data.untrusted",))
    yield w
    w.close()


def test_a_segfault_fails_the_job_and_the_next_job_gets_a_fresh_worker(worker):
    assert worker.run(math.sqrt, 16.0, what="warming up") == 4.0
    first = worker.pid
    with pytest.raises(
        WorkerCrashed, match=r"crashed \(signal 11 \(SIGSEGV\)\) while reading row 7"
    ):
        worker.run(ctypes.string_at, 0, what="reading row 7")  # a real segmentation fault
    assert worker.run(math.sqrt, 9.0, what="after the crash") == 3.0
    assert worker.pid not in (None, first)


def test_an_exception_in_the_job_is_raised_here_and_the_worker_lives_on(worker):
    worker.run(math.sqrt, 1.0, what="warming up")
    pid = worker.pid
    with pytest.raises(ValueError, match="math domain error"):
        worker.run(math.sqrt, -1.0, what="a bad value")
    assert worker.pid == pid


def test_a_job_past_its_time_bound_is_killed(worker):
    worker.run(math.sqrt, 1.0, what="warming up")
    started = time.monotonic()
    with pytest.raises(WorkerTimeout, match="reading the file took more than 0.5 s"):
        worker.run(time.sleep, 30, what="reading the file", timeout=0.5)
    assert time.monotonic() - started < 10
    assert worker.run(math.sqrt, 4.0, what="after the timeout") == 2.0


def test_parse_isolated_matches_parsing_here_and_primes_the_caches(worker):
    texts = ["CCO", "not a smiles", "[Na+].[Cl-]", "CC(=O)[O-].[Na+]", "C" * 2_000, "", "OC1CCCCC1"]
    got = untrusted.parse_isolated(texts, worker, chunk=3)
    here = [parse_smiles(t) for t in texts]
    assert [(p.input, p.smiles, p.error, p.note) for p in got] == [
        (p.input, p.smiles, p.error, p.note) for p in here
    ]
    primed = DEFAULT_FEATURIZER._cache.get("OC1CCCCC1")  # featurised in the worker
    assert primed is not None
    graphs, _ = featurize_molecules(["OC1CCCCC1"])
    assert graphs[0] is primed


def test_a_crashing_molecule_names_its_rows_and_the_next_call_works(worker, monkeypatch):
    monkeypatch.setenv(untrusted.CRASH_ENV, "CC(C)CO")
    texts = ["CCO"] * 4 + ["CC(C)CO"] + ["CCN"] * 3
    with pytest.raises(
        WorkerCrashed, match=r"signal 11 .* while reading rows 4-6 of 8; remove or fix those rows"
    ):
        untrusted.parse_isolated(texts, worker, chunk=3)
    monkeypatch.delenv(untrusted.CRASH_ENV)
    assert [p.smiles for p in untrusted.parse_isolated(texts, worker, chunk=3)][4] == "CC(C)CO"
