"""Objects shared by every page and every browser session of one server process.

Why ``st.cache_resource``: the backbone is loaded once, one worker thread trains queued runs,
and UMAP's kernels compile once, whichever session asks first. They are keyed by the backbone
path and data folder, so a test (or a second app in the same process) pointing elsewhere gets
its own. Per-user state (uploads, the run a user watches) lives in ``st.session_state``.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from gate_core import limits
from gate_core.paths import DEFAULT_BACKBONE
from gate_core.threads import configure_threads, thread_count

ROOT = Path(__file__).resolve().parent.parent
BACKBONE_ENV = "GATE_BACKBONE"
DATA_DIR_ENV = "GATE_DATA_DIR"


@dataclass(frozen=True)
class Settings:
    """Deployment knobs, read from the environment on every call (cheap, and tests can set them)."""

    backbone: str
    data_dir: str
    max_rows: int
    max_upload_mb: int
    worker_threads: int


def settings() -> Settings:
    backbone = Path(os.environ.get(BACKBONE_ENV) or DEFAULT_BACKBONE)
    data_dir = Path(os.environ.get(DATA_DIR_ENV) or ROOT / "gate_data")
    return Settings(
        backbone=str(backbone.expanduser().resolve()),
        data_dir=str(data_dir.expanduser().resolve()),
        max_rows=limits.max_rows(),
        max_upload_mb=limits.max_upload_mb(),
        worker_threads=thread_count(),  # $GATE_THREADS; more OpenMP threads only spin on a busy 2-core box
    )


@st.cache_resource(show_spinner="Loading the backbone…")
def _studio(backbone: str, data_dir: str):
    from gate_core.api import GateStudio

    configure_threads()  # the server's own torch work (predictions, previews) shares the CPU with the worker and CLI jobs
    return GateStudio(
        backbone, data_dir, isolate=True
    )  # RDKit on users' molecules runs in a worker process


@st.cache_resource(show_spinner=False)
def _worker(backbone: str, data_dir: str, threads: int):
    from gate_core.worker import TaskWorker

    worker = TaskWorker(_studio(backbone, data_dir), poll_seconds=0.5, threads=threads)
    worker.start()
    return worker


class BackboneUnavailable(RuntimeError):
    """The backbone folder is missing or cannot be loaded (for example while it is retrained)."""


def get_studio():
    """The process-wide :class:`~gate_core.api.GateStudio`; raises :class:`BackboneUnavailable`."""
    s = settings()
    path = Path(s.backbone)
    if not (path / "metadata.json").is_file():
        raise BackboneUnavailable(
            f"No backbone found at {path}. Build one with `make backbone`, or set {BACKBONE_ENV} to a checkpoint folder."
        )
    try:
        return _studio(s.backbone, s.data_dir)
    except Exception as exc:  # a half-written checkpoint raises many types
        raise BackboneUnavailable(
            f"The backbone at {path} could not be loaded ({exc}). If it is being trained right now, reload this page when it is done."
        ) from exc


def require_studio():
    """The studio, or an error message and a stopped page when there is no usable backbone."""
    try:
        return get_studio()
    except BackboneUnavailable as exc:
        st.error(str(exc), icon=":material/error:")
        st.stop()


def get_worker():
    """Start (once per process) the thread that trains queued runs; return it."""
    s = settings()
    get_studio()
    worker = _worker(s.backbone, s.data_dir, s.worker_threads)
    if not worker.is_alive():  # stopped (tests) or died: start a fresh one
        _worker.clear()
        worker = _worker(s.backbone, s.data_dir, s.worker_threads)
    return worker


@st.cache_resource(show_spinner=False)
def warm_umap() -> threading.Event:
    """Compile UMAP's numba kernels once per process, in the background; the event is set when done."""
    done = threading.Event()

    def work() -> None:
        try:
            from gate_app.projection import warm_up_umap

            warm_up_umap()
        finally:
            done.set()

    threading.Thread(target=work, name="gate-umap-warmup", daemon=True).start()
    return done


@st.cache_data(max_entries=16, show_spinner="Reading the table…")
def _read_table(data: bytes, filename: str, max_rows: int, sheet: str | None, seconds: float):
    """Read in the isolated worker: RDKit parses SDF records and the header there, and an
    overrun of ``seconds`` ($GATE_READ_SECONDS, part of the cache key) is killed."""
    from gate_core.data.io import read_table_isolated

    return read_table_isolated(data, filename, max_rows=max_rows, sheet=sheet)


@st.cache_data(max_entries=16, show_spinner=False)
def _sheets(data: bytes) -> list[str]:
    from gate_core.data.io import excel_sheets

    return excel_sheets(data)


def read_upload(data: bytes, filename: str, sheet_key: str | None = None):
    """An uploaded file as a DataFrame (cached by content); raises ``TableReadError`` with the reason.

    With ``sheet_key``, a workbook of several sheets gets a sheet chooser (a selectbox with that key).
    """
    from gate_core.data.io import EXCEL_SUFFIXES

    sheet = None
    if sheet_key is not None and Path(filename).suffix.lower() in EXCEL_SUFFIXES:
        sheets = _sheets(data)
        if len(sheets) > 1:
            sheet = st.selectbox(
                "Sheet",
                sheets,
                key=sheet_key,
                help="The workbook has several sheets; pick the one with the molecules.",
            )
    return _read_table(data, filename, settings().max_rows, sheet, limits.read_seconds())


def stop_workers() -> None:
    """Stop every task worker thread of this process (used by tests)."""
    from gate_core.worker import TaskWorker

    for thread in threading.enumerate():
        if isinstance(thread, TaskWorker):
            thread.stop()
    _worker.clear()
