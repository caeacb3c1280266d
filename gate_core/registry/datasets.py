"""The uploaded datasets, stored in the database as CSV and addressed by their sha256.

Why: a task is only auditable and retrainable if the exact table it was trained on is kept
with it; content addressing stores a table once however many tasks and runs use it.
"""

from __future__ import annotations

import hashlib
import io
import sqlite3
from typing import TYPE_CHECKING, Union

from gate_core.registry.errors import RegistryError
from gate_core.registry.records import utc_now

if TYPE_CHECKING:
    import pandas as pd

#: A dataset as the registry accepts it: a DataFrame, or the CSV file's bytes.
Dataset = Union["pd.DataFrame", bytes]


def encode(dataset: Dataset) -> tuple[bytes, int | None]:
    """Return ``(CSV bytes, number of rows or None)`` for a DataFrame or raw CSV bytes."""
    if isinstance(dataset, (bytes, bytearray, memoryview)):
        return bytes(dataset), None
    if hasattr(dataset, "to_csv"):
        return dataset.to_csv(index=False).encode("utf-8"), len(dataset)
    raise RegistryError(
        f"A dataset must be a pandas DataFrame or CSV bytes, not {type(dataset).__name__}."
    )


def decode(content: bytes) -> pd.DataFrame:
    import pandas as pd

    return pd.read_csv(io.BytesIO(content))


def store(conn: sqlite3.Connection, content: bytes, n_rows: int | None) -> str:
    """Insert the dataset unless already present (inside the caller's transaction); return its hash."""
    digest = hashlib.sha256(content).hexdigest()
    conn.execute(
        "INSERT OR IGNORE INTO datasets (hash, content, n_rows, created) VALUES (?, ?, ?, ?)",
        (digest, content, n_rows, utc_now()),
    )
    return digest


def load(conn: sqlite3.Connection, digest: str) -> bytes:
    row = conn.execute("SELECT content FROM datasets WHERE hash = ?", (digest,)).fetchone()
    if row is None:
        raise RegistryError(f"Dataset {digest[:12]} is not in the registry.")
    return bytes(row["content"])


def prune(conn: sqlite3.Connection, digest: str | None) -> None:
    """Delete a dataset that no task or run refers to any more."""
    if digest:
        conn.execute(
            "DELETE FROM datasets WHERE hash = ? AND NOT EXISTS (SELECT 1 FROM tasks WHERE dataset_hash = ?)"
            " AND NOT EXISTS (SELECT 1 FROM runs WHERE dataset_hash = ?)",
            (digest, digest, digest),
        )
