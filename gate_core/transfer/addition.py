"""Add a new task onto a frozen backbone (DESIGN §4–§5, §7).

Flow: validate the user's rows → canonicalise → split off a test fold (optional; default none,
so every molecule trains the final model) → compute the frozen source quantities once → cut the
rest into K scaffold folds → train K ensemble members, member k validating (early stopping,
transfer ratios) on fold k and training on the others → fit the applicability domain →
:class:`AddedTask`.

Why K scaffold folds: the ensemble as a whole trains on every molecule, and each molecule gets an
out-of-fold prediction from the one member that never trained on it, on a fold of unseen
scaffolds like a chemist's next series. Those predictions give the task's quality estimate
(``metadata["oof_metrics"]``) and calibrate its intervals and probabilities
(:mod:`gate_core.transfer.calibration`) without holding any molecule back. The frozen-backbone
probe (``train_baseline``) is trained on the same folds, so its out-of-fold quality is
comparable and it can be chosen instead (:data:`~gate_core.registries.MODELS`).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
import torch

from gate_core.data.splits import SPLITS, holdout_split, scaffold_folds
from gate_core.data.table import InvalidRow, MultiTaskTable, label_numbers
from gate_core.models.fingerprint import backbone_fingerprint
from gate_core.models.gate import GATEModel, TaskInfo
from gate_core.nn.task_modules import TaskModules
from gate_core.registries import TASK_TYPES
from gate_core.training.early_stopping import EarlyStopping
from gate_core.training.evaluate import classification_metrics, regression_metrics
from gate_core.training.objective import LossWeights
from gate_core.transfer.added_task import AddedTask
from gate_core.transfer.calibration import Calibration
from gate_core.transfer.domain import ApplicabilityDomain
from gate_core.transfer.frozen import FrozenSources, compute_frozen_sources
from gate_core.transfer.objective import TaskAdditionLoss
from gate_core.transfer.options import ENSEMBLE, MAX_STEPS, TEST_FRACTION
from gate_core.transfer.ratios import (
    RatioSettings,
    TransferRatios,
    lookahead_hypergradient,
    ratios_from_scores,
    transferability,
    without_unskilled,
)

ProgressCallback = Callable[[dict], None]
MIN_ROWS = 20


class TaskDataError(ValueError):
    """The user's table cannot train a task; the message says why in plain words."""


@dataclass
class TaskAdditionConfig:
    """Knobs of task addition; defaults are what the app and CLI use."""

    ratios: RatioSettings = field(default_factory=RatioSettings)
    ensemble: int = ENSEMBLE.default
    task_type: str | None = None  # None: detect (0/1 labels → classification)
    test_fraction: float = TEST_FRACTION.default
    split: str = "scaffold"
    seed: int = 0
    max_steps: int = MAX_STEPS.default
    lr: float = 3e-3
    weight_decay: float = 1e-4
    batch_size: int = 128
    align_subsample: int = 64
    eval_every: int = 10
    patience: int = 6
    warmup_steps: int = 30
    outer_every: int = 10
    outer_lr: float = 0.2
    weights: LossWeights = field(default_factory=LossWeights)
    train_baseline: bool = False  # also train the frozen-backbone + new-head probe (K members, same folds) for comparison

    def __post_init__(self) -> None:
        """Refuse a bad option where the config is made, so every interface refuses it alike."""
        if self.task_type is not None:
            TASK_TYPES.check(self.task_type)
        SPLITS.check(self.split)
        TEST_FRACTION.check(self.test_fraction)
        ENSEMBLE.check(self.ensemble)
        MAX_STEPS.check(self.max_steps)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class TaskAdditionResult:
    task: AddedTask
    invalid: list[InvalidRow]
    n_duplicates_merged: int
    test_metrics: dict | None
    baseline_test_metrics: dict | None
    timings: dict
    test_predictions: dict | None = None
    oof: dict | None = (
        None  # smiles, y_true, fold, ad_score and each trained model's out-of-fold prediction
    )


def detect_task_type(values: np.ndarray) -> str:
    unique = np.unique(values)
    return (
        "classification"
        if len(unique) == 2 and set(unique.tolist()) <= {0.0, 1.0}
        else "regression"
    )


#: Above this share of text among the filled target cells, the column is refused whole: it is
#: not the measured values (a name or note column chosen by mistake), and training on its few
#: numbers would learn from the wrong column.
MAX_TEXT_SHARE = 0.5


def text_target_problem(values: list[object], column: str | None = None) -> str | None:
    """Why the target cells are not measured values (mostly text), or ``None``. The upload
    check (:func:`~gate_core.transfer.upload.validate_upload`) and :func:`add_task` both ask it,
    so the page, the CLI and the API refuse the same column."""
    raw = pd.Series(list(values), dtype=object)
    filled = raw.notna() & (raw.astype(str).str.strip() != "")
    text = filled & np.isnan(label_numbers(list(values)))
    if not filled.sum() or text.sum() / filled.sum() <= MAX_TEXT_SHARE:
        return None
    examples = ", ".join(repr(str(v))[:30] for v in raw[text].head(3))
    which = f"the target column '{column}'" if column is not None else "the target column"
    return f"{which} holds text, not numbers (e.g. {examples}); pick the column with the measured values"


def validate_task_table(table: MultiTaskTable, task_type: str, min_rows: int = MIN_ROWS) -> None:
    """Refuse data that cannot train a task, with the reason a chemist can act on."""
    n = len(table)
    if n < min_rows:
        raise TaskDataError(
            f"only {n} valid molecules after cleaning; at least {min_rows} are needed to add a task"
        )
    values = table.Y[:, 0]
    if np.unique(values).size < 2:
        if table.conflicts:
            example, given = next(iter(table.conflicts.items()))
            raise TaskDataError(
                f"{len(table.conflicts)} molecule(s) appear more than once with conflicting labels (e.g. {example[:40]}: "
                f"{', '.join(f'{v:g}' for v in given[:4])}); merged to their median, every label becomes {values[0]:g}"
            )
        raise TaskDataError("all labels are identical; there is nothing to learn")
    if task_type == "classification":
        if not set(np.unique(values).tolist()) <= {0.0, 1.0}:
            raise TaskDataError("classification labels must be 0 or 1")
        if min((values == 0).sum(), (values == 1).sum()) < 2:
            raise TaskDataError("classification needs at least two molecules of each class")


SINGLE_MEMBER_FOLDS = 7  # K = 1: validate on one of 7 scaffold folds (≈ 15 %)


def _member_folds(smiles: list[str], k: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """K (train, val) pairs over the molecules, by scaffold: K-fold when K ≥ 2, one ≈ 85/15 split otherwise."""
    folds = scaffold_folds(smiles, max(k, 2) if k > 1 else SINGLE_MEMBER_FOLDS, seed)
    pairs = [
        (np.sort(np.concatenate([f for j, f in enumerate(folds) if j != i])), folds[i])
        for i in range(len(folds))
    ]
    return pairs[:1] if k <= 1 else pairs


def train_member(
    backbone: GATEModel,
    frozen: FrozenSources,
    y: torch.Tensor,
    train_idx: np.ndarray,
    val_idx: np.ndarray,
    classification: bool,
    config: TaskAdditionConfig,
    ratio_settings: RatioSettings,
    seed: int,
    progress: Callable[[int, float, torch.Tensor], None] | None = None,
) -> tuple[TaskModules, dict]:
    """Train one ensemble member; returns the module (best validation step) and its ratio record."""
    torch.manual_seed(seed)
    device = frozen.h.device
    cfg = backbone.config
    task = TaskModules(cfg.representation_dim, cfg.latent_dim, cfg.task_hidden).to(device)
    loss_fn = TaskAdditionLoss(
        task, backbone, config.weights, classification, config.align_subsample
    )
    ratios = TransferRatios(backbone.task_names, ratio_settings).to(device)
    optimizer = torch.optim.Adam(
        task.parameters(), lr=config.lr, weight_decay=config.weight_decay, foreach=True
    )
    outer = torch.optim.Adam([ratios.phi], lr=config.outer_lr)
    tr, va = torch.as_tensor(train_idx, device=device), torch.as_tensor(val_idx, device=device)
    frozen_tr, frozen_va = frozen.subset(tr), frozen.subset(va)
    y_tr, y_va = y[tr], y[va]
    mask_tr = torch.ones_like(y_tr, dtype=torch.bool)
    rng = np.random.default_rng(seed)
    stopper, trajectory = EarlyStopping(task, config.patience), []
    learn = ratios.any_learnable
    if learn:  # start from what each source's own property explains of the target on this member's training fold
        widths = [m.width for m in backbone.tasks.values()]
        start = torch.ones(len(widths), device=device)
        start[ratios.learnable] = ratios_from_scores(
            transferability(frozen_tr.y_hat, widths, y_tr)[ratios.learnable]
        )
        ratios.start_from(start)
        trajectory.append({"step": 0, "ratios": ratios().detach().cpu().tolist()})
    for step in range(1, config.max_steps + 1):
        if len(train_idx) > config.batch_size:
            b = torch.as_tensor(
                rng.choice(len(train_idx), config.batch_size, replace=False), device=device
            )
            batch = (frozen_tr.subset(b, config.align_subsample), y_tr[b], mask_tr[b])
        elif len(train_idx) > config.align_subsample:
            # the alignment terms use the batch's first ``align_subsample`` molecules: shuffle, or
            # the same (alphabetically first) molecules would be aligned at every step
            b = torch.as_tensor(rng.permutation(len(train_idx)), device=device)
            batch = (frozen_tr.subset(b, config.align_subsample), y_tr[b], mask_tr[b])
        else:
            batch = (frozen_tr, y_tr, mask_tr)
        lam = ratios().detach()
        loss = loss_fn.inner_loss(*batch, lam)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if learn and step > config.warmup_steps and step % config.outer_every == 0:
            hyper = lookahead_hypergradient(
                loss_fn, ratios(), batch, (frozen_va, y_va), eta=config.lr
            )
            outer.zero_grad(set_to_none=True)
            ratios().backward(hyper)  # chain rule through softplus; fixed entries get no gradient
            outer.step()
            trajectory.append({"step": step, "ratios": ratios().detach().cpu().tolist()})
        if step % config.eval_every == 0 or step == config.max_steps:
            with torch.no_grad():
                val = float(loss_fn.validation_loss(frozen_va, y_va))
            if progress:
                progress(step, val, ratios().detach())
            if stopper.update(val, step):
                break
    stopper.restore()
    task.eval()
    final = ratios().detach().cpu().tolist()
    return task, {
        "ratios": final,
        "trajectory": trajectory,
        "best_val_loss": stopper.best,
        "steps": step,
    }


def _summarise_ratios(sources: list[str], records: list[dict]) -> dict:
    values = np.array([r["ratios"] for r in records])  # (K, S)
    total = values.sum(axis=1, keepdims=True)
    shares = np.divide(values, total, out=np.zeros_like(values), where=total > 0)
    return {
        name: {
            "ratio": float(values[:, i].mean()),
            "ratio_std": float(values[:, i].std()),
            "share": float(shares[:, i].mean()),
            "share_std": float(shares[:, i].std()),
        }
        for i, name in enumerate(sources)
    }


def _metrics(classification: bool, y_true: np.ndarray, pred: np.ndarray) -> dict:
    return (
        classification_metrics(y_true, pred) if classification else regression_metrics(y_true, pred)
    )


def add_task(
    backbone: GATEModel,
    smiles: list[object],
    values: list[object],
    info: TaskInfo | str,
    config: TaskAdditionConfig | None = None,
    progress: ProgressCallback | None = None,
    test_smiles: list[str] | None = None,
) -> TaskAdditionResult:
    """Train a new task on the frozen ``backbone`` from raw user columns.

    Invalid rows are reported (by 1-based row) in the result, never raised; the call raises
    :class:`TaskDataError` only when too little usable data remains. ``test_smiles`` pins the
    test molecules (benchmarks); otherwise ``config.test_fraction`` of scaffolds are held out.
    """
    config = config or TaskAdditionConfig()
    info = TaskInfo(info) if isinstance(info, str) else copy.deepcopy(info)
    started = time.perf_counter()
    emit = progress or (lambda _event: None)
    for p in backbone.parameters():
        p.requires_grad_(False)
    backbone.eval()

    emit({"stage": "validating", "fraction": 0.0, "message": "checking molecules and values"})
    if problem := text_target_problem(list(values)):
        raise TaskDataError(problem)
    table = MultiTaskTable.from_single_task(list(smiles), list(values), info.name)
    n_valid_rows = len(smiles) - len(table.invalid)
    task_type = config.task_type or detect_task_type(table.Y[:, 0])
    info.task_type = task_type
    validate_task_table(table, task_type)
    classification = task_type == "classification"

    if test_smiles is not None:
        test_set = set(test_smiles)
        test_idx = np.array(
            [i for i, s in enumerate(table.smiles) if s in test_set], dtype=np.int64
        )
        fit_idx = np.array(
            [i for i, s in enumerate(table.smiles) if s not in test_set], dtype=np.int64
        )
    else:
        fit_idx, test_idx = holdout_split(
            table.smiles, config.test_fraction, config.split, config.seed
        )
    if len(fit_idx) < MIN_ROWS:
        raise TaskDataError(
            f"only {len(fit_idx)} molecules left for training after holding out the test set"
        )

    emit(
        {
            "stage": "featurising",
            "fraction": 0.02,
            "message": f"embedding {len(table)} molecules with the frozen backbone",
        }
    )
    t0 = time.perf_counter()
    frozen = compute_frozen_sources(
        backbone,
        table.smiles,
        noise_samples=config.weights.noise_samples,
        noise_scale=config.weights.noise_scale,
        seed=config.seed,
    )
    featurize_seconds = time.perf_counter() - t0

    y_fit = table.Y[fit_idx, 0]
    y_mean, y_std = (
        (0.0, 1.0) if classification else (float(y_fit.mean()), float(y_fit.std() or 1.0))
    )
    device = frozen.h.device
    y_all = torch.as_tensor((table.Y[:, 0] - y_mean) / y_std, dtype=torch.float32, device=device)
    frozen_fit, y_fit_t = (
        frozen.subset(torch.as_tensor(fit_idx, device=device)),
        y_all[torch.as_tensor(fit_idx, device=device)],
    )

    fit_smiles = [table.smiles[i] for i in fit_idx]
    folds = _member_folds(fit_smiles, config.ensemble, config.seed)
    domain = ApplicabilityDomain.fit(frozen_fit.common_chart)
    fold_of = np.full(len(fit_idx), -1)
    oof_ad = np.full(len(fit_idx), np.nan)
    for k, (tr, va) in enumerate(folds):
        fold_of[va] = k
        oof_ad[va] = (
            domain.against(frozen_fit.common_chart[tr]).score(frozen_fit.common_chart[va]).numpy()
        )
    n_runs = len(folds) * (2 if config.train_baseline else 1)

    def train_ensemble(
        kind: str, ratio_settings: RatioSettings, offset: int
    ) -> tuple[list, list[dict], np.ndarray]:
        """K members on the folds, and each molecule's prediction by the member that did not train on it."""
        modules, recs, oof = [], [], np.full(len(fit_idx), np.nan)
        for k, (tr, va) in enumerate(folds):

            def member_progress(step: int, val: float, lam: torch.Tensor, k: int = k) -> None:
                fraction = 0.05 + 0.9 * (offset + k + step / config.max_steps) / n_runs
                emit(
                    {
                        "stage": "training" if kind == "gate" else "baseline",
                        "fraction": min(fraction, 0.95),
                        "member": k,
                        "step": step,
                        "val_loss": val,
                        "ratios": lam.cpu().tolist(),
                        "message": f"{'member' if kind == 'gate' else 'probe'} {k + 1}/{len(folds)}, step {step}",
                    }
                )

            module, record = train_member(
                backbone,
                frozen_fit,
                y_fit_t,
                tr,
                va,
                classification,
                config,
                ratio_settings,
                config.seed * 1000 + k + offset,
                member_progress,
            )
            modules.append(module)
            recs.append(record)
            va_t = torch.as_tensor(va, device=device)
            with torch.no_grad():
                scaled = module.head(module.latent(frozen_fit.h[va_t])).cpu().numpy()
            oof[va] = 1 / (1 + np.exp(-scaled)) if classification else scaled * y_std + y_mean
        return modules, recs, oof

    t0 = time.perf_counter()
    gate_ratios, unskilled = without_unskilled(config.ratios, backbone.source_skill)
    members, records, oof_gate = train_ensemble("gate", gate_ratios, 0)
    train_seconds = time.perf_counter() - t0
    probes, oof = [], {"gate": oof_gate}
    if config.train_baseline:
        emit(
            {
                "stage": "baseline",
                "fraction": 0.05 + 0.9 * len(folds) / n_runs,
                "message": "training the frozen-backbone + new-head baseline",
            }
        )
        probes, _, oof["probe"] = train_ensemble("probe", RatioSettings(mode="off"), len(folds))
    held = fold_of >= 0
    oof_metrics = {m: _metrics(classification, y_fit[held], pred[held]) for m, pred in oof.items()}
    calibration = {
        m: Calibration.fit(classification, y_fit[held], pred[held], oof_ad[held]).to_dict()
        for m, pred in oof.items()
    }

    sources = backbone.task_names
    task = AddedTask(
        info,
        members,
        y_mean,
        y_std,
        domain,
        backbone_fingerprint(backbone),
        {
            "ratios": _summarise_ratios(sources, records),
            "ratio_mode": config.ratios.mode,
            "ratio_settings": asdict(config.ratios),
            "unskilled_sources": unskilled,
            "ratio_trajectories": [r["trajectory"] for r in records],
            "members": [{k: v for k, v in r.items() if k != "trajectory"} for r in records],
            "n_train": int(len(fit_idx)),
            "n_test": int(len(test_idx)),
            "config": {k: v for k, v in config.to_dict().items() if k != "ratios"},
            "model": "gate",
            "oof_metrics": oof_metrics,
            "calibration": calibration,
        },
        probes,
    )
    test_metrics = baseline_metrics = test_predictions = None
    if len(test_idx):
        test_t = torch.as_tensor(test_idx, device=device)
        frozen_test = frozen.subset(test_t)
        out = task.predict_from_representation(frozen_test.h, frozen_test.common_chart)
        y_true = table.Y[test_idx, 0]
        test_metrics = _metrics(classification, y_true, out["mean"])
        test_predictions = {
            "smiles": [table.smiles[i] for i in test_idx],
            "y_true": y_true.tolist(),
            **{k: v.tolist() for k, v in out.items()},
        }
        if probes:
            baseline = task.predict_from_representation(
                frozen_test.h, frozen_test.common_chart, "probe"
            )
            baseline_metrics = _metrics(classification, y_true, baseline["mean"])
            test_predictions["baseline"] = baseline["mean"].tolist()
        task.metadata["test_metrics"] = test_metrics
        task.metadata["baseline_test_metrics"] = baseline_metrics
    timings = {
        "featurize_seconds": featurize_seconds,
        "train_seconds": train_seconds,
        "total_seconds": time.perf_counter() - started,
    }
    task.metadata["timings"] = timings
    task.metadata["n_invalid_rows"] = len(table.invalid)
    oof_record = {
        "smiles": fit_smiles,
        "y_true": y_fit.tolist(),
        "fold": fold_of.tolist(),
        "ad_score": oof_ad.tolist(),
        **{m: v.tolist() for m, v in oof.items()},
    }
    task.metadata["oof"] = (
        oof_record  # kept with the task: the preview's and the known-value corrections' held-out checks use it
    )
    emit({"stage": "done", "fraction": 1.0, "message": "task added"})
    return TaskAdditionResult(
        task,
        table.invalid,
        n_valid_rows - len(table),
        test_metrics,
        baseline_metrics,
        timings,
        test_predictions,
        oof_record,
    )
