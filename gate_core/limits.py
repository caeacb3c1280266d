"""Every limit that protects the process from a careless or hostile input, in one place.

Why one module: the README's trust-boundary section lists these numbers, and a limit copied
into a page or a verb is a limit the other interfaces skip. Molecule limits are applied by
:func:`gate_core.featurizers.molecule.parse_smiles`, table limits by
:func:`gate_core.data.io.read_table`, archive limits by :mod:`gate_core.registry.archive`.

Molecule limits, chosen from the data: the largest of the 28,783 molecules in the shipped
tables (the backbone's table and the 18 target sets) has 136 heavy atoms, 338 SMILES characters
and 37 rings. RDKit's canonical SMILES writer recurses along a chain and overflows the stack
(signal 11, the whole process) at about 20,000 atoms, while parsing stays safe past 100,000;
1,000 heavy atoms leaves a wide margin on both sides.
"""

from __future__ import annotations

import os

#: Characters of one SMILES; checked on the raw text before RDKit sees it.
MAX_SMILES_CHARS = 10_000
#: Heavy atoms and rings of one molecule; checked after parsing, before any RDKit call that
#: recurses over the graph (canonical SMILES, fragments, drawing).
MAX_HEAVY_ATOMS = 1_000
MAX_RINGS = 200

#: Defaults of the two limits a deployment may change (``GATE_MAX_ROWS``, ``GATE_MAX_UPLOAD_MB``).
MAX_ROWS_ENV, DEFAULT_MAX_ROWS = "GATE_MAX_ROWS", 20_000
MAX_UPLOAD_MB_ENV, DEFAULT_MAX_UPLOAD_MB = (
    "GATE_MAX_UPLOAD_MB",
    50,
)  # Streamlit's own cap is server.maxUploadSize (50)
#: Wall-clock seconds reading one uploaded table may take (``GATE_READ_SECONDS``): checked
#: between the reading steps and inside their loops; the app also reads in the isolated worker
#: (:mod:`gate_core.isolation`), which is killed when it overruns.
READ_SECONDS_ENV, DEFAULT_READ_SECONDS = "GATE_READ_SECONDS", 30.0
#: Columns of an uploaded table, and characters of one of its lines.
MAX_COLUMNS = 1_000
MAX_LINE_CHARS = 1_000_000
#: Labels beyond this magnitude are refused per row: their squares overflow float32 (the
#: scaler and the losses), which trains a model that predicts NaN.
MAX_ABS_LABEL = 1e15

#: ``.gatetask`` import: each member, all members together (declared and actually read),
#: the manifest, and the number of members.
MAX_ARCHIVE_MEMBER_BYTES = 256 << 20
MAX_ARCHIVE_TOTAL_BYTES = 512 << 20
MAX_MANIFEST_BYTES = 1 << 20
MAX_ARCHIVE_MEMBERS = 64


def _int_env(name: str, default: int) -> int:
    try:
        return max(1, int(os.environ.get(name, default)))
    except ValueError:
        return default


def max_rows() -> int:
    """Rows of one uploaded table (``$GATE_MAX_ROWS``, read on every call so tests can set it)."""
    return _int_env(MAX_ROWS_ENV, DEFAULT_MAX_ROWS)


class TooManyEntries(ValueError):
    """More molecules typed or pasted than one uploaded table may hold."""


def check_typed_entries(n: int) -> None:
    """Refuse more typed or pasted molecules than :func:`max_rows` allows a file.

    Why: the Predict box, the Latent-space box and ``predict --smiles`` would otherwise take
    any number of molecules that an uploaded table of the same rows is refused for, and hold
    the server for as long. Beyond the limit, ``predict --data FILE --out OUT`` streams a file
    of any size.
    """
    limit = max_rows()
    if n > limit:
        raise TooManyEntries(
            f"{n:,} molecules were typed or pasted; the limit is {limit:,}, as for an uploaded "
            f"file (${MAX_ROWS_ENV}). For more, stream a file: "
            "python -m gate_core predict --data FILE --out OUT"
        )


def max_upload_mb() -> int:
    """Megabytes of one uploaded file (``$GATE_MAX_UPLOAD_MB``)."""
    return _int_env(MAX_UPLOAD_MB_ENV, DEFAULT_MAX_UPLOAD_MB)


def read_seconds() -> float:
    """Seconds reading one table may take (``$GATE_READ_SECONDS``, a positive number)."""
    try:
        value = float(os.environ.get(READ_SECONDS_ENV, DEFAULT_READ_SECONDS))
    except ValueError:
        return DEFAULT_READ_SECONDS
    return value if value > 0 else DEFAULT_READ_SECONDS
