"""Reading a user's table (CSV, TSV, Excel, SDF) and guessing its SMILES and target columns.

Why here: the CLI and the app must accept the same files and say the same things about them.
Every failure is a :class:`TableReadError` with a sentence a chemist can act on.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pandas as pd
from rdkit import Chem

from gate_core.featurizers.molecule import parse_smiles

SUPPORTED_SUFFIXES = (".csv", ".tsv", ".txt", ".xlsx", ".xls", ".sdf")
# SMILES never contain these; letting the sniffer pick any character splits a one-column file
# ("smiles\nCCO\n...") on a letter of its header
SEPARATORS = ",\t;|"


class TableReadError(ValueError):
    """The file is not a table we can read; the message says why."""


def _read_sdf(data: bytes) -> pd.DataFrame:
    rows = []
    supplier = Chem.ForwardSDMolSupplier(io.BytesIO(data), sanitize=True)
    for i, mol in enumerate(supplier, start=1):
        if mol is None:
            rows.append({"smiles": None, "_sdf_record": i})
            continue
        record = {"smiles": Chem.MolToSmiles(mol), "_sdf_record": i}
        record.update(mol.GetPropsAsDict())
        rows.append(record)
    if not rows:
        raise TableReadError("the SDF file holds no molecule records")
    if all(r["smiles"] is None for r in rows):
        raise TableReadError(f"none of the {len(rows)} SDF record(s) could be read as a molecule; is this an SDF file?")
    return pd.DataFrame(rows).drop(columns="_sdf_record")


def _separator(text: str, suffix: str) -> str:
    """The column separator among :data:`SEPARATORS`, sniffed from the first lines."""
    sample = "\n".join(text.splitlines()[:50])
    try:
        return csv.Sniffer().sniff(sample, delimiters=SEPARATORS).delimiter
    except csv.Error:  # one column, or no consistent separator
        return "\t" if suffix == ".tsv" else ","


def read_table(data: bytes | str | Path, filename: str | None = None, max_rows: int | None = None) -> pd.DataFrame:
    """Read bytes or a path into a DataFrame; the format follows the file name's suffix."""
    if isinstance(data, (str, Path)):
        path = Path(data)
        if not path.is_file():
            raise TableReadError(f"file not found: {path}")
        filename = filename or path.name
        data = path.read_bytes()
    name = (filename or "upload.csv").lower()
    suffix = Path(name).suffix
    if not data or not data.strip():
        raise TableReadError("the file is empty")
    try:
        if suffix == ".sdf":
            frame = _read_sdf(data)
        elif suffix in (".xlsx", ".xls"):
            try:
                frame = pd.read_excel(io.BytesIO(data))
            except Exception as exc:
                raise TableReadError(f"the file is not a readable Excel workbook ({exc})") from exc
        elif suffix in (".csv", ".tsv", ".txt", ""):
            text = None
            for encoding in ("utf-8-sig", "latin-1"):
                try:
                    text = data.decode(encoding)
                    break
                except UnicodeDecodeError:
                    continue
            if text is None or "\x00" in text:
                raise TableReadError("the file is not text (is it a binary file with a .csv name?)")
            frame = pd.read_csv(io.StringIO(text), sep=_separator(text, suffix))
        else:
            raise TableReadError(f"unsupported file type '{suffix}'; use one of {', '.join(SUPPORTED_SUFFIXES)}")
    except TableReadError:
        raise
    except Exception as exc:  # pandas/openpyxl raise many types for garbage input
        raise TableReadError(f"could not read the file as a table: {exc}") from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    if frame.shape[1] < 1 or len(frame) == 0:
        raise TableReadError("the table has no data rows")
    if max_rows is not None and len(frame) > max_rows:
        raise TableReadError(f"the table has {len(frame)} rows; the limit is {max_rows}")
    return frame


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


def detect_target_column(frame: pd.DataFrame, smiles_column: str | None) -> str | None:
    """The first mostly-numeric column other than the SMILES column."""
    for col in frame.columns:
        if col == smiles_column:
            continue
        numeric = pd.to_numeric(frame[col], errors="coerce")
        if numeric.notna().mean() >= 0.8 and numeric.nunique() > 1:
            return col
    return None
