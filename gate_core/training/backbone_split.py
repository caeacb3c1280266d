"""The backbone's own train/validation/test split, rebuilt after pre-training, in one place.

Why one place: the relational head trains on the backbone's training fold, the backbone's
intervals calibrate on its validation fold, ``evaluate`` and the benchmarks score its test fold.
A split rebuilt from another table, or from the right table with another subsample, would
score a model on molecules it trained on, silently. So every rebuild goes through here, and
here the table's content hash and the fold sizes are checked against the backbone's metadata.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gate_core.data.splits import split
from gate_core.data.table import MultiTaskTable
from gate_core.paths import REPO_ROOT
from gate_core.training.pretrain import PretrainConfig, load_table

Folds = tuple[np.ndarray, np.ndarray, np.ndarray]


def resolve_table_path(path: str) -> str:
    """A table path from checkpoint metadata: as written, else relative to the repository root."""
    p = Path(path)
    if p.is_file() or p.is_absolute():
        return str(p)
    return str(REPO_ROOT / p) if (REPO_ROOT / p).is_file() else str(p)


def _pretraining_config(meta: dict, table_path: str | None) -> PretrainConfig:
    cfg = (meta.get("pretraining") or {}).get("config")
    if not cfg:
        raise ValueError(
            "the backbone's metadata has no pre-training config; its split cannot be recomputed"
        )
    config = PretrainConfig.from_dict(
        {**cfg, "table": resolve_table_path(table_path or cfg["table"])}
    )
    if not Path(config.table).is_file():
        raise ValueError(
            f"the backbone's table {config.table} is not there "
            "(build it with `python -m gate_core.data.builders`)"
        )
    return config


def rebuild_split(
    meta: dict, table_path: str | None = None
) -> tuple[PretrainConfig, MultiTaskTable, Folds]:
    """The whole pre-training table (corpus and families included) and its folds, as ``pretrain``
    made them; ``ValueError`` when the table's content hash or the fold sizes differ from the
    ones the backbone recorded."""
    info = meta.get("pretraining") or {}
    config = _pretraining_config(meta, table_path)
    table = load_table(config)
    recorded = info.get("data_hash")
    if recorded and table.content_hash() != recorded:
        raise ValueError(
            f"{config.table} is not the table the backbone was trained on "
            f"(content hash {table.content_hash()} ≠ {recorded})"
        )
    folds = split(table.smiles, config.split, config.split_fractions, config.seed)
    sizes = info.get("split") or {}
    if sizes and tuple(sizes.get(k) for k in ("train", "val", "test")) != tuple(map(len, folds)):
        raise ValueError("the recomputed split differs from the backbone's recorded fold sizes")
    return config, table, folds


def backbone_split(
    meta: dict, task_names: list[str], table_path: str | None = None
) -> tuple[MultiTaskTable, np.ndarray, np.ndarray, np.ndarray]:
    """The backbone's measured-property table and its (train, val, test) indices.

    ``task_names`` are the backbone's measured properties (``GATEModel.property_names``). A v2
    backbone's table also holds its corpus molecules and descriptor-family columns, and its split
    depends on them; it records the validation and test molecules that carry measured labels
    (``measured_folds``), so the measured table alone rebuilds the folds and the corpus, a build
    artefact, is not needed where the backbone is used. Otherwise :func:`rebuild_split`.
    """
    info = meta.get("pretraining") or {}
    config = _pretraining_config(meta, table_path)
    if list(config.tasks) != list(task_names):
        raise ValueError(
            f"the backbone's tasks {task_names} differ from its pre-training config's {config.tasks}"
        )
    if info.get("measured_folds"):
        measured = MultiTaskTable.read_long(config.table, list(task_names))
        return _split_from_recorded_folds(measured, info["measured_folds"], config.table)
    _, table, (train_idx, val_idx, test_idx) = rebuild_split(meta, config.table)
    if table.tasks != list(task_names):
        columns = [table.tasks.index(t) for t in task_names]
        table = MultiTaskTable(table.smiles, list(task_names), table.Y[:, columns])
    return table, train_idx, val_idx, test_idx


def _split_from_recorded_folds(
    table: MultiTaskTable, folds: dict[str, list[str]], path: str
) -> tuple[MultiTaskTable, np.ndarray, np.ndarray, np.ndarray]:
    fold_of = {s: name for name in ("val", "test") for s in folds[name]}
    assigned = np.array([fold_of.get(s, "train") for s in table.smiles])
    val_idx, test_idx = np.flatnonzero(assigned == "val"), np.flatnonzero(assigned == "test")
    if (len(val_idx), len(test_idx)) != (len(folds["val"]), len(folds["test"])):
        raise ValueError(
            f"{path} is not the table the backbone was trained on: "
            "some of its recorded validation/test molecules are missing"
        )
    return table, np.flatnonzero(assigned == "train"), val_idx, test_idx
