"""Multi-task GATE pre-training on a sparse label table: the backbone builder (DESIGN §3).

One function, :func:`pretrain`, used by the CLI (``python -m gate_core pretrain``), by
``torchrun`` for data-parallel runs, by the tests (tiny table, seconds) and by the benchmarks
(the "no alignment" ablation and single-task baselines are the same loop with other settings).
"""

from __future__ import annotations

import json
import resource
import shutil
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler
from tqdm.auto import tqdm

from gate_core.data.builders.chemicals import TASKS as CHEMICAL_TASKS
from gate_core.data.builders.corpus import read_corpus
from gate_core.data.collate import MoleculeDataset
from gate_core.data.featurize import featurize_molecules
from gate_core.data.graph_store import GraphStore, GraphSubset, build_graph_store
from gate_core.data.scaler import StandardScaler
from gate_core.data.splits import SPLITS, split
from gate_core.data.table import MultiTaskTable
from gate_core.featurizers.descriptor_families import family_description
from gate_core.featurizers.descriptors import DESCRIPTOR_SET_VERSION, FAST_DESCRIPTOR_NAMES
from gate_core.featurizers.graph import ATOM_DIM, BOND_DIM, FEATURIZER_VERSION
from gate_core.models.checkpoint import save_checkpoint, source_skill
from gate_core.models.gate import GATEConfig, GATEModel, TaskInfo
from gate_core.registries import ALIGNMENT_FORMS
from gate_core.training.distributed import (
    DistributedContext,
    barrier,
    init_distributed,
    shutdown_distributed,
)
from gate_core.training.early_stopping import EarlyStopping
from gate_core.training.engine import EpochEnd, FitConfig, Progress, Step, fit
from gate_core.training.evaluate import evaluate_table
from gate_core.training.objective import LOSS_TERMS, GATEObjective, LossWeights
from gate_core.training.resume import load_resume_state, save_resume_state

PRETRAINING_TASKS = [t.name for t in CHEMICAL_TASKS if t.pretraining]
_UNITS = {t.name: t.unit for t in CHEMICAL_TASKS}
_LABELS = {t.name: t.label for t in CHEMICAL_TASKS}


@dataclass
class PretrainConfig:
    """Every knob of a pre-training run; stored in the checkpoint so a run can be repeated."""

    table: str = "assets/data/chemicals_properties.csv.gz"
    tasks: list[str] = field(default_factory=lambda: list(PRETRAINING_TASKS))
    #: backbone v2: a corpus folder (``data/builders/corpus.py``) whose descriptor families become
    #: computed source tasks; ``families`` picks some (None: every family of the corpus).
    corpus: str | None = None
    families: list[str] | None = None
    split: str = "scaffold"
    split_fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    seed: int = 0
    max_molecules: int | None = None
    epochs: int = 40
    patience: int = 6
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.0
    hidden: int = 300
    depth: int = 3
    dropout: float = 0.0
    latent_dim: int = 64
    task_hidden: int = 128
    descriptors: bool = True
    alignment_form: str = "mean"
    weights: LossWeights = field(default_factory=LossWeights)
    device: str | None = None
    threads: int | None = None
    max_minutes: float | None = None
    #: GPU scale: featurised graphs memory-mapped from this folder (built on first use), loader
    #: worker processes, and bf16 autocast on CUDA (ignored on the CPU).
    graph_store: str | None = None
    loader_workers: int = 0
    amp: bool = True

    def __post_init__(self) -> None:
        """Refuse an unknown split or alignment form where the config is made (a typo in a
        ``--config`` JSON), not at the first training batch."""
        SPLITS.check(self.split)
        ALIGNMENT_FORMS.check(self.alignment_form)

    @classmethod
    def from_dict(cls, data: dict) -> PretrainConfig:
        data = dict(data)
        if "weights" in data and isinstance(data["weights"], dict):
            data["weights"] = LossWeights(**data["weights"])
        if "split_fractions" in data:
            data["split_fractions"] = tuple(data["split_fractions"])
        return cls(**data)

    def to_dict(self) -> dict:
        return asdict(self)


def load_table(config: PretrainConfig) -> MultiTaskTable:
    """The configured tasks' label table, optionally subsampled deterministically.

    Measured tasks come from the long table (one column each). With a corpus, every corpus
    molecule joins the table and each descriptor family adds its columns (``family:descriptor``);
    the measured columns of corpus-only molecules are NaN.
    """
    table = MultiTaskTable.read_long(config.table, config.tasks)
    if config.corpus:
        table = _join_corpus(table, config.corpus, config.families)
    if config.max_molecules and len(table) > config.max_molecules:
        keep = np.sort(
            np.random.default_rng(config.seed).permutation(len(table))[: config.max_molecules]
        )
        table = table.subset(keep)
    return table


def _join_corpus(
    measured: MultiTaskTable, corpus: str, families: list[str] | None
) -> MultiTaskTable:
    smiles, labels, manifest = read_corpus(corpus)
    chosen = families if families is not None else list(manifest["families"])
    unknown = [f for f in chosen if f not in manifest["families"]]
    if unknown:
        raise ValueError(
            f"families {unknown} are not in the corpus at {corpus}; it has {list(manifest['families'])}"
        )
    column_of = {c: j for j, c in enumerate(manifest["columns"])}
    picked = [column_of[d] for f in chosen for d in manifest["families"][f]]
    names = [f"{f}:{d}" for f in chosen for d in manifest["families"][f]]
    all_smiles = sorted(set(measured.smiles) | set(smiles))
    row = {s: i for i, s in enumerate(all_smiles)}
    Y = np.full((len(all_smiles), len(measured.tasks) + len(names)), np.nan, dtype=np.float32)
    Y[[row[s] for s in measured.smiles], : len(measured.tasks)] = measured.Y
    Y[[row[s] for s in smiles], len(measured.tasks) :] = labels[:, picked]
    return MultiTaskTable(all_smiles, [*measured.tasks, *names], Y)


def measured_folds(
    table: MultiTaskTable, columns: list[int], val_idx: np.ndarray, test_idx: np.ndarray
) -> dict[str, list[str]]:
    """Validation and test molecules that carry a measured label: with these the measured table alone
    rebuilds the folds of a corpus-trained backbone (see ``training.backbone_split.backbone_split``)."""
    labelled = table.mask[:, columns].any(axis=1)
    return {
        name: [table.smiles[i] for i in idx if labelled[i]]
        for name, idx in (("val", val_idx), ("test", test_idx))
    }


def summarise_families(column_metrics: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """Per descriptor family: mean and minimum R² over its columns, and the molecules tested."""
    grouped: dict[str, list[dict[str, float]]] = {}
    for name, metrics in column_metrics.items():
        if ":" in name:
            grouped.setdefault(name.split(":", 1)[0], []).append(metrics)
    return {
        family: {
            "r2_mean": float(np.nanmean([m["r2"] for m in ms])),
            "r2_min": float(np.nanmin([m["r2"] for m in ms])),
            "n": int(max(m["n"] for m in ms)),
            "columns": len(ms),
        }
        for family, ms in grouped.items()
    }


def task_infos(columns: list[str]) -> list[TaskInfo]:
    """The model's tasks from the table's columns: one per measured task, one per family."""
    tasks: list[TaskInfo] = []
    for column in columns:
        if ":" not in column:
            tasks.append(
                TaskInfo(column, _UNITS.get(column, ""), "regression", _LABELS.get(column, ""))
            )
            continue
        family, descriptor = column.split(":", 1)
        if not tasks or tasks[-1].name != family:
            tasks.append(
                TaskInfo(family, "", "regression", family_description(family), kind="computed")
            )
        tasks[-1].outputs.append(descriptor)
    return tasks


def build_model(config: PretrainConfig, tasks: list[TaskInfo]) -> GATEModel:
    return GATEModel(
        GATEConfig(
            atom_dim=ATOM_DIM,
            bond_dim=BOND_DIM,
            tasks=tasks,
            hidden=config.hidden,
            depth=config.depth,
            dropout=config.dropout,
            latent_dim=config.latent_dim,
            task_hidden=config.task_hidden,
            n_descriptors=len(FAST_DESCRIPTOR_NAMES) if config.descriptors else 0,
            featurizer_version=FEATURIZER_VERSION,
            descriptor_set_version=DESCRIPTOR_SET_VERSION if config.descriptors else "",
        )
    )


def _validation_loss(model: GATEModel, loader: DataLoader, device: torch.device) -> float:
    """Mean over tasks of the standardised MSE on the validation fold (the early-stopping score)."""
    preds, ys, masks = [], [], []
    for batch in loader:
        batch = batch.to(device)
        preds.append(model.predict_scaled(model.representation(batch.graph, batch.descriptors)))
        ys.append(batch.y)
        masks.append(batch.mask)
    pred, y, mask = torch.cat(preds), torch.cat(ys), torch.cat(masks)
    err = ((pred - y) ** 2) * mask
    count = mask.sum(0)
    present = count > 0
    return float((err.sum(0)[present] / count[present]).mean())


def _peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def split_by_reference(
    smiles: list[str], reference: dict[str, str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Train/val/test indices from a ``{smiles: "train"|"val"|"test"}`` map (unknown → train).

    Why: baselines trained on a subset of tasks must be tested on exactly the molecules the
    multi-task model was tested on, not on a split recomputed from their smaller table.
    """
    fold = np.array([reference.get(s, "train") for s in smiles])
    return tuple(np.flatnonzero(fold == name) for name in ("train", "val", "test"))  # type: ignore[return-value]


@dataclass
class PretrainResult:
    """A pre-training run: the trained model (best validation epoch) and what the run measured.

    Every field but ``model`` and ``history`` is stored in the checkpoint's metadata under
    ``"pretraining"`` (:meth:`metadata`); ``split`` holds the fold kind, seed and sizes, and
    ``measured_folds`` the measured validation/test molecules of a corpus-trained backbone.
    """

    model: GATEModel
    tasks: list[str]
    n_molecules: int
    n_labels: int
    labels_per_task: dict[str, int]
    split: dict
    data_hash: str
    best_epoch: int
    epochs_run: int
    best_val_reg: float
    stopped_by: str
    test_metrics: dict[str, dict[str, float]]
    family_test_metrics: dict[str, dict[str, float]]
    measured_folds: dict[str, list[str]] | None
    featurize_seconds: float
    featurize_molecules_per_second: float
    train_seconds: float
    train_molecules_per_second: float
    wall_seconds: float
    peak_memory_mb: float
    device: str
    world_size: int
    config: dict
    history: list[dict]

    def metadata(self) -> dict:
        """The run's summary as the checkpoint stores it (no model, no per-epoch history)."""
        return {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if f.name not in ("model", "history")
        }


def pretrain(
    config: PretrainConfig,
    out_dir: str | Path | None = None,
    log_path: str | Path | None = None,
    progress: bool = True,
    split_reference: dict[str, str] | None = None,
    table: MultiTaskTable | None = None,
) -> PretrainResult:
    """Train a multi-task GATE model; returns the result and (if ``out_dir``) saves the checkpoint.

    Early stopping watches the validation fold's standardised MSE; the best epoch's weights
    are kept. Each epoch appends one JSON line with every loss term to ``log_path``.
    ``split_reference`` pins each molecule's fold (see :func:`split_by_reference`); ``table``
    replaces ``config.table`` with an in-memory table (benchmarks train single-task baselines so).
    With ``out_dir`` the state after each epoch is kept in ``<out_dir>.resume`` and a rerun of the
    same config on the same data resumes after the last finished epoch.
    """
    ctx: DistributedContext = init_distributed(config.device)
    if config.threads:
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed + ctx.rank)
    started = time.perf_counter()

    table = table if table is not None else load_table(config)
    if split_reference is not None:
        train_idx, val_idx, test_idx = split_by_reference(table.smiles, split_reference)
    else:
        train_idx, val_idx, test_idx = split(
            table.smiles, config.split, config.split_fractions, config.seed
        )
    t0 = time.perf_counter()
    if config.graph_store:
        if ctx.is_main:
            build_graph_store(
                table.smiles,
                config.graph_store,
                max(1, config.loader_workers),
                progress and ctx.is_main,
            )
        barrier(ctx)
        graphs = GraphStore(config.graph_store)
        descriptors = (
            np.asarray(graphs.descriptors)
            if config.descriptors
            else np.zeros((len(graphs), 0), np.float32)
        )
    else:
        graphs, descriptors = featurize_molecules(
            table.smiles, descriptors=config.descriptors, progress=progress and ctx.is_main
        )
    featurize_seconds = time.perf_counter() - t0

    y_scaler = StandardScaler.fit(table.Y[train_idx])
    model = build_model(config, task_infos(table.tasks))
    d_scaler = StandardScaler.fit(descriptors[train_idx]) if config.descriptors else None
    model.set_scalers(
        y_scaler.mean,
        y_scaler.std,
        d_scaler.mean if d_scaler else None,
        d_scaler.std if d_scaler else None,
    )
    model.to(ctx.device)

    y_scaled = y_scaler.transform(table.Y)

    def dataset(index: np.ndarray) -> MoleculeDataset:
        return MoleculeDataset(GraphSubset(graphs, index), descriptors[index], y_scaled[index])

    train_set, val_set = dataset(train_idx), dataset(val_idx)
    sampler = (
        DistributedSampler(train_set, ctx.world_size, ctx.rank, shuffle=True, seed=config.seed)
        if ctx.enabled
        else None
    )
    train_loader = DataLoader(
        train_set,
        batch_size=config.batch_size,
        shuffle=sampler is None,
        sampler=sampler,
        collate_fn=train_set.collate,
        drop_last=len(train_set) > config.batch_size,
        num_workers=config.loader_workers,
        persistent_workers=config.loader_workers > 0,
        pin_memory=ctx.device.type == "cuda",
    )
    val_loader = DataLoader(val_set, batch_size=256, collate_fn=val_set.collate)

    objective = GATEObjective(model, config.weights, config.alignment_form)
    # without alignment the charts T_k, T_k⁻¹ get no gradient; DDP must be told or it raises
    step_fn = (
        DistributedDataParallel(objective, find_unused_parameters=not config.weights.aligned)
        if ctx.enabled
        else objective
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)

    def batches(epoch: int) -> DataLoader:
        if sampler is not None:
            sampler.set_epoch(epoch)
        return train_loader

    def step(batch: object) -> Step:
        terms = step_fn(batch)
        return Step(
            terms["total"],
            {name: terms[name] for name in (*LOSS_TERMS, "total")},
            batch.graph.num_graphs,
        )

    resume_dir = Path(str(out_dir) + ".resume") if out_dir is not None else None
    data_hash = table.content_hash()

    def resume(stopper: EarlyStopping) -> Progress | None:
        state = (
            load_resume_state(resume_dir, model, optimizer, stopper, config.to_dict(), data_hash)
            if resume_dir
            else None
        )
        if state is not None and progress and ctx.is_main:
            tqdm.write(f"resuming after epoch {state.epoch} from {resume_dir}")
        return state

    def save_state(end: EpochEnd) -> None:
        if resume_dir is not None and ctx.is_main:
            save_resume_state(
                resume_dir, end.progress, model, optimizer, end.stopper, config.to_dict(), data_hash
            )

    fitted = fit(
        model,
        optimizer,
        batches,
        step,
        lambda _: {"reg": _validation_loss(model, val_loader, ctx.device)},
        FitConfig(
            config.epochs,
            config.patience,
            monitor="reg",
            min_delta=1e-4,
            max_minutes=config.max_minutes,
        ),
        device=ctx.device,
        amp=config.amp,
        on_epoch=save_state,
        resume=resume,
        clock=started,
        ctx=ctx,
        log_path=log_path,
        progress=progress,
    )

    column_metrics = evaluate_table(model, table.subset(test_idx)) if len(test_idx) else {}
    history = fitted.history
    result = PretrainResult(
        model=model,
        tasks=model.task_names,
        n_molecules=len(table),
        n_labels=int(table.mask.sum()),
        labels_per_task={
            t: int(table.mask[:, model.output_columns(t)].any(axis=1).sum())
            for t in model.task_names
        },
        split={
            "kind": config.split,
            "seed": config.seed,
            "train": len(train_idx),
            "val": len(val_idx),
            "test": len(test_idx),
        },
        data_hash=data_hash,
        best_epoch=fitted.best_epoch,
        epochs_run=fitted.epochs_run,
        best_val_reg=fitted.best_score,
        stopped_by=fitted.stopped_by,
        test_metrics={name: m for name, m in column_metrics.items() if ":" not in name},
        family_test_metrics=summarise_families(column_metrics),
        measured_folds=measured_folds(table, model.property_columns(), val_idx, test_idx)
        if config.corpus
        else None,
        featurize_seconds=featurize_seconds,
        featurize_molecules_per_second=len(table) / max(featurize_seconds, 1e-9),
        train_seconds=fitted.train_seconds,
        train_molecules_per_second=float(np.mean([h["molecules_per_second"] for h in history]))
        if history
        else 0.0,
        wall_seconds=time.perf_counter() - started,
        peak_memory_mb=_peak_memory_mb(ctx.device),
        device=str(ctx.device),
        world_size=ctx.world_size,
        config=config.to_dict(),
        history=history,
    )
    model.source_skill = source_skill(result.metadata())
    if out_dir is not None and ctx.is_main:
        save_checkpoint(model, out_dir, {"pretraining": result.metadata()})
        (Path(out_dir) / "history.json").write_text(json.dumps(history, indent=1))
        if resume_dir is not None:
            shutil.rmtree(resume_dir, ignore_errors=True)  # the finished checkpoint supersedes it
    shutdown_distributed(ctx)
    return result
