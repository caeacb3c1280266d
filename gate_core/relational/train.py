"""Train the relational head on the backbone's own table (DESIGN §6); the backbone stays frozen.

Protocol: the backbone's scaffold split is recomputed exactly as ``pretrain`` made it (config
and table from the checkpoint's metadata, content hash checked), the head trains on the
*training* fold only and early-stops on the validation fold. The frozen backbone is run once
over those molecules (common-chart point, plain predictions), so training touches only the
small head: seconds per epoch on a CPU.

Per batch, each molecule reveals a random number of its known labels (none with probability
``zero_fraction``) and the head predicts the hidden ones (:func:`sample_reveal`). Three losses:

- ``main``: plain + correction against the hidden labels (the product);
- ``aux``: the relational read-out without evidence, ⟨x⁰, t_k⟩ + b_k, against every known label,
  which makes the task nodes linear read-outs of x⁰ — the space a new task's node is fitted in;
- ``episode``: one backbone task per batch is treated as a task never seen: its node is rebuilt
  by ridge from the batch's *revealed* labels of that task, and the molecules whose label on it
  is *hidden* are predicted with that node, both as a preview (read-out alone) and as a trained
  added task (plain + correction). Support and query molecules never overlap.

A known limitation, measured (``bench/results/relational.md``): the plain predictions of
training molecules are in-sample, so their errors are smaller and much less correlated across
tasks than on new molecules; the head learns from those, which caps its corrections. (Training
on representation-noised predictions to mimic out-of-sample errors was tried and did not help.)
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from gate_core.models.checkpoint import load_checkpoint
from gate_core.models.fingerprint import backbone_fingerprint
from gate_core.models.gate import GATEModel
from gate_core.relational.graph import KnownGraph, sample_reveal
from gate_core.relational.head import RelationalConfig, RelationalHead, TaskNodes
from gate_core.relational.io import save_relational
from gate_core.training.backbone_split import backbone_split
from gate_core.training.engine import FitConfig, Step, fit
from gate_core.training.evaluate import embed

PROBIT_TO_LOGIT = (
    3.8  # P(y > 0 | plain p) ≈ σ(3.8 p) for a residual std ≈ 0.45 (binarised training edges)
)


@dataclass
class RelationalTrainConfig:
    """Knobs of relational-head training; stored in the head's JSON."""

    hidden: int = 64
    layers: int = 2
    dropout: float = 0.0
    epochs: int = 60
    patience: int = 8
    batch_size: int = 256
    lr: float = 2e-3
    weight_decay: float = 1e-5
    zero_fraction: float = 0.2
    aux_weight: float = 0.1
    episode_weight: float = 0.1
    binarize_fraction: float = 0.1
    seed: int = 0
    max_minutes: float | None = 4.0
    threads: int | None = None
    max_molecules: int | None = None
    correction: str = "odd"  # "odd" | "surprise", see RelationalHead.correction

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> RelationalTrainConfig:
        return cls(**data)


# ---- the backbone's frozen features -----------------------------------------------------------


@torch.no_grad()
def backbone_features(
    backbone: GATEModel,
    smiles: list[str] | None = None,
    h: torch.Tensor | None = None,
    chunk: int = 2048,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Common-chart point (N, L) and plain standardised predictions (N, P) of the backbone's P measured properties."""
    backbone.eval()
    if h is None:
        h = embed(backbone, smiles or [])
    charts, plains = [], []
    columns = backbone.property_columns()
    for start in range(0, h.shape[0], chunk):
        z, u = backbone.latents(h[start : start + chunk])
        charts.append(u.mean(dim=0))
        plains.append(backbone.heads(z)[:, columns])
    if not charts:
        return torch.zeros((0, backbone.config.latent_dim)), torch.zeros((0, len(columns)))
    return torch.cat(charts), torch.cat(plains)


def scaled_labels(backbone: GATEModel, Y: np.ndarray) -> torch.Tensor:
    """Property labels (N, P) in the backbone's standardised units (its own y_mean / y_std); NaN stays NaN."""
    columns = backbone.property_columns()
    return (
        torch.as_tensor(Y, dtype=torch.float32) - backbone.y_mean.cpu()[columns]
    ) / backbone.y_std.cpu()[columns]


# ---- losses -------------------------------------------------------------------------------------


def masked_loss(
    pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, classification: torch.Tensor
) -> torch.Tensor:
    """Mean over the ``mask`` entries: squared error (regression) or BCE on logits (classification)."""
    if not mask.any():
        return pred.sum() * 0.0
    target = torch.nan_to_num(target)
    squared = (pred - target) ** 2
    bce = F.binary_cross_entropy_with_logits(pred, target.clamp(0, 1), reduction="none")
    per_entry = torch.where(classification.expand_as(pred), bce, squared)
    return per_entry[mask].mean()


def _binarise_some(graph: KnownGraph, fraction: float, generator: torch.Generator) -> KnownGraph:
    """Turn a random ``fraction`` of regression edges into classification-like edges (training only)."""
    if fraction <= 0 or len(graph) == 0:
        return graph
    pick = (torch.rand(len(graph), generator=generator) < fraction) & ~graph.classification
    value = torch.where(pick, (graph.value > 0).float(), graph.value)
    plain = torch.where(pick, PROBIT_TO_LOGIT * graph.plain, graph.plain)
    return KnownGraph(
        graph.n_data,
        graph.n_tasks,
        graph.data,
        graph.task,
        value,
        plain,
        graph.classification | pick,
    )


def step_losses(
    head: RelationalHead,
    chart: torch.Tensor,
    plain: torch.Tensor,
    y: torch.Tensor,
    classification: torch.Tensor,
    generator: torch.Generator,
    config: RelationalTrainConfig,
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """The three training losses on one batch (see the module docstring); ``total`` is their weighted sum.

    Also returns what was predicted — ``hidden`` (N, T) mask, ``main`` (N, T), and for the
    episode ``episode_task``, ``query`` (N,) mask, ``episode_added`` (N, T), ``episode_preview``
    (n_query,) — so tests can check that no hidden label reaches any prediction.
    """
    known = torch.isfinite(y)
    revealed, hidden = sample_reveal(known, generator, config.zero_fraction)
    graph = KnownGraph.from_mask(torch.nan_to_num(y), revealed, plain, classification)
    graph.assert_excludes(hidden)
    graph = _binarise_some(graph, config.binarize_fraction, generator)
    x0 = head.data_features(chart)
    nodes = head.backbone_nodes()
    main_pred = plain + head.correction(x0, nodes, graph)
    main = masked_loss(main_pred, y, hidden, classification)
    aux = masked_loss(head.readout(x0, nodes), y, known, classification)

    outputs: dict[str, torch.Tensor] = {"hidden": hidden, "revealed": revealed}
    outputs["main"] = main_pred
    episode = main * 0.0
    n_rev, n_hid = revealed.sum(0), hidden.sum(0)
    eligible = ((n_rev >= 8) & (n_hid >= 4)).nonzero().flatten()
    if len(eligible):
        k = int(eligible[torch.randint(len(eligible), (1,), generator=generator)])
        support, query = revealed[:, k], hidden[:, k]
        node, _ = head.task_node_from_support(x0[support], y[support, k], bool(classification[k]))
        vectors = torch.cat([nodes.vectors[:k], node.vectors, nodes.vectors[k + 1 :]])
        bias = torch.cat([nodes.bias[:k], node.bias, nodes.bias[k + 1 :]])
        episode_nodes = TaskNodes(vectors, bias)
        corr = head.correction(x0, episode_nodes, graph)
        as_added = masked_loss(plain + corr, y, hidden, classification)
        preview = (x0[query] @ node.vectors[0] + node.bias + corr[query, k]).unsqueeze(1)
        as_preview = masked_loss(
            preview,
            y[query, k].unsqueeze(1),
            torch.ones_like(preview, dtype=torch.bool),
            classification[k : k + 1],
        )
        episode = 0.5 * (as_added + as_preview)
        outputs.update(
            {
                "episode_task": torch.tensor(k),
                "query": query,
                "episode_added": plain + corr,
                "episode_preview": preview[:, 0],
            }
        )
    total = main + config.aux_weight * aux + config.episode_weight * episode
    return {"total": total, "main": main, "aux": aux, "episode": episode}, outputs


@torch.no_grad()
def evaluate_hidden(
    head: RelationalHead,
    chart: torch.Tensor,
    plain: torch.Tensor,
    y: torch.Tensor,
    classification: torch.Tensor,
    seed: int = 12345,
) -> dict[str, float]:
    """Validation scores: hidden-label MSE (random reveal, fixed seed), relational vs plain, mean over
    tasks; the preview's MSE (each regression task's node fitted to half its molecules, the other
    half predicted; reported, not used for early stopping: it is far noisier than the relational
    score)."""
    head.eval()
    generator = torch.Generator().manual_seed(seed)
    known = torch.isfinite(y)
    revealed, hidden = sample_reveal(known, generator, zero_fraction=0.0)
    graph = KnownGraph.from_mask(torch.nan_to_num(y), revealed, plain, classification)
    corr = head.correction(head.data_features(chart), head.backbone_nodes(), graph)
    err_rel = ((plain + corr - torch.nan_to_num(y)) ** 2).masked_fill(~hidden, 0).sum(0)
    err_plain = ((plain - torch.nan_to_num(y)) ** 2).masked_fill(~hidden, 0).sum(0)
    count = hidden.sum(0)
    present = count > 0
    # the preview: each task's node fitted to half of its labelled molecules, the other half predicted
    x0 = head.data_features(chart)
    preview = []
    for k in range(y.shape[1]):
        labelled = known[:, k].nonzero().flatten()
        if len(labelled) < 20 or bool(classification[k]):
            continue
        order = labelled[torch.randperm(len(labelled), generator=generator)]
        support, query = order[: len(order) // 2], order[len(order) // 2 :]
        node, _ = head.task_node_from_support(x0[support], y[support, k])
        preview.append(float(((x0[query] @ node.vectors[0] + node.bias - y[query, k]) ** 2).mean()))
    head.train()
    relational = float((err_rel[present] / count[present]).mean())
    preview_mse = float(np.mean(preview)) if preview else 0.0
    return {
        "relational_mse": relational,
        "plain_mse": float((err_plain[present] / count[present]).mean()),
        "preview_mse": preview_mse,
        "n_hidden": int(count.sum()),
    }


# ---- the training run ---------------------------------------------------------------------------


@dataclass
class RelationalData:
    """The frozen backbone's view of its own training and validation folds (cached once).

    Shapes: ``y_*`` (N, T) standardised labels (NaN unknown); ``chart_*`` (N, L), ``plain_*``
    (N, T) the common-chart points and plain predictions of the frozen backbone.
    """

    y_train: torch.Tensor
    chart_train: torch.Tensor
    plain_train: torch.Tensor
    chart_val: torch.Tensor
    plain_val: torch.Tensor
    y_val: torch.Tensor
    label_ranges: dict
    sizes: dict
    features_seconds: float = 0.0


def prepare_data(
    backbone: GATEModel, meta: dict, config: RelationalTrainConfig, table_path: str | None = None
) -> RelationalData:
    """Recompute the backbone's split and run the frozen backbone once over its train and val folds."""
    table, train_idx, val_idx, _test_idx = backbone_split(meta, backbone.property_names, table_path)
    labelled = table.mask.any(
        axis=1
    )  # corpus-only molecules carry no measured label: nothing to reveal or hide
    train_idx, val_idx = train_idx[labelled[train_idx]], val_idx[labelled[val_idx]]
    if config.max_molecules and len(train_idx) > config.max_molecules:
        train_idx = np.sort(
            np.random.default_rng(config.seed).permutation(train_idx)[: config.max_molecules]
        )
    t0 = time.perf_counter()
    chart_train, plain_train = backbone_features(backbone, [table.smiles[i] for i in train_idx])
    chart_val, plain_val = backbone_features(backbone, [table.smiles[i] for i in val_idx])
    seconds = time.perf_counter() - t0
    ranges = {}
    for j, task in enumerate(backbone.property_names):
        col = table.Y[train_idx, j][np.isfinite(table.Y[train_idx, j])]
        if len(col):
            ranges[task] = {"min": float(col.min()), "max": float(col.max()), "n": int(len(col))}
    return RelationalData(
        scaled_labels(backbone, table.Y[train_idx]),
        chart_train.cpu(),
        plain_train.cpu(),
        chart_val.cpu(),
        plain_val.cpu(),
        scaled_labels(backbone, table.Y[val_idx]),
        ranges,
        {"train": int(len(train_idx)), "val": int(len(val_idx))},
        seconds,
    )


@dataclass
class RelationalResult:
    """A trained relational head (best validation epoch) and how its training went.

    Every field but ``head`` and ``history`` goes into the head's JSON (:meth:`metadata`);
    ``val`` is the best epoch's record, ``backbone_id`` the fingerprint of the backbone it
    belongs to (set when trained from a checkpoint path).
    """

    head: RelationalHead
    backbone_split: dict[str, int]
    best_epoch: int
    epochs_run: int
    stopped_by: str
    val: dict | None
    features_seconds: float
    wall_seconds: float
    label_ranges: dict
    data_hash: str | None
    train_config: dict
    history: list[dict]
    backbone_id: str | None = None

    def metadata(self) -> dict:
        """The summary the head's JSON stores (no weights, no per-epoch history)."""
        return {
            f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("head", "history")
        }


def train_relational(
    backbone: GATEModel,
    meta: dict,
    config: RelationalTrainConfig | None = None,
    progress: bool = True,
    table_path: str | None = None,
    data: RelationalData | None = None,
) -> RelationalResult:
    """Train a head on the backbone's training fold; returns it at its best validation epoch."""
    config = config or RelationalTrainConfig()
    if config.threads:
        torch.set_num_threads(config.threads)
    started = time.perf_counter()
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    backbone = backbone.cpu().eval()
    for p in backbone.parameters():
        p.requires_grad_(False)
    data = data or prepare_data(backbone, meta, config, table_path)
    classification = backbone.classification.cpu()[backbone.property_columns()]
    n_tr = len(data.y_train)

    head = RelationalHead(
        RelationalConfig(
            chart_dim=data.chart_train.shape[1],
            tasks=list(backbone.property_names),
            task_types=[
                t.task_type for t in backbone.config.tasks if t.name in backbone.property_names
            ],
            hidden=config.hidden,
            layers=config.layers,
            dropout=config.dropout,
            correction=config.correction,
        )
    )
    head.set_chart_scaler(data.chart_train.mean(0), data.chart_train.std(0))
    optimizer = torch.optim.Adam(head.parameters(), lr=config.lr, weight_decay=config.weight_decay)

    def batches(_epoch: int) -> list[torch.Tensor]:
        order = torch.randperm(n_tr, generator=generator)
        return [b for b in order.split(config.batch_size) if len(b) >= 2]

    def step(b: torch.Tensor) -> Step:
        terms, _ = step_losses(
            head,
            data.chart_train[b],
            data.plain_train[b],
            data.y_train[b],
            classification,
            generator,
            config,
        )
        return Step(terms["total"], terms, len(b))

    def validate(train: dict[str, float]) -> dict[str, float]:
        if len(data.y_val):
            return evaluate_hidden(head, data.chart_val, data.plain_val, data.y_val, classification)
        nan = float("nan")
        return {
            "relational_mse": train.get("main", 0.0),
            "plain_mse": nan,
            "preview_mse": 0.0,
            "n_hidden": 0,
        }

    fitted = fit(
        head,
        optimizer,
        batches,
        step,
        validate,
        FitConfig(
            config.epochs,
            config.patience,
            monitor="relational_mse",
            max_minutes=config.max_minutes,
            clip_grad_norm=5.0,
        ),
        clock=started,
        progress=progress,
    )
    return RelationalResult(
        head=head,
        backbone_split=data.sizes,
        best_epoch=fitted.best_epoch,
        epochs_run=fitted.epochs_run,
        stopped_by=fitted.stopped_by,
        val=fitted.history[fitted.best_epoch - 1] if fitted.best_epoch else None,
        features_seconds=data.features_seconds,
        wall_seconds=time.perf_counter() - started,
        label_ranges=data.label_ranges,
        data_hash=(meta.get("pretraining") or {}).get("data_hash"),
        train_config=config.to_dict(),
        history=fitted.history,
    )


def pretrain_relational(
    backbone_path: str | Path,
    out_dir: str | Path | None = None,
    config: RelationalTrainConfig | None = None,
    progress: bool = True,
) -> RelationalResult:
    """Load the backbone, train its relational head, save it to ``out_dir`` (if given)."""
    backbone, meta = load_checkpoint(backbone_path, "cpu")
    result = train_relational(backbone, meta, config, progress)
    result.backbone_id = backbone_fingerprint(backbone)
    if out_dir is not None:
        save_relational(
            result.head, out_dir, {**result.metadata(), "backbone_path": str(backbone_path)}
        )
        (Path(out_dir) / "history.json").write_text(json.dumps(result.history, indent=1))
    return result
