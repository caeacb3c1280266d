"""Read a molecule file of any size in chunks of rows: CSV/TSV/TXT, Parquet and SDF.

Why: :func:`gate_core.data.io.read_table` holds the whole table in memory and is bounded for
uploads (``GATE_MAX_ROWS``); a vendor library to screen has millions of rows. A source here
reads the same files by the same rules (encodings, separator, header or not, a ragged row
refused by number, an unreadable SDF record kept as a row with its reason), but one chunk at a
time. A first pass counts the rows and checks them before anything is predicted; the chunks
then start at fixed row numbers (``chunk_size`` × k), so a shard of chunks
(:class:`Shard`) reads exactly the rows, cut exactly the same way, as a whole run does.

Excel workbooks cannot be read in pieces: they go through ``read_table`` (bounded) and are then
cut into chunks like the others.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from gate_core import limits
from gate_core.data.io import (
    EXCEL_SUFFIXES,
    SNIFF_CHARS,
    SUPPORTED_SUFFIXES,
    TableReadError,
    _header_is_data,
    _names_for_headerless,
    _separator,
    detect_smiles_column,
    read_table,
)

if TYPE_CHECKING:
    import pyarrow as pa

PARQUET_SUFFIXES = (".parquet", ".pq")
#: Rows whose SMILES column is sampled to detect it (as :func:`detect_smiles_column` samples).
DETECT_ROWS = 20
_SDF_PROPERTY = re.compile(r"^>\s*<([^>]+)>")


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count``: a contiguous run of whole chunks of the file.

    Chunk ``c`` of ``n`` belongs to shard ``floor(c·count / n)``, so the shards' outputs,
    concatenated in order, are the rows of a whole run in its order.
    """

    index: int = 0
    count: int = 1

    @classmethod
    def parse(cls, text: str) -> Shard:
        """``"K/N"`` (0 ≤ K < N) → ``Shard(K, N)``."""
        index, sep, count = text.partition("/")
        try:
            shard = cls(int(index), int(count)) if sep else None
        except ValueError:
            shard = None
        if shard is None or not 0 <= shard.index < shard.count:
            raise ValueError(f"--shard expects K/N with 0 <= K < N (e.g. 0/4), got {text!r}")
        return shard

    def chunks(self, n_chunks: int) -> range:
        """The chunk numbers of this shard among ``n_chunks``."""
        return range(self.index * n_chunks // self.count, (self.index + 1) * n_chunks // self.count)


@dataclass
class Chunk:
    """Rows ``start`` … ``start + len(items) - 1`` (0-based data rows) of a source.

    ``items``: each row's SMILES text (or its SDF record's text for an SDF source);
    ``columns``: the other columns asked for, one list of cells each (``None`` when blank).
    """

    start: int
    items: list[object]
    columns: dict[str, list[object]]


class Source:
    """A file read in chunks. Subclasses set ``path``, ``names`` (column names), ``n_rows`` and
    ``smiles_column``, and implement :meth:`_rows` and :meth:`filled`."""

    #: ``True`` when the items are SDF records rather than SMILES texts.
    sdf = False
    path: Path
    names: list[str]
    n_rows: int
    smiles_column: str

    def _rows(self, start: int, columns: Sequence[str]) -> Iterator[tuple[object, list[object]]]:
        """(item, [cell of each of ``columns``]) of every data row from ``start`` on."""
        raise NotImplementedError

    def filled(self, columns: Sequence[str]) -> list[str]:
        """The ``columns`` that hold a value in at least one row."""
        raise NotImplementedError

    @property
    def other_columns(self) -> list[str]:
        """Every column but the SMILES one (ID, name, measured values): a prediction keeps them."""
        return [c for c in dict.fromkeys(self.names) if c != self.smiles_column]

    def column_types(self) -> dict[str, pa.DataType]:
        """The Arrow type of each of :attr:`other_columns` whose file declares one (Parquet);
        any other column is text."""
        return {}

    def n_chunks(self, size: int) -> int:
        return -(-self.n_rows // size)

    def chunks(
        self, size: int, shard: Shard = Shard(), columns: Sequence[str] = ()
    ) -> Iterator[Chunk]:
        """The chunks of ``shard``, in order; each is ``size`` rows but the file's last one."""
        numbers = shard.chunks(self.n_chunks(size))
        if not numbers:
            return
        start, stop = numbers.start * size, min(numbers.stop * size, self.n_rows)
        items: list[object] = []
        cells: list[list[object]] = []
        first = start
        for row, (item, values) in enumerate(self._rows(start, columns), start=start):
            if row >= stop:
                break
            items.append(item)
            cells.append(values)
            if len(items) == size:
                yield Chunk(first, items, _by_column(columns, cells))
                first, items, cells = row + 1, [], []
        if items:
            yield Chunk(first, items, _by_column(columns, cells))


def _by_column(columns: Sequence[str], cells: list[list[object]]) -> dict[str, list[object]]:
    return {name: [row[j] for row in cells] for j, name in enumerate(columns)}


def _blank(value: object) -> bool:
    return (
        value is None
        or (isinstance(value, float) and value != value)
        or (isinstance(value, str) and not value.strip())
    )


def _choose_smiles_column(
    names: list[str], sample: pd.DataFrame, given: str | None, path: Path
) -> str:
    if given is not None:
        if given not in names:
            raise TableReadError(
                f"column '{given}' not found in {path.name}; its columns are: {', '.join(names)}"
            )
        return given
    column = detect_smiles_column(sample)
    if column is None:
        raise TableReadError(f"no SMILES column found in {path.name}; name it with --smiles-col")
    return column


# ---- delimited text -----------------------------------------------------------------------------


def _encoding(head: bytes) -> str:
    """The text encoding, by the rules of :func:`gate_core.data.io.read_table` (UTF-16 with a BOM or
    NUL-interleaved ASCII, else UTF-8; Latin-1 is tried when UTF-8 fails, see :meth:`_scan`)."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    if len(head) >= 4 and head[1::2].count(0) > 0.9 * len(head[1::2]) and not head[0::2].count(0):
        return "utf-16-le"
    if len(head) >= 4 and head[0::2].count(0) > 0.9 * len(head[0::2]) and not head[1::2].count(0):
        return "utf-16-be"
    return "utf-8-sig"


class DelimitedSource(Source):
    """CSV, TSV or TXT, read with :mod:`csv` one line at a time (lines bounded in length)."""

    def __init__(self, path: Path, smiles_column: str | None = None) -> None:
        self.path = path
        with path.open("rb") as handle:
            head = handle.read(4096)
        if not head.strip():
            raise TableReadError("the file is empty")
        self.encoding = _encoding(head)
        try:
            self._scan()
        except UnicodeDecodeError:
            if self.encoding != "utf-8-sig":
                raise TableReadError(
                    "the file is not text (is it a binary file with a .csv name?)"
                ) from None
            self.encoding = "latin-1"
            self._scan()
        sample = pd.DataFrame(
            [row for row, _ in zip(self._records(), range(DETECT_ROWS))], columns=self.names
        )
        sample = sample.apply(
            lambda col: (
                pd.to_numeric(col, errors="coerce")
                if _numeric(col)
                else col.mask(col.str.strip() == "")
            )
        )
        self.smiles_column = _choose_smiles_column(self.names, sample, smiles_column, path)
        self._smiles_index = self.names.index(self.smiles_column)

    def _lines(self) -> Iterator[str]:
        """The file's lines, each checked: at most ``MAX_LINE_CHARS`` characters, no NUL."""
        with self.path.open("r", encoding=self.encoding, newline="") as handle:
            number = 0
            while line := handle.readline(limits.MAX_LINE_CHARS + 2):
                number += 1
                if len(line.rstrip("\r\n")) > limits.MAX_LINE_CHARS:
                    raise TableReadError(
                        f"line {number} has more than {limits.MAX_LINE_CHARS:,} characters; the limit is {limits.MAX_LINE_CHARS:,}"
                    )
                if "\x00" in line:
                    raise TableReadError(
                        "the file is not text (is it a binary file with a .csv name?)"
                    )
                yield line.removeprefix("\ufeff") if number == 1 else line

    def _reader(self) -> Iterator[list[str]]:
        csv.field_size_limit(max(csv.field_size_limit(), limits.MAX_LINE_CHARS))
        return (fields for fields in csv.reader(self._lines(), delimiter=self.separator) if fields)

    def _records(self) -> Iterator[list[str]]:
        """Every data row, padded or cut to the header's width."""
        reader = self._reader()
        if not self.headerless:
            next(reader, None)
        width = len(self.names)
        for fields in reader:
            yield (fields + [""] * (width - len(fields)))[:width]

    def _scan(self) -> None:
        """Separator, header, column count; then every row: count, ragged rows, filled columns."""
        with self.path.open("r", encoding=self.encoding, newline="") as handle:
            text = handle.read(SNIFF_CHARS)
        if "\x00" in text:
            raise TableReadError("the file is not text (is it a binary file with a .csv name?)")
        self.separator = _separator(text.removeprefix("\ufeff"), self.path.suffix.lower())
        try:
            reader = self._reader()
            first = [c.strip() for c in next(reader, [])]
            if len(first) > limits.MAX_COLUMNS:
                raise TableReadError(
                    f"the table has {len(first):,} columns; the limit is {limits.MAX_COLUMNS:,}"
                )
            self.headerless = _header_is_data(first)
            self.names = (
                _names_for_headerless(first)
                if self.headerless
                else [c or f"Unnamed: {i}" for i, c in enumerate(first)]
            )
            width = len(self.names)
            n_rows, ragged = int(self.headerless), []
            empty = {j for j in range(width) if not (self.headerless and first[j])}
            for fields in reader:
                n_rows += 1
                if len(fields) > width and any(f.strip() for f in fields[width:]):
                    ragged.append(n_rows)
                if empty:
                    empty -= {j for j in empty if j < len(fields) and fields[j].strip()}
        except csv.Error as exc:
            raise TableReadError(f"could not read the file as a table: {exc}") from exc
        if ragged:
            shown = ", ".join(map(str, ragged[:10])) + (" …" if len(ragged) > 10 else "")
            raise TableReadError(
                f"{len(ragged)} row(s) have more fields than the header's {width} (data rows {shown}); "
                "quote fields that contain the separator, or fix those rows"
            )
        if n_rows == 0:
            raise TableReadError("the table has no data rows")
        self.n_rows, self._empty = n_rows, {self.names[j] for j in empty}

    def filled(self, columns: Sequence[str]) -> list[str]:
        return [c for c in columns if c in self.names and c not in self._empty]

    def _rows(self, start: int, columns: Sequence[str]) -> Iterator[tuple[object, list[object]]]:
        index = [self.names.index(c) for c in columns]
        for row, fields in enumerate(self._records()):
            if row >= start:
                yield fields[self._smiles_index], [_cell(fields[j], self.separator) for j in index]


def _numeric(column: pd.Series) -> bool:
    filled = column[column.str.strip() != ""]
    return bool(len(filled)) and bool(pd.to_numeric(filled, errors="coerce").notna().all())


_DECIMAL_COMMA = re.compile(r"\s*[+-]?\d*,\d+(?:[eE][+-]?\d+)?\s*")


def _cell(text: str, separator: str) -> object:
    """A known-value cell: ``None`` when blank; a decimal comma (``1,5``) read as a number when
    the separator is not a comma (as ``read_table`` reads such columns)."""
    if not text.strip():
        return None
    if separator != "," and _DECIMAL_COMMA.fullmatch(text):
        return float(text.replace(",", "."))
    return text


# ---- Parquet ------------------------------------------------------------------------------------


class ParquetSource(Source):
    """A Parquet file, read one record batch at a time (only the columns needed)."""

    def __init__(self, path: Path, smiles_column: str | None = None) -> None:
        import pyarrow.parquet as pq

        self.path = path
        try:
            self._file = pq.ParquetFile(path)
        except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for a damaged file
            raise TableReadError(f"the file is not a readable Parquet file ({exc})") from exc
        self.names = [str(n) for n in self._file.schema_arrow.names]
        self.n_rows = self._file.metadata.num_rows
        if self.n_rows == 0:
            raise TableReadError("the table has no data rows")
        sample = next(self._file.iter_batches(batch_size=DETECT_ROWS)).to_pandas()
        self.smiles_column = _choose_smiles_column(self.names, sample, smiles_column, path)

    def column_types(self) -> dict[str, pa.DataType]:
        schema = self._file.schema_arrow
        return {c: schema.field(c).type for c in self.other_columns}

    def filled(self, columns: Sequence[str]) -> list[str]:
        present = [c for c in columns if c in self.names]
        counts = {c: 0 for c in present}
        for batch in self._file.iter_batches(columns=present) if present else ():
            for c in present:
                counts[c] += len(batch) - batch.column(c).null_count
        return [c for c in present if counts[c]]

    def _rows(self, start: int, columns: Sequence[str]) -> Iterator[tuple[object, list[object]]]:
        groups, skip, row = [], 0, 0
        for g in range(self._file.num_row_groups):  # whole row groups before ``start`` are not read
            size = self._file.metadata.row_group(g).num_rows
            if row + size > start:
                skip = skip if groups else start - row
                groups.append(g)
            row += size
        if not groups:
            return
        for batch in self._file.iter_batches(
            row_groups=groups, columns=[self.smiles_column, *columns]
        ):
            table = batch.to_pydict()
            n = len(batch)
            for i in range(skip, n):
                yield (
                    table[self.smiles_column][i],
                    [None if _blank(table[c][i]) else table[c][i] for c in columns],
                )
            skip = max(0, skip - n)


# ---- SDF ----------------------------------------------------------------------------------------


class SDFSource(Source):
    """An SDF file, one ``$$$$``-terminated record at a time; each record becomes a row (parsed by
    the workers, :func:`gate_core.featurizers.rows.sdf_record_smiles`); its data items are columns."""

    sdf = True

    def __init__(self, path: Path, smiles_column: str | None = None) -> None:
        self.path = path
        with path.open("rb") as handle:
            if not handle.read(4096).strip():
                raise TableReadError("the file is empty")
        names: dict[str, None] = {}
        n_rows = 0
        for record in self._records():
            n_rows += 1
            names.update(dict.fromkeys(_sdf_properties(record)))
        if n_rows == 0:
            raise TableReadError("the SDF file holds no molecule records")
        self.n_rows, self.names, self.smiles_column = n_rows, ["smiles", *names], "smiles"

    def _records(self) -> Iterator[str]:
        with self.path.open("r", encoding="utf-8", errors="replace", newline=None) as handle:
            lines: list[str] = []
            size = 0
            while line := handle.readline(limits.MAX_LINE_CHARS + 2):
                if line.startswith("$$$$"):
                    if "".join(lines).strip():
                        yield "".join(lines)
                    lines, size = [], 0
                    continue
                size += len(line)
                if size > limits.max_upload_mb() * 1_000_000:
                    raise TableReadError(
                        f"an SDF record is larger than {limits.max_upload_mb()} MB"
                    )
                lines.append(line)
            if "".join(lines).strip():
                yield "".join(lines)

    def filled(self, columns: Sequence[str]) -> list[str]:
        found: set[str] = set()
        for record in self._records():
            found.update(k for k, v in _sdf_properties(record).items() if v.strip())
        return [c for c in columns if c in found]

    def _rows(self, start: int, columns: Sequence[str]) -> Iterator[tuple[object, list[object]]]:
        for row, record in enumerate(self._records()):
            if row >= start:
                properties = _sdf_properties(record) if columns else {}
                yield (
                    record,
                    [None if _blank(properties.get(c)) else properties[c] for c in columns],
                )


def _sdf_properties(record: str) -> dict[str, str]:
    """The data items of one SDF record (``> <NAME>`` then value lines up to a blank line)."""
    properties: dict[str, str] = {}
    lines = record.splitlines()
    for i, line in enumerate(lines):
        if match := _SDF_PROPERTY.match(line):
            values = []
            for value in lines[i + 1 :]:
                if not value.strip():
                    break
                values.append(value)
            properties[match.group(1)] = "\n".join(values)
    return properties


# ---- whole tables (Excel) ------------------------------------------------------------------------


class FrameSource(Source):
    """A table read whole by :func:`read_table` (Excel), served in chunks like the others."""

    def __init__(
        self, path: Path, smiles_column: str | None = None, sheet: str | None = None
    ) -> None:
        self.path = path
        self.frame = read_table(path, sheet=sheet)
        self.names = [str(c) for c in self.frame.columns]
        self.n_rows = len(self.frame)
        self.smiles_column = _choose_smiles_column(self.names, self.frame, smiles_column, path)

    def filled(self, columns: Sequence[str]) -> list[str]:
        return [c for c in columns if c in self.names and self.frame[c].notna().any()]

    def _rows(self, start: int, columns: Sequence[str]) -> Iterator[tuple[object, list[object]]]:
        part = self.frame.iloc[start:]
        smiles = part[self.smiles_column].tolist()
        cells = [part[c].tolist() for c in columns]
        for i, item in enumerate(smiles):
            yield item, [None if _blank(col[i]) else col[i] for col in cells]


def open_source(
    path: str | Path, smiles_column: str | None = None, sheet: str | None = None
) -> Source:
    """The chunked reader for ``path``, by its suffix; every row counted and checked first."""
    path = Path(path)
    if not path.is_file():
        raise TableReadError(f"file not found: {path}")
    suffix = path.suffix.lower()
    if suffix in PARQUET_SUFFIXES:
        return ParquetSource(path, smiles_column)
    if suffix == ".sdf":
        return SDFSource(path, smiles_column)
    if suffix in EXCEL_SUFFIXES:
        return FrameSource(path, smiles_column, sheet)
    if suffix in (".csv", ".tsv", ".txt", ""):
        return DelimitedSource(path, smiles_column)
    raise TableReadError(
        f"unsupported file type '{suffix}'; use one of {', '.join([*SUPPORTED_SUFFIXES, *PARQUET_SUFFIXES])}"
    )
