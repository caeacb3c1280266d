"""Reading a file has a wall-clock bound ($GATE_READ_SECONDS): a slow file is refused with a
clear message after about that long, in-process and in the isolated worker (issue 14)."""

from __future__ import annotations

import time

import pytest
from rdkit import Chem

from gate_core import limits
from gate_core.data import io as table_io
from gate_core.data.io import (
    TableReadError,
    detected_smiles_column,
    read_table,
    read_table_isolated,
)
from gate_core.isolation import IsolatedWorker

BLOCK = Chem.MolToMolBlock(Chem.MolFromSmiles("c1ccccc1CCO")) + ">  <value>\n1.5\n\n$$$$\n"


@pytest.fixture(scope="module")
def worker():
    w = IsolatedWorker(preload=("gate_core.data.io",))
    yield w
    w.close()


def test_the_bound_defaults_to_30_s_and_follows_the_environment(monkeypatch):
    monkeypatch.delenv(limits.READ_SECONDS_ENV, raising=False)
    assert limits.read_seconds() == 30.0
    monkeypatch.setenv(limits.READ_SECONDS_ENV, "0.5")
    assert limits.read_seconds() == 0.5
    for bad in ("soon", "0", "-3", "nan"):
        monkeypatch.setenv(limits.READ_SECONDS_ENV, bad)
        assert limits.read_seconds() == 30.0


def test_a_slow_sdf_is_refused_after_the_bound(monkeypatch):
    monkeypatch.setenv(limits.READ_SECONDS_ENV, "0.2")
    data = (BLOCK * 19_000).encode()  # ~20 s of RDKit on this CPU without the bound
    started = time.monotonic()
    with pytest.raises(
        TableReadError, match=r"took more than 0\.2 s \(stopped while reading SDF record [\d,]+\)"
    ):
        read_table(data, "slow.sdf")
    assert time.monotonic() - started < 3


def test_a_slow_csv_is_refused_after_the_bound(monkeypatch):
    monkeypatch.setenv(limits.READ_SECONDS_ENV, "0.01")
    data = ("smiles,value\n" + "CCO,1.5\n" * 400_000).encode()
    with pytest.raises(TableReadError, match=r"took more than 0\.01 s \(stopped while"):
        read_table(data, "slow.csv", max_rows=1_000_000)
    monkeypatch.setenv(limits.READ_SECONDS_ENV, "60")
    assert (
        len(read_table(data, "slow.csv", max_rows=1_000_000)) == 400_000
    )  # the same file, in time


def test_a_sdf_over_the_row_limit_is_refused_before_any_record_is_parsed():
    started = time.monotonic()
    with pytest.raises(TableReadError, match="the table has 19000 rows; the limit is 100"):
        read_table((BLOCK * 19_000).encode(), "many.sdf", max_rows=100)
    assert time.monotonic() - started < 2


def test_reading_in_the_worker_returns_the_table_and_its_smiles_column(worker):
    frame = read_table_isolated(b"name,smi,y\na,CCO,1\nb,c1ccccc1,2\n", "t.csv", worker=worker)
    assert list(frame.columns) == ["name", "smi", "y"] and len(frame) == 2
    assert detected_smiles_column(frame) == "smi"
    with pytest.raises(TableReadError, match="the file is empty"):
        read_table_isolated(b"", "empty.csv", worker=worker)


def test_the_worker_is_killed_when_its_own_check_cannot_fire(worker, monkeypatch):
    """A single parser call is not interruptible in-process; in the worker the bound is hard."""
    monkeypatch.setenv(limits.READ_SECONDS_ENV, "1")
    monkeypatch.setattr(
        table_io, "_KILL_GRACE_S", -0.9
    )  # kill at 0.1 s, before the worker's own check at 1 s
    started = time.monotonic()
    with pytest.raises(TableReadError, match="reading the file took more than 1 s and was stopped"):
        read_table_isolated((BLOCK * 19_000).encode(), "slow.sdf", worker=worker)
    assert time.monotonic() - started < 10
    monkeypatch.undo()
    assert (
        len(read_table_isolated(BLOCK.encode() * 3, "ok.sdf", worker=worker)) == 3
    )  # a fresh worker
