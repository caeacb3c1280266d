"""The bundled example datasets a chemist can try the app with (``assets/data/targets``).

Why in the library: which examples exist, and their units and task types, come from the same
target specs the data builders use; a page only lists them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gate_core.paths import EXAMPLES_DIR


@dataclass(frozen=True)
class ExampleDataset:
    """A bundled target dataset (``assets/data/targets/<name>.csv``: ``smiles,value``)."""

    name: str
    label: str
    unit: str
    task_type: str
    path: Path
    citation: str = ""


def example_datasets(folder: str | Path = EXAMPLES_DIR) -> list[ExampleDataset]:
    """The bundled example datasets that exist on disk, by label."""
    from gate_core.data.builders.targets import TARGETS

    folder = Path(folder)
    found = [
        ExampleDataset(
            spec.name,
            spec.label,
            spec.unit,
            spec.task_type,
            folder / f"{spec.name}.csv",
            spec.citation,
        )
        for spec in TARGETS.values()
        if (folder / f"{spec.name}.csv").is_file()
    ]
    return sorted(found, key=lambda e: e.label.lower())
