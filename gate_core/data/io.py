"""Reading a user's table (CSV, TSV, Excel, SDF) and guessing its SMILES and target columns.

Why here: the CLI and the app must accept the same files and say the same things about them.
Every failure is a :class:`TableReadError` with a sentence a chemist can act on, and no row is
changed silently: a file without a header row keeps its first molecule, a row with too many
fields is refused by number, an unreadable SDF record stays a row with its reason. Reading is
bounded (file size, rows, columns, line length; :mod:`gate_core.limits`) before any parser
runs, so a pathological file fails in milliseconds, not minutes; and the whole read has a
wall-clock bound (``$GATE_READ_SECONDS``, checked between steps and inside their loops).
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
from rdkit import Chem

from gate_core import limits
from gate_core.featurizers.molecule import parse_smiles, size_error
from gate_core.isolation import IsolatedWorker, WorkerCrashed, WorkerTimeout, default_worker

SUPPORTED_SUFFIXES = (".csv", ".tsv", ".txt", ".xlsx", ".xls", ".sdf")
EXCEL_SUFFIXES = (".xlsx", ".xls")
# SMILES never contain these; letting the sniffer pick any character splits a one-column file
# ("smiles\nCCO\n...") on a letter of its header
SEPARATORS = ",\t;|"
#: Characters of the start of a file the separator is sniffed from (the sniffer is super-linear).
SNIFF_CHARS = 64_000
#: Column of an SDF file that says why a record gave no molecule (only present when one did not).
SDF_ERROR_COLUMN = "sdf_error"
_SDF_END = re.compile(r"^\$\$\$\$[^\n]*(?:\n|$)", re.MULTILINE)
_DECIMAL_COMMA = re.compile(r"\s*[+-]?\d*,\d+(?:[eE][+-]?\d+)?\s*|\s*[+-]?\d+\s*")


class TableReadError(ValueError):
    """The file is not a table we can read; the message says why."""


class _Deadline:
    """The wall-clock bound of one read (:func:`gate_core.limits.read_seconds`)."""

    def __init__(self, seconds: float | None = None) -> None:
        self.limit = limits.read_seconds() if seconds is None else seconds
        self.end = time.monotonic() + self.limit

    def check(self, step: str) -> None:
        if time.monotonic() > self.end:
            raise TableReadError(
                f"reading the file took more than {self.limit:g} s (stopped while {step}); "
                f"simplify the file, or split it (the bound is ${limits.READ_SECONDS_ENV})"
            )


#: Lines or records between two deadline checks.
_CHECK_EVERY = 1_000


def _decode(data: bytes) -> str:
    """Text of a file: UTF-16 (with a BOM, or NUL-interleaved ASCII), UTF-8 (BOM removed), else Latin-1."""
    head = data[:4096]
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encodings: tuple[str, ...] = ("utf-16",)
    elif len(head) >= 4 and head[1::2].count(0) > 0.9 * len(head[1::2]) and not head[0::2].count(0):
        encodings = ("utf-16-le",)
    elif len(head) >= 4 and head[0::2].count(0) > 0.9 * len(head[0::2]) and not head[1::2].count(0):
        encodings = ("utf-16-be",)
    else:
        encodings = ("utf-8-sig", "latin-1")
    for encoding in encodings:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if "\x00" not in text:
            return text.removeprefix("\ufeff")
    raise TableReadError("the file is not text (is it a binary file with a .csv name?)")


def _check_lines(text: str, deadline: _Deadline) -> None:
    for number, line in enumerate(text.splitlines(), start=1):
        if number % _CHECK_EVERY == 0:
            deadline.check(f"checking line {number:,}")
        if len(line) > limits.MAX_LINE_CHARS:
            raise TableReadError(
                f"line {number} has {len(line):,} characters; the limit is {limits.MAX_LINE_CHARS:,}"
            )


def _separator(text: str, suffix: str) -> str:
    """The column separator among :data:`SEPARATORS`, sniffed from the first lines."""
    sample = "\n".join(text[:SNIFF_CHARS].splitlines()[:50])
    try:
        return csv.Sniffer().sniff(sample, delimiters=SEPARATORS).delimiter
    except csv.Error:  # one column, or no consistent separator
        return "\t" if suffix == ".tsv" else ","


def _is_number(cell: object) -> bool:
    return isinstance(cell, (int, float)) or bool(
        pd.notna(pd.to_numeric(str(cell).replace(",", "."), errors="coerce"))
    )


def _is_molecule(cell: object) -> bool:
    parsed = parse_smiles(cell) if isinstance(cell, str) else None
    return parsed is not None and parsed.ok and parsed.mol.GetNumHeavyAtoms() >= 2


def _header_is_data(cells: list[object]) -> bool:
    """A first line holding a molecule (beside a number, or alone) rather than column names."""
    return any(map(_is_molecule, cells)) and (len(cells) == 1 or any(map(_is_number, cells)))


def _names_for_headerless(cells: list[object]) -> list[str]:
    """``smiles`` for the first molecule column, ``value`` for the first number, ``column_<n>`` else."""
    names = [f"column_{i}" for i in range(1, len(cells) + 1)]
    for name, test in (("smiles", _is_molecule), ("value", _is_number)):
        free = [i for i, cell in enumerate(cells) if test(cell) and names[i].startswith("column_")]
        if free:
            names[free[0]] = name
    return names


def _check_fields(text: str, sep: str, deadline: _Deadline) -> int:
    """Number of header fields; refuse too many columns, and rows with extra non-empty fields."""
    reader = csv.reader(io.StringIO(text), delimiter=sep)
    header = next(reader, [])
    if len(header) > limits.MAX_COLUMNS:
        raise TableReadError(
            f"the table has {len(header):,} columns; the limit is {limits.MAX_COLUMNS:,}"
        )
    ragged: list[int] = []
    row = 0
    for fields in reader:
        if not fields:  # a blank line, skipped by the reader below as well
            continue
        row += 1
        if row % _CHECK_EVERY == 0:
            deadline.check(f"checking the fields of row {row:,}")
        if len(fields) > len(header) and any(f.strip() for f in fields[len(header) :]):
            ragged.append(row)
    if ragged:
        shown = ", ".join(map(str, ragged[:10])) + (" …" if len(ragged) > 10 else "")
        raise TableReadError(
            f"{len(ragged)} row(s) have more fields than the header's {len(header)} (data rows {shown}); "
            "quote fields that contain the separator, or fix those rows"
        )
    return len(header)


def _decimal_commas(frame: pd.DataFrame, deadline: _Deadline) -> pd.DataFrame:
    """Text columns whose every value is a number written with a decimal comma (``1,5``) → floats."""
    for col in frame.columns:
        deadline.check(f"reading the numbers of column '{col}'")
        if pd.api.types.is_numeric_dtype(frame[col]):
            continue
        filled = frame[col].dropna().astype(str)
        if (
            len(filled)
            and filled.str.contains(",").any()
            and filled.str.fullmatch(_DECIMAL_COMMA).all()
        ):
            frame[col] = pd.to_numeric(
                frame[col].astype(str).str.replace(",", ".", regex=False).where(frame[col].notna())
            )
    return frame


def _read_delimited(data: bytes, suffix: str, deadline: _Deadline) -> pd.DataFrame:
    text = _decode(data)
    deadline.check("decoding the text")
    _check_lines(text, deadline)
    sep = _separator(text, suffix)
    deadline.check("finding the separator")
    n_fields = _check_fields(text, sep, deadline)
    first = next(csv.reader(io.StringIO(text), delimiter=sep))
    headerless = _header_is_data([c.strip() for c in first])
    frame = pd.read_csv(
        io.StringIO(text),
        sep=sep,
        index_col=False,
        header=None if headerless else 0,
        names=_names_for_headerless([c.strip() for c in first]) if headerless else None,
        usecols=range(n_fields),
    )
    deadline.check("parsing the table")
    return _decimal_commas(frame, deadline) if sep != "," else frame


def excel_sheets(data: bytes) -> list[str]:
    """The sheet names of an Excel workbook, in order (for a sheet chooser)."""
    try:
        return [str(s) for s in pd.ExcelFile(io.BytesIO(data)).sheet_names]
    except Exception as exc:  # openpyxl/xlrd raise many types for garbage input
        raise TableReadError(f"the file is not a readable Excel workbook ({exc})") from exc


def _read_excel(data: bytes, sheet: str | None, max_rows: int, deadline: _Deadline) -> pd.DataFrame:
    sheets = excel_sheets(data)
    deadline.check("opening the workbook")
    if sheet is not None and sheet not in sheets:
        raise TableReadError(
            f"the workbook has no sheet '{sheet}'; its sheets are: {', '.join(sheets)}"
        )
    try:
        raw = pd.read_excel(
            io.BytesIO(data),
            sheet_name=sheet if sheet is not None else 0,
            header=None,
            nrows=max_rows + 2,
        )
    except Exception as exc:
        raise TableReadError(f"the file is not a readable Excel workbook ({exc})") from exc
    deadline.check("reading the sheet")
    if raw.shape[1] > limits.MAX_COLUMNS:
        raise TableReadError(
            f"the table has {raw.shape[1]:,} columns; the limit is {limits.MAX_COLUMNS:,}"
        )
    if raw.empty:
        raise TableReadError("the table has no data rows")
    first = [c for c in raw.iloc[0].tolist()]
    if _header_is_data(first):
        raw.columns = _names_for_headerless(first)
        return raw.infer_objects()
    frame = raw.iloc[1:].reset_index(drop=True).infer_objects()
    frame.columns = [f"Unnamed: {i}" if pd.isna(c) else c for i, c in enumerate(first)]
    return frame


def _read_sdf(data: bytes, max_rows: int, deadline: _Deadline) -> pd.DataFrame:
    """One row per ``$$$$``-terminated record, each parsed on its own so a broken one cannot swallow the next."""
    blocks = [b for b in _SDF_END.split(_decode(data)) if b.strip()]
    if len(blocks) > max_rows:  # before parsing any of them
        raise TableReadError(f"the table has {len(blocks)} rows; the limit is {max_rows}")
    rows = []
    for i, block in enumerate(blocks, start=1):
        deadline.check(f"reading SDF record {i:,}")
        mol = next(
            Chem.ForwardSDMolSupplier(
                io.BytesIO((block + "$$$$\n").encode("utf-8")), sanitize=True
            ),
            None,
        )
        reason = "RDKit could not read the record" if mol is None else size_error(mol)
        if reason:
            rows.append({"smiles": None, SDF_ERROR_COLUMN: f"SDF record {i}: {reason}"})
            continue
        rows.append({"smiles": Chem.MolToSmiles(mol), **mol.GetPropsAsDict()})
    if not rows:
        raise TableReadError("the SDF file holds no molecule records")
    if all(r["smiles"] is None for r in rows):
        raise TableReadError(
            f"none of the {len(rows)} SDF record(s) could be read as a molecule; is this an SDF file?"
        )
    return pd.DataFrame(rows)


def _check_size(n_bytes: int) -> None:
    """Refuse a file over ``$GATE_MAX_UPLOAD_MB`` megabytes (of 10⁶ bytes): the one size check,
    which the CLI and every page meet through :func:`read_table`."""
    limit = limits.max_upload_mb()
    if n_bytes > limit * 1_000_000:
        raise TableReadError(
            f"the file is {n_bytes / 1e6:.1f} MB; the limit is {limit} MB (split the file, or ask "
            f"the administrator to raise {limits.MAX_UPLOAD_MB_ENV})"
        )


def read_table(
    data: bytes | str | Path,
    filename: str | None = None,
    max_rows: int | None = None,
    sheet: str | None = None,
    seconds: float | None = None,
) -> pd.DataFrame:
    """Read bytes or a path into a DataFrame; the format follows the file name's suffix.

    ``max_rows`` defaults to :func:`gate_core.limits.max_rows` (``$GATE_MAX_ROWS``); ``sheet``
    picks an Excel sheet by name (default: the first, see :func:`excel_sheets`). Reading stops
    with a :class:`TableReadError` after ``seconds`` (default :func:`gate_core.limits.read_seconds`); a single parser
    call (pandas, openpyxl) is not interrupted, only followed by a check, so the app reads in
    the isolated worker too (:func:`read_table_isolated`), whose overrun is killed.
    """
    deadline = _Deadline(seconds)
    max_rows = limits.max_rows() if max_rows is None else max_rows
    if isinstance(data, (str, Path)):
        path = Path(data)
        if not path.is_file():
            raise TableReadError(f"file not found: {path}")
        _check_size(path.stat().st_size)
        filename = filename or path.name
        data = path.read_bytes()
    _check_size(len(data))
    name = (filename or "upload.csv").lower()
    suffix = Path(name).suffix
    if not data or not data.strip():
        raise TableReadError("the file is empty")
    try:
        if suffix == ".sdf":
            frame = _read_sdf(data, max_rows, deadline)
        elif suffix in EXCEL_SUFFIXES:
            frame = _read_excel(data, sheet, max_rows, deadline)
        elif suffix in (".csv", ".tsv", ".txt", ""):
            frame = _read_delimited(data, suffix, deadline)
        else:
            raise TableReadError(
                f"unsupported file type '{suffix}'; use one of {', '.join(SUPPORTED_SUFFIXES)}"
            )
    except TableReadError:
        raise
    except Exception as exc:  # pandas/openpyxl raise many types for garbage input
        raise TableReadError(f"could not read the file as a table: {exc}") from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    if frame.shape[1] < 1 or len(frame) == 0:
        raise TableReadError("the table has no data rows")
    if len(frame) > max_rows:
        raise TableReadError(f"the table has {len(frame)} rows; the limit is {max_rows}")
    return frame


#: Key of ``DataFrame.attrs`` where :func:`read_table_isolated` leaves the detected SMILES column.
SMILES_COLUMN_ATTR = "detected_smiles_column"
#: Seconds the worker gets beyond the read bound before it is killed (its own check fires first).
_KILL_GRACE_S = 5.0


def _read_and_detect(
    environment: dict[str, str | None], *args: object
) -> tuple[pd.DataFrame, str | None]:
    """In the worker: the caller's limits, then :func:`read_table` and :func:`detect_smiles_column`."""
    for name, value in environment.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    frame = read_table(*args)  # type: ignore[arg-type]
    return frame, detect_smiles_column(frame)


def read_table_isolated(
    data: bytes,
    filename: str,
    max_rows: int | None = None,
    sheet: str | None = None,
    worker: IsolatedWorker | None = None,
) -> pd.DataFrame:
    """:func:`read_table` in the isolated worker (:mod:`gate_core.isolation`), for a server.

    RDKit runs while reading (SDF records, the header check) and detecting the SMILES column, so
    all of it happens there; the detected column is left in ``frame.attrs`` (read it with
    :func:`detected_smiles_column`). The read's time bound is hard here: a worker still busy
    shortly after it is killed. A crash or an overrun is a :class:`TableReadError`.
    """
    seconds = limits.read_seconds()
    names = (limits.MAX_ROWS_ENV, limits.MAX_UPLOAD_MB_ENV, limits.READ_SECONDS_ENV)
    environment = {k: os.environ.get(k) for k in names}
    try:
        frame, column = (worker or default_worker()).run(
            _read_and_detect,
            environment,
            data,
            filename,
            max_rows,
            sheet,
            seconds,
            what=f"reading '{filename}'",
            timeout=seconds + _KILL_GRACE_S,
        )
    except WorkerTimeout as exc:
        raise TableReadError(
            f"reading the file took more than {seconds:g} s and was stopped"
        ) from exc
    except WorkerCrashed as exc:
        raise TableReadError(str(exc)) from exc
    frame.attrs[SMILES_COLUMN_ATTR] = column
    return frame


def detected_smiles_column(frame: pd.DataFrame) -> str | None:
    """The SMILES column found by :func:`read_table_isolated`, else :func:`detect_smiles_column`."""
    if SMILES_COLUMN_ATTR in frame.attrs:
        return frame.attrs[SMILES_COLUMN_ATTR]
    return detect_smiles_column(frame)


def detect_smiles_column(frame: pd.DataFrame, sample: int = 20) -> str | None:
    """The column whose first values parse as SMILES most often (name 'smiles' wins ties)."""
    best, best_rate = None, 0.0
    for col in frame.columns:
        values = frame[col].dropna().astype(str).head(sample)
        if values.empty or pd.api.types.is_numeric_dtype(frame[col]):
            continue
        rate = float(np.mean([parse_smiles(v).ok for v in values]))
        rate += 0.5 if "smiles" in col.lower() else 0.0
        if rate > best_rate:
            best, best_rate = col, rate
    return best if best_rate >= 0.5 else None


#: First characters that make a spreadsheet read a cell as a formula (OWASP, CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def _formula_like(value: object) -> bool:
    """Text a spreadsheet could run: it starts like a formula and is not a plain number (a
    streamed file's columns arrive as text, and ``-0.31`` must stay a number)."""
    if not (isinstance(value, str) and value.startswith(FORMULA_PREFIXES)):
        return False
    try:
        float(value)
    except ValueError:
        return True
    return False


def spreadsheet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy whose text cells cannot run as formulas when the CSV is opened in a spreadsheet.

    Text starting with one of :data:`FORMULA_PREFIXES` gets a leading ``'`` (OWASP's advice),
    unless it is a plain number; numeric columns are left alone, so a negative number stays a
    number.
    """
    out = frame.copy()
    for col in out.columns:
        if pd.api.types.is_numeric_dtype(out[col]) or pd.api.types.is_bool_dtype(out[col]):
            continue
        out[col] = out[col].map(lambda v: "'" + v if _formula_like(v) else v)
    out.columns = [
        "'" + c if isinstance(c, str) and c.startswith(FORMULA_PREFIXES) else c for c in out.columns
    ]
    return out
