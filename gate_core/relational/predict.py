"""Prediction with known measurements ("what-if"), added tasks and the zero-training preview.

Why the checks are strict: a known value is evidence the head trusts. A misspelt task name, a
value typed in the wrong unit, or the very property being predicted given as "known" would
silently change predictions, so each is refused (or, for an implausible value, warned about)
with a message that names the task and the value.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from gate_core.featurizers.molecule import parse_smiles
from gate_core.models.gate import GATEModel
from gate_core.relational.graph import KnownGraph
from gate_core.relational.head import RelationalHead, TaskNodes
from gate_core.relational.train import backbone_features
from gate_core.training.evaluate import embed
from gate_core.transfer.added_task import AddedTask

RANGE_MARGIN = 0.25  # a known value beyond [min − 25 % span, max + 25 % span] of the task's labels is warned about
MIN_SUPPORT = 5


class RelationalInputError(ValueError):
    """Known values or support data that cannot be used; the message is meant for the user."""


class UnknownTaskError(RelationalInputError):
    """A known value or target names a task that neither the backbone nor the registry has."""


class KnownValueError(RelationalInputError):
    """A known value that is not a usable number (or not 0/1 for a classification task)."""


class KnownTargetError(RelationalInputError):
    """A known value was given for a task that is also being predicted."""


class KnownValueWarning(UserWarning):
    """A known value far outside the range of the task's training labels (likely a unit mix-up)."""


@dataclass
class TaskSpec:
    """One task as the relational head sees it.

    ``kind``: ``backbone`` (learned node, plain head in the backbone), ``added`` (node from its
    support edges, plain prediction from its trained ensemble) or ``preview`` (node from support
    edges, no trained model: the read-out itself is the prediction). Scaler ``y_mean``/``y_std``
    maps user units to the standardised units of the edges (0/1 kept for classification).
    """

    name: str
    kind: str
    classification: bool
    y_mean: float
    y_std: float
    value_range: tuple[float, float] | None = None
    nodes: TaskNodes | None = None  # for added / preview tasks, fitted from support edges
    model: AddedTask | None = None
    n_support: int = 0
    ridge: float | None = None

    def scale(self, value: float) -> float:
        return value if self.classification else (value - self.y_mean) / self.y_std


# ---- parsing and checking known values ----------------------------------------------------------


def _to_number(task: str, value: object, where: str = "") -> float | None:
    """A finite float, ``None`` for a blank / missing value, else :class:`KnownValueError`."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        return float(value)
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise KnownValueError(
            f"known value for '{task}'{where} is not a number: {value!r}"
        ) from None
    if math.isnan(number):
        return None
    if not math.isfinite(number):
        raise KnownValueError(f"known value for '{task}'{where} is not finite: {value!r}")
    return number


def normalise_known(
    known: Mapping[str, object] | Sequence[Mapping[str, object] | None] | None, n_rows: int
) -> list[dict[str, float]]:
    """One ``{task: value}`` per row: a single dict applies to every row; blanks/NaN are dropped."""
    if known is None:
        return [{} for _ in range(n_rows)]
    if isinstance(known, Mapping):
        row = {str(k).strip(): v for k, v in known.items()}
        parsed = {k: n for k, v in row.items() if (n := _to_number(k, v)) is not None}
        return [dict(parsed) for _ in range(n_rows)]
    if isinstance(known, (str, bytes)) or not isinstance(known, Sequence):
        raise KnownValueError(
            "known values must be a dict {task: value} or a list of such dicts, one per molecule"
        )
    if len(known) != n_rows:
        raise KnownValueError(
            f"{len(known)} sets of known values for {n_rows} molecules; give one per molecule, or one dict for all"
        )
    rows = []
    for r, item in enumerate(known, start=1):
        if item is None:
            rows.append({})
            continue
        if not isinstance(item, Mapping):
            raise KnownValueError(
                f"row {r}: known values must be a dict {{task: value}}, got {type(item).__name__}"
            )
        rows.append(
            {
                str(k).strip(): n
                for k, v in item.items()
                if (n := _to_number(str(k).strip(), v, f" (row {r})")) is not None
            }
        )
    return rows


def check_known(
    rows: list[dict[str, float]], specs: Mapping[str, TaskSpec], targets: Sequence[str]
) -> list[list[str]]:
    """Refuse unknown tasks, known-and-predicted tasks and non-0/1 classes; warn on far-out values.

    Returns, per row, the plain-language warnings (also emitted as :class:`KnownValueWarning`).
    """
    names = sorted({k for row in rows for k in row})
    unknown = [n for n in names if n not in specs]
    if unknown:
        raise UnknownTaskError(
            f"unknown task(s) in known values: {', '.join(unknown)}; known tasks are: {', '.join(specs)}"
        )
    clash = [n for n in names if n in set(targets)]
    if clash:
        raise KnownTargetError(
            f"a known value was given for {', '.join(clash)}, which is also being predicted; "
            "leave it out of the tasks to predict, or out of the known values"
        )
    notes: list[list[str]] = []
    for r, row in enumerate(rows, start=1):
        row_notes = []
        for name, value in row.items():
            spec = specs[name]
            if spec.classification and value not in (0.0, 1.0):
                raise KnownValueError(
                    f"row {r}: '{name}' is a classification task; its known value must be 0 or 1, got {value:g}"
                )
            if spec.value_range and not spec.classification:
                lo, hi = spec.value_range
                span = max(hi - lo, 1e-12)
                if value < lo - RANGE_MARGIN * span or value > hi + RANGE_MARGIN * span:
                    msg = f"'{name}' = {value:g} is far outside its training labels ({lo:g} … {hi:g}); check the unit"
                    row_notes.append(msg)
                    warnings.warn(f"row {r}: {msg}", KnownValueWarning, stacklevel=3)
        notes.append(row_notes)
    return notes


# ---- the predictor ----------------------------------------------------------------------------


def _support_table(
    smiles: Sequence[object], values: Sequence[object]
) -> tuple[list[str], np.ndarray, int]:
    """Canonical SMILES and finite values of a support set (duplicates → median); count of rows dropped."""
    ok_s, ok_v = [], []
    for s, v in zip(smiles, values):
        parsed = parse_smiles(s)
        try:
            number = float(v)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            continue
        if parsed.ok and math.isfinite(number):
            ok_s.append(parsed.smiles)
            ok_v.append(number)
    if not ok_s:
        return [], np.zeros(0), len(smiles)
    merged = pd.DataFrame({"s": ok_s, "v": ok_v}).groupby("s", sort=True)["v"].median()
    return list(merged.index), merged.to_numpy(dtype=np.float64), len(smiles) - len(ok_s)


class RelationalPredictor:
    """Backbone + relational head + task specs: plain and relational predictions with known values.

    Backbone tasks are always there; added tasks (:meth:`add_task_node`) get their node from
    support edges, once, and are then usable as targets and as known values alike.
    """

    def __init__(
        self, backbone: GATEModel, head: RelationalHead, head_meta: dict | None = None
    ) -> None:
        if list(head.task_names) != list(backbone.property_names):
            raise ValueError("the relational head was trained on other tasks than this backbone's")
        self.backbone = backbone
        self.head = head.eval()
        self.head_meta = head_meta or {}
        ranges = self.head_meta.get("label_ranges", {})
        self.specs: dict[str, TaskSpec] = {}
        for name, c in zip(backbone.property_names, backbone.property_columns()):
            r = ranges.get(name)
            self.specs[name] = TaskSpec(
                name,
                "backbone",
                bool(backbone.classification[c]),
                float(backbone.y_mean[c]),
                float(backbone.y_std[c]),
                (r["min"], r["max"]) if r else None,
            )

    @property
    def device(self) -> torch.device:
        return next(self.backbone.parameters()).device

    @torch.no_grad()
    def add_task_node(
        self,
        name: str,
        smiles: Sequence[object],
        values: Sequence[object],
        task_type: str | None = None,
        model: AddedTask | None = None,
    ) -> TaskSpec:
        """Build a task's node from its support edges (labelled molecules) and register it under ``name``.

        With ``model`` (a trained added task) its scaler and type are used and the task is
        ``added``; without, the task is a ``preview`` (scaler from the support values).
        """
        if name in self.backbone.task_names:
            raise RelationalInputError(
                f"'{name}' is a backbone task; its node is learned, not built from support"
            )
        canon, y, _dropped = _support_table(smiles, values)
        if len(canon) < MIN_SUPPORT:
            raise RelationalInputError(
                f"task '{name}': only {len(canon)} usable labelled molecules; at least {MIN_SUPPORT} are needed to build its node"
            )
        if model is not None:
            classification = model.classification
            y_mean, y_std = float(model.y_mean), float(model.y_std)
        else:
            unique = set(np.unique(y).tolist())
            classification = (
                task_type == "classification"
                if task_type
                else (len(unique) == 2 and unique <= {0.0, 1.0})
            )
            y_mean, y_std = (
                (0.0, 1.0) if classification else (float(y.mean()), float(y.std() or 1.0))
            )
        if classification:
            if not set(np.unique(y).tolist()) <= {0.0, 1.0}:
                raise RelationalInputError(
                    f"task '{name}' is a classification task; its labels must be 0 or 1"
                )
            if len(np.unique(y)) < 2:
                raise RelationalInputError(f"task '{name}': all support labels are of one class")
        elif np.unique(y).size < 2:
            raise RelationalInputError(f"task '{name}': all support labels are identical")
        chart, _ = backbone_features(self.backbone, canon)
        x0 = self.head.data_features(chart.to(self.device))
        y_scaled = torch.tensor(
            y if classification else (y - y_mean) / y_std, dtype=torch.float32, device=x0.device
        )
        nodes, lam = self.head.task_node_from_support(x0, y_scaled, classification)
        spec = TaskSpec(
            name,
            "added" if model is not None else "preview",
            classification,
            y_mean,
            y_std,
            (float(y.min()), float(y.max())),
            nodes,
            model,
            len(canon),
            lam,
        )
        self.specs[name] = spec
        return spec

    @torch.no_grad()
    def predict_scaled(
        self, h: torch.Tensor, targets: Sequence[str], known_rows: list[dict[str, float]]
    ) -> dict[str, np.ndarray]:
        """Plain and relational predictions (B, len(targets)) in user units (probabilities for classification).

        ``h`` is the backbone representation of the B molecules; ``known_rows`` one dict per molecule,
        already checked (:func:`check_known`). Also returns the standardised ``correction``.
        """
        involved = list(dict.fromkeys([*targets, *(k for row in known_rows for k in row)]))
        specs = [self.specs[n] for n in involved]
        chart, plain_backbone = backbone_features(self.backbone, h=h)
        x0 = self.head.data_features(chart)
        b = h.shape[0]
        backbone_nodes = self.head.backbone_nodes()
        vectors, biases, plain = [], [], []
        for spec in specs:
            if spec.kind == "backbone":
                k = self.backbone.property_names.index(spec.name)
                vectors.append(backbone_nodes.vectors[k])
                biases.append(backbone_nodes.bias[k])
                plain.append(plain_backbone[:, k])
                continue
            assert spec.nodes is not None
            vectors.append(spec.nodes.vectors[0])
            biases.append(spec.nodes.bias[0])
            if (
                spec.kind == "added" and spec.model is not None and spec.model.model != "preview"
            ):  # a task answered by its preview: the read-out
                mean = torch.as_tensor(
                    spec.model.predict_from_representation(h, chart)["mean"],
                    dtype=torch.float32,
                    device=h.device,
                )
                plain.append(
                    torch.logit(mean.clamp(1e-6, 1 - 1e-6))
                    if spec.classification
                    else (mean - spec.y_mean) / spec.y_std
                )
            else:
                plain.append(x0 @ spec.nodes.vectors[0] + spec.nodes.bias[0])
        nodes = TaskNodes(torch.stack(vectors), torch.stack(biases))
        plain_t = torch.stack(plain, dim=1) if plain else torch.zeros((b, 0), device=h.device)
        known = torch.full((b, len(involved)), float("nan"), device=h.device)
        for i, row in enumerate(known_rows):
            for name, value in row.items():
                known[i, involved.index(name)] = self.specs[name].scale(value)
        classification = torch.tensor(
            [s.classification for s in specs], dtype=torch.bool, device=h.device
        )
        graph = KnownGraph.from_mask(
            torch.nan_to_num(known), torch.isfinite(known), plain_t, classification
        )
        correction = (
            self.head.correction(x0, nodes, graph) if len(graph) else torch.zeros_like(plain_t)
        )
        relational = plain_t + correction
        cols = [involved.index(t) for t in targets]

        def unscale(values: torch.Tensor) -> np.ndarray:
            out = []
            for j in cols:
                s = specs[j]
                out.append(
                    torch.sigmoid(values[:, j])
                    if s.classification
                    else values[:, j] * s.y_std + s.y_mean
                )
            return torch.stack(out, dim=1).cpu().numpy() if out else np.zeros((b, 0))

        return {
            "plain": unscale(plain_t),
            "relational": unscale(relational),
            "correction": correction[:, cols].cpu().numpy(),
        }

    @torch.no_grad()
    def predict(
        self,
        smiles: Sequence[object],
        targets: Sequence[str],
        known: Mapping[str, object] | Sequence[Mapping[str, object] | None] | None = None,
    ) -> pd.DataFrame:
        """One row per input (invalid SMILES kept with their ``error``): ``<task>`` (plain) and ``<task>_relational``."""
        unknown = [t for t in targets if t not in self.specs]
        if unknown:
            raise UnknownTaskError(
                f"unknown task(s): {', '.join(unknown)}; known tasks are: {', '.join(self.specs)}"
            )
        rows = normalise_known(known, len(smiles))
        notes = check_known(rows, self.specs, targets)
        parsed = [parse_smiles(s) for s in smiles]
        frame = pd.DataFrame(
            {
                "input": [p.input for p in parsed],
                "smiles": [p.smiles for p in parsed],
                "error": [p.error for p in parsed],
            }
        )
        ok = np.flatnonzero([p.ok for p in parsed])
        columns: dict[str, np.ndarray] = {}
        for t in targets:
            columns[t] = np.full(len(frame), np.nan)
            columns[f"{t}_relational"] = np.full(len(frame), np.nan)
        if len(ok):
            h = embed(self.backbone, [parsed[i].smiles for i in ok])
            out = self.predict_scaled(h, targets, [rows[i] for i in ok])
            for j, t in enumerate(targets):
                columns[t][ok] = out["plain"][:, j]
                columns[f"{t}_relational"][ok] = out["relational"][:, j]
        frame = pd.concat([frame, pd.DataFrame(columns)], axis=1)
        frame["known_used"] = [
            format_known(rows[i]) if parsed[i].ok else "" for i in range(len(frame))
        ]
        frame["known_warning"] = ["; ".join(n) for n in notes]
        return frame


def format_known(row: Mapping[str, float]) -> str:
    """``"Tb_K=351.4; logKow=-0.31"`` (empty when nothing was known)."""
    return "; ".join(f"{k}={v:g}" for k, v in row.items())


# ---- zero-training preview of a new task -------------------------------------------------------


def preview_new_task(
    backbone: GATEModel,
    head: RelationalHead,
    smiles: Sequence[object],
    values: Sequence[object],
    query_smiles: Sequence[object],
    task_type: str | None = None,
    name: str = "preview",
    known: Mapping[str, object] | Sequence[Mapping[str, object] | None] | None = None,
    head_meta: dict | None = None,
) -> pd.DataFrame:
    """Predict a new task for ``query_smiles`` from its labelled molecules alone — no training.

    The new task's node is fitted to its support edges (``smiles``, ``values``) by a closed-form
    ridge read-out in the head's data-node space (:meth:`RelationalHead.task_node_from_support`);
    query molecules are then read out against it (with their ``known`` values on other tasks, if
    any). ``head_meta`` is the head's saved metadata (label ranges, correction), as
    :class:`RelationalPredictor` takes it. Returns ``input``, ``smiles``, ``error`` and
    ``prediction`` (user units, or probability of class 1); ``frame.attrs`` holds ``n_support``,
    ``task_type``, ``ridge`` and ``seconds``.
    """
    started = time.perf_counter()
    if len(smiles) != len(values):
        raise RelationalInputError(f"{len(smiles)} SMILES but {len(values)} values")
    predictor = RelationalPredictor(backbone, head, head_meta)
    if name in predictor.specs:
        raise RelationalInputError(
            f"'{name}' is a backbone task; choose another name for the preview"
        )
    spec = predictor.add_task_node(name, smiles, values, task_type)
    frame = predictor.predict(query_smiles, [name], known)
    frame = frame.rename(columns={f"{name}_relational": "prediction"}).drop(columns=[name])
    frame.attrs.update(
        {
            "n_support": spec.n_support,
            "task_type": "classification" if spec.classification else "regression",
            "ridge": spec.ridge,
            "seconds": time.perf_counter() - started,
        }
    )
    return frame
