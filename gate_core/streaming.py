"""Predict a molecule file of any size in constant memory: the ``predict --data … --out …`` engine.

Why: a chemist screens vendor libraries of millions of molecules; reading them whole (as an
upload is read) needs memory in proportion, and parsing and featurising them in the process that
runs the model leaves the other cores idle. Here a :class:`~gate_core.data.sources.Source` reads
one chunk of rows at a time, spawned worker processes parse and featurise the next chunks
(:func:`~gate_core.featurizers.rows.featurize_rows`, NumPy and RDKit only: no torch, so no
thread pool to oversubscribe) while this process runs the model on the current one
(:meth:`~gate_core.api.GateStudio.predict`, ``GATE_THREADS`` torch threads), and each chunk's
rows are appended to the output as soon as they are predicted. At most ``2 × workers`` chunks
are in flight, so memory does not grow with the file.

Every input row comes out, in input order, invalid ones with their reason in ``error``, after
the file's own columns (an ID, a name, measured values: as the Predict page keeps them,
:func:`~gate_core.predictions.with_input_columns`); a column named like a predicted task is
also compared with the prediction as the chunks go (running sums: constant memory). The
output is written to ``<out>.part`` and renamed when complete, so a failed run leaves no
half-written file under the requested name. A shard (:class:`~gate_core.data.sources.Shard`)
predicts whole chunks only, so the shards' outputs concatenated in order are byte-identical to
one run's (with the same ``chunk_size``).

The output's suffix chooses its format: CSV (spreadsheet-safe, for a person) or Parquet
(``.parquet``/``.pq``: typed columns, for a pipeline; one row group per chunk through
``pyarrow``'s ``ParquetWriter``, so it is written in constant memory too). Both hold the same
columns and values, except that Parquet cells are not prefixed with ``'`` against spreadsheet
formulas: a program reads them, and the prefix would change the user's text.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from gate_core.data.io import spreadsheet_safe
from gate_core.data.sources import PARQUET_SUFFIXES, Chunk, Shard, Source
from gate_core.featurizers.rows import FeaturizedRows, featurize_rows
from gate_core.predictions import RunningComparison, compare, with_input_columns

if TYPE_CHECKING:
    from gate_core.api import GateStudio

#: Rows per chunk: large enough that a worker job's overhead (pickling, ~0.01 ms a molecule) and
#: the model's per-call overhead vanish, small enough that a chunk's features are a few MB.
DEFAULT_CHUNK_ROWS = 1024
#: Chunks queued per worker ahead of the model, so a worker never waits for the next job.
IN_FLIGHT_PER_WORKER = 2
#: Seconds between two progress lines.
PROGRESS_EVERY_S = 10.0
#: Suffix of :meth:`GateStudio.predict`'s in-domain flags: True / False, None for an invalid row,
#: so a chunk of invalid rows alone cannot tell their Parquet type (Parquet fixes it at the start).
IN_DOMAIN_SUFFIX = "_in_domain"


class StreamError(ValueError):
    """A chunk could not be predicted (a worker process died on it); the message names its rows."""


def default_workers() -> int:
    """Featurisation processes: one per core (``$GATE_WORKERS`` overrides); the model process
    shares the cores with them, and featurising costs about as much CPU as the model."""
    try:
        return max(0, int(os.environ.get("GATE_WORKERS", os.cpu_count() or 1)))
    except ValueError:
        return os.cpu_count() or 1


@dataclass
class StreamSummary:
    """What a run did: rows written, how many invalid, seconds, the distinct warnings, and
    each compared task's predictions against the file's measured values (``{task: …}``), and
    those of them not predicted at all, so that they are not reported as having no row."""

    rows: int = 0
    invalid: int = 0
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    comparisons: dict[str, RunningComparison] = field(default_factory=dict)
    #: compared tasks that were not predicted (an added task that failed to load)
    skipped: set[str] = field(default_factory=set)


def _features(
    source: Source, chunks: Iterator[Chunk], workers: int, descriptors: bool
) -> Iterator[tuple[Chunk, FeaturizedRows]]:
    """Each chunk with its featurised rows, in order; ``workers`` = 0 featurises in this process."""

    def job(chunk: Chunk) -> tuple[list[object], bool, int | None]:
        return chunk.items, descriptors, chunk.start + 1 if source.sdf else None

    if workers == 0:
        for chunk in chunks:
            items, desc, first = job(chunk)
            yield chunk, featurize_rows(items, descriptors=desc, sdf_first_record=first)
        return
    pool = ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"))
    pending: deque[tuple[Chunk, Future]] = deque()

    def result(chunk: Chunk, future: Future) -> tuple[Chunk, FeaturizedRows]:
        try:
            return chunk, future.result()
        except BrokenProcessPool as exc:
            raise StreamError(
                f"a featurisation process died while reading rows {chunk.start + 1}-{chunk.start + len(chunk.items)} "
                f"(or a chunk beside them); remove or fix the molecule that crashes RDKit and run again"
            ) from exc

    try:
        for chunk in chunks:
            items, desc, first = job(chunk)
            pending.append(
                (
                    chunk,
                    pool.submit(featurize_rows, items, descriptors=desc, sdf_first_record=first),
                )
            )
            if len(pending) > IN_FLIGHT_PER_WORKER * workers:
                yield result(*pending.popleft())
        while pending:
            yield result(*pending.popleft())
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


class _CSVWriter:
    """Spreadsheet-safe CSV: the header with the first chunk, then each chunk's rows."""

    def __init__(self, path: Path) -> None:
        self._handle = path.open("w", newline="", encoding="utf-8")
        self._header = True

    def write(self, frame: pd.DataFrame) -> None:
        spreadsheet_safe(frame).to_csv(self._handle, header=self._header, index=False)
        self._header = False

    def close(self) -> None:
        self._handle.close()


class _ParquetWriter:
    """Parquet, one row group per chunk. The schema is the first chunk's, its types made
    independent of the chunk's cells (:func:`_field`), so that every chunk, and every shard,
    even an empty one, has the same schema."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._writer: pq.ParquetWriter | None = None

    def write(self, frame: pd.DataFrame) -> None:
        if self._writer is None:
            fields = [_field(f) for f in pa.Schema.from_pandas(frame, preserve_index=False)]
            self._writer = pq.ParquetWriter(self._path, pa.schema(fields))
        table = pa.Table.from_pandas(frame, schema=self._writer.schema, preserve_index=False)
        self._writer.write_table(table)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


def _field(inferred: pa.Field) -> pa.Field:
    """``inferred`` with a type that does not depend on the chunk: text as ``string`` (pandas
    infers ``large_string`` for text but ``null`` for a column of blanks), in-domain flags as
    ``bool`` even when blank."""
    if pa.types.is_null(inferred.type) and inferred.name.endswith(IN_DOMAIN_SUFFIX):
        return inferred.with_type(pa.bool_())
    if pa.types.is_null(inferred.type) or pa.types.is_large_string(inferred.type):
        return inferred.with_type(pa.string())
    return inferred


def _writer(path: Path, out: Path) -> _CSVWriter | _ParquetWriter:
    """A writer to ``path`` in ``out``'s format: Parquet by its suffix, else CSV."""
    if out.suffix.lower() in PARQUET_SUFFIXES:
        return _ParquetWriter(path)
    return _CSVWriter(path)


def write_frame(frame: pd.DataFrame, out: str | Path) -> None:
    """Write a whole prediction frame (``predict --smiles … --out``) as a streamed run writes its
    chunks, so ``out``'s suffix chooses the format the same way."""
    writer = _writer(Path(out), Path(out))
    try:
        writer.write(frame)
    finally:
        writer.close()


def _known_rows(
    chunk: Chunk, fixed: Mapping[str, object], columns: Sequence[str]
) -> list[dict[str, object]]:
    """One ``{task: value}`` per row: the file's known-value ``columns`` over the values given
    for every row."""
    return [
        {**fixed, **{c: chunk.columns[c][i] for c in columns if chunk.columns[c][i] is not None}}
        for i in range(len(chunk.items))
    ]


def _file_columns(
    chunk: Chunk, names: Sequence[str], types: Mapping[str, pa.DataType]
) -> pd.DataFrame:
    """The chunk's cells of the file's own columns, each the same type in every chunk (even one
    of blanks alone): the file's own Arrow type where it declares one (Parquet), else text."""
    return pd.DataFrame(
        {
            c: pd.Series(pa.array(chunk.columns[c], type=types[c]), dtype=pd.ArrowDtype(types[c]))
            if c in types
            else [None if v is None else str(v) for v in chunk.columns[c]]
            for c in names
        },
        index=range(len(chunk.items)),
    )


def predict_file(
    studio: GateStudio,
    source: Source,
    out: str | Path,
    *,
    tasks: Sequence[str] | None = None,
    known: Mapping[str, object] | None = None,
    known_columns: Sequence[str] = (),
    compared: Sequence[str] = (),
    use_table_labels: bool = False,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    workers: int | None = None,
    shard: Shard = Shard(),
    log: Callable[[str], None] | None = None,
) -> StreamSummary:
    """Predict ``source`` (the rows of ``shard``) into ``out`` (CSV, or Parquet by its suffix),
    chunk by chunk.

    ``known``: values applied to every row; ``known_columns``: columns of the file holding each
    row's own known values (blank: not measured). With either, or ``use_table_labels``, the
    relational corrections are added (:meth:`GateStudio.predict`). ``compared``: columns of the
    file named like a predicted task, kept as the file's other columns are and compared with
    that task's prediction chunk by chunk (:attr:`StreamSummary.comparisons`, constant memory).
    A CSV is spreadsheet-safe (:func:`~gate_core.data.io.spreadsheet_safe`).
    """
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be at least 1, got {chunk_rows}")
    workers = default_workers() if workers is None else workers
    relational = bool(known) or bool(known_columns) or use_table_labels
    fixed = dict(known or {})
    carried, types = source.other_columns, source.column_types()
    read = list(dict.fromkeys([*known_columns, *carried]))
    out = Path(out)
    partial = out.with_name(out.name + ".part")
    summary, seen = StreamSummary(), set()
    classes = {t for t, kind in studio.task_types().items() if kind == "classification"}
    summary.comparisons = {c: RunningComparison(c, c, c in classes) for c in compared}
    t0 = last = time.perf_counter()
    total = sum(
        min(chunk_rows, source.n_rows - c * chunk_rows)
        for c in shard.chunks(source.n_chunks(chunk_rows))
    )

    def predict(rows: FeaturizedRows, chunk: Chunk, measure: bool = True) -> pd.DataFrame:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            frame = studio.predict(
                rows,
                list(tasks) if tasks else None,
                known=_known_rows(chunk, fixed, known_columns) if relational else None,
                use_table_labels=use_table_labels,
            )
        for w in caught:
            if str(w.message) not in seen:
                seen.add(str(w.message))
                summary.warnings.append(str(w.message))
        for task, running in summary.comparisons.items():
            if task not in frame.columns:  # a task that failed to load: skipped, with a warning
                summary.skipped.add(task)
            elif measure:
                measured = pd.DataFrame({task: chunk.columns[task]})
                running.add(compare(frame, measured, task, task, running.classification))
        return with_input_columns(frame, _file_columns(chunk, carried, types))

    def no_rows() -> pd.DataFrame:
        """The columns, and their types, of a run's rows, with no row: the file's first row
        predicted and dropped (an empty prediction has columns but no types to write)."""
        first = next(source.chunks(1, Shard(), read))
        rows = featurize_rows(
            first.items,
            descriptors=studio.backbone.config.n_descriptors > 0,
            sdf_first_record=1 if source.sdf else None,
        )
        frame = predict(rows, first, measure=False).iloc[:0]  # a row outside this shard
        summary.warnings.clear()  # about that row
        return frame

    try:
        writer = _writer(partial, out)
        try:
            chunks = source.chunks(chunk_rows, shard, read)
            for chunk, rows in _features(
                source, chunks, workers, studio.backbone.config.n_descriptors > 0
            ):
                frame = predict(rows, chunk)
                writer.write(frame)
                summary.rows += len(frame)
                summary.invalid += int(frame["error"].notna().sum())
                if log and time.perf_counter() - last > PROGRESS_EVERY_S:
                    last = time.perf_counter()
                    log(
                        f"{summary.rows:,} of {total:,} rows ({summary.rows / (last - t0):,.0f} rows/s)"
                    )
            if summary.rows == 0:  # an empty shard: no rows, the columns of the others
                writer.write(no_rows())
        finally:
            writer.close()
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    summary.seconds = time.perf_counter() - t0
    return summary
