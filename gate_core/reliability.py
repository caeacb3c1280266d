"""What the backbone's own held-out molecules say about trusting its predictions (issue 12).

Two verdicts, both measured on the backbone's *validation* split (recomputed exactly as
pre-training made it, :func:`~gate_core.training.backbone_split.backbone_split`), never on molecules
the backbone or the relational head trained on:

- :class:`BackboneCalibration`: for every backbone property, an applicability domain (the
  property's training molecules in the common chart) and a split-conformal interval from the
  validation residuals, as an added task gets from its out-of-fold residuals
  (:mod:`gate_core.transfer.calibration`).
- :class:`PairGate`: for every (known property → predicted property) pair, whether the
  relational head's correction may be used. A pair is *accepted* only when, on validation
  molecules with both labels, (1) the corrected prediction has a lower RMSE than the plain one
  (by at least :data:`MIN_GAIN`), and (2) the correction moves the prediction in the direction
  of the two properties' relation in the training labels (the sign of their Spearman
  correlation; a higher logKow must not raise logS). Every accepted pair carries its own
  interval from its corrected residuals. At prediction time the direction is checked again
  for each molecule (:meth:`PairVerdict.direction_ok`).

Both are computed once per backbone (and head), in seconds to a minute, and cached as files in
the registry's data folder (``calibration/``), so the shipped checkpoints stay untouched.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

from gate_core.models.checkpoint import write_weights_directory
from gate_core.models.fingerprint import backbone_fingerprint
from gate_core.models.gate import GATEModel
from gate_core.relational.predict import RelationalPredictor
from gate_core.relational.train import backbone_features
from gate_core.training.backbone_split import backbone_split
from gate_core.training.evaluate import embed
from gate_core.transfer.calibration import LEVEL, Calibration, ConformalInterval
from gate_core.transfer.domain import ApplicabilityDomain

MAX_REFERENCE = (
    1500  # training molecules per property kept as its domain reference (a seeded sample)
)
MIN_PAIRS = 20  # validation molecules with both labels needed to judge a pair
MIN_GAIN = 0.01  # the correction must lower the pair's validation RMSE by at least 1 %
MIN_RELATION = (
    0.1  # |Spearman ρ| of the two properties' training labels below this: no relation to agree with
)
FORMAT_VERSION = 1
NO_RELATION = "no reliable relation learned for this pair"


@dataclass
class HeldOut:
    """A split of the backbone's table through the frozen backbone: labels, h, chart, plain predictions."""

    smiles: list[str]
    Y: np.ndarray  # (N, T) labels, NaN where unknown
    h: torch.Tensor
    chart: torch.Tensor
    plain: np.ndarray  # (N, T) user units (probabilities for classification)


def held_out_split(
    backbone: GATEModel, meta: dict, part: str = "val"
) -> tuple[HeldOut, np.ndarray, list[str]]:
    """The ``part`` (val | test) of the backbone's own split, plus its training labels and SMILES."""
    table, train_idx, val_idx, test_idx = backbone_split(meta, backbone.property_names)
    idx = {"val": val_idx, "test": test_idx}[part]
    smiles = [table.smiles[i] for i in idx]
    with torch.no_grad():
        h = embed(backbone, smiles)
        chart, plain = backbone_features(backbone, h=h)
        values = (
            backbone.unscale(plain, backbone.property_columns()).cpu().numpy().astype(np.float64)
        )
    return (
        HeldOut(smiles, table.Y[idx].astype(np.float64), h, chart.cpu(), values),
        table.Y[train_idx].astype(np.float64),
        [table.smiles[i] for i in train_idx],
    )


# ---- intervals and domains of the backbone's own properties -------------------------------------


@dataclass
class BackboneCalibration:
    """Per backbone property: its applicability domain and the calibration of its predictions."""

    backbone_id: str
    domains: dict[str, ApplicabilityDomain]
    calibrations: dict[str, Calibration]

    def save(self, out_dir: Path) -> Path:
        weights = {
            "domains.safetensors": {
                name: d.reference.contiguous() for name, d in self.domains.items()
            }
        }
        doc = {
            "format_version": FORMAT_VERSION,
            "backbone_id": self.backbone_id,
            "domains": {
                name: {"threshold": d.threshold, "neighbours": d.neighbours}
                for name, d in self.domains.items()
            },
            "calibrations": {name: c.to_dict() for name, c in self.calibrations.items()},
        }
        return write_weights_directory(out_dir, weights, {"calibration.json": doc})

    @classmethod
    def load(cls, path: Path) -> BackboneCalibration:
        doc = json.loads((path / "calibration.json").read_text())
        if doc.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"{path}: unknown calibration format {doc.get('format_version')!r}")
        refs = load_file(str(path / "domains.safetensors"))
        domains = {
            n: ApplicabilityDomain(refs[n], d["threshold"], d["neighbours"])
            for n, d in doc["domains"].items()
        }
        return cls(
            doc["backbone_id"],
            domains,
            {n: Calibration.from_dict(c) for n, c in doc["calibrations"].items()},
        )


def _reference_rows(labels: np.ndarray, k: int, seed: int) -> np.ndarray:
    rows = np.flatnonzero(np.isfinite(labels[:, k]))
    if len(rows) > MAX_REFERENCE:
        rows = np.sort(np.random.default_rng([seed, k]).choice(rows, MAX_REFERENCE, replace=False))
    return rows


def calibrate_backbone(
    backbone: GATEModel,
    held: HeldOut,
    train_labels: np.ndarray,
    train_smiles: list[str],
    seed: int = 0,
) -> BackboneCalibration:
    """Domains from each property's training molecules, intervals from its validation residuals (``held``)."""
    refs = {
        name: _reference_rows(train_labels, k, seed)
        for k, name in enumerate(backbone.property_names)
    }
    union = np.unique(
        np.concatenate([r for r in refs.values() if len(r)] or [np.zeros(0, dtype=np.int64)])
    )
    with torch.no_grad():
        chart, _ = backbone_features(backbone, [train_smiles[i] for i in union])
    position = {int(i): p for p, i in enumerate(union)}
    domains, calibrations = {}, {}
    for k, name in enumerate(backbone.property_names):
        rows = refs[name]
        labelled = np.isfinite(held.Y[:, k])
        if len(rows) < 2 or not labelled.any():
            continue  # a property without training or validation labels gets no interval
        domain = ApplicabilityDomain.fit(chart[[position[int(i)] for i in rows]])
        ad = domain.score(held.chart[torch.as_tensor(np.flatnonzero(labelled))]).numpy()
        domains[name] = domain
        calibrations[name] = Calibration.fit(
            bool(backbone.classification[backbone.property_columns()[k]]),
            held.Y[labelled, k],
            held.plain[labelled, k],
            ad,
        )
    return BackboneCalibration(backbone_fingerprint(backbone), domains, calibrations)


# ---- which known-value corrections may be used ---------------------------------------------------


@dataclass
class PairVerdict:
    """One (known → target) pair on the validation molecules that have both labels."""

    known: str
    target: str
    n: int
    relation: float | None  # Spearman ρ of the two properties' training labels
    rmse_plain: float | None
    rmse_corrected: float | None
    direction: (
        float | None
    )  # median change of the target per unit rise of the known value (standardised)
    accepted: bool
    reason: str
    interval: dict | None = None  # ConformalInterval of the corrected predictions (accepted pairs)

    def direction_ok(self, slope: np.ndarray) -> np.ndarray:
        """Per molecule: does the correction follow the sign of the relation (a zero slope is fine)?"""
        return np.asarray(slope) * (np.sign(self.relation) if self.relation else 0.0) >= 0

    @property
    def gain(self) -> float | None:
        if not self.rmse_plain or self.rmse_corrected is None:
            return None
        return 1.0 - self.rmse_corrected / self.rmse_plain


@dataclass
class PairGate:
    """Verdicts for every (known → target) pair of backbone properties, and the per-molecule direction check."""

    backbone_id: str
    head_id: str
    verdicts: dict[str, PairVerdict] = field(default_factory=dict)

    @staticmethod
    def key(known: str, target: str) -> str:
        return f"{known}->{target}"

    def verdict(self, known: str, target: str) -> PairVerdict | None:
        return self.verdicts.get(self.key(known, target))

    def accepted(self, known: str, target: str) -> bool:
        v = self.verdict(known, target)
        return bool(v and v.accepted)

    def to_dict(self) -> dict:
        return {
            "format_version": FORMAT_VERSION,
            "backbone_id": self.backbone_id,
            "head_id": self.head_id,
            "verdicts": {k: asdict(v) for k, v in self.verdicts.items()},
        }

    @classmethod
    def from_dict(cls, data: dict) -> PairGate:
        if data.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"unknown pair-gate format {data.get('format_version')!r}")
        return cls(
            data["backbone_id"],
            data["head_id"],
            {k: PairVerdict(**v) for k, v in data["verdicts"].items()},
        )


def _spearman(a: np.ndarray, b: np.ndarray) -> float | None:
    from scipy.stats import spearmanr

    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < MIN_PAIRS or np.unique(a[ok]).size < 2 or np.unique(b[ok]).size < 2:
        return None
    return float(spearmanr(a[ok], b[ok]).statistic)


def known_slopes(
    predictor: RelationalPredictor,
    h: torch.Tensor,
    targets: list[str],
    known: str,
    values: np.ndarray,
    others: list[dict] | None = None,
) -> np.ndarray:
    """(B, len(targets)) change of each target's corrected prediction (standardised) per standardised rise of ``known``.

    A central difference of ±0.25 standard deviations of the known property around each value.
    """
    spec = predictor.specs[known]
    step = 0.25 * (1.0 if spec.classification else spec.y_std)
    others = others or [{} for _ in range(len(values))]
    outs = []
    for sign in (1.0, -1.0):
        rows = [{**o, known: float(v) + sign * step} for o, v in zip(others, values)]
        outs.append(predictor.predict_scaled(h, targets, rows)["relational"])
    scale = np.array(
        [1.0 if predictor.specs[t].classification else predictor.specs[t].y_std for t in targets]
    )
    return (outs[0] - outs[1]) / scale / 0.5


def judge_pair(
    known: str,
    target: str,
    y: np.ndarray,
    plain: np.ndarray,
    corrected: np.ndarray,
    slopes: np.ndarray,
    relation: float | None,
    ad: np.ndarray,
) -> PairVerdict:
    """The verdict on one pair from held-out molecules with both labels (see the module docstring)."""
    n = int(len(y))
    if n < MIN_PAIRS:
        return PairVerdict(
            known,
            target,
            n,
            relation,
            None,
            None,
            None,
            False,
            f"{NO_RELATION} (too few held-out molecules with both labels)",
        )
    rmse_plain, rmse_corr = (
        float(np.sqrt(np.mean((plain - y) ** 2))),
        float(np.sqrt(np.mean((corrected - y) ** 2))),
    )
    direction = float(np.median(slopes))
    interval = None
    if relation is None or abs(relation) < MIN_RELATION:
        accepted, reason = (
            False,
            f"{NO_RELATION} (the two properties are not related in the training labels)",
        )
    elif rmse_corr > (1.0 - MIN_GAIN) * rmse_plain:
        accepted, reason = (
            False,
            f"{NO_RELATION} (the correction does not beat the plain prediction on held-out molecules)",
        )
    elif direction * relation <= 0:
        accepted, reason = (
            False,
            f"{NO_RELATION} (the correction runs against the relation in the data)",
        )
    else:
        accepted, reason = (
            True,
            f"accepted: {100 * (1 - rmse_corr / rmse_plain):.1f} % lower held-out RMSE",
        )
        interval = ConformalInterval.fit(y - corrected, ad, LEVEL).to_dict()
    return PairVerdict(
        known, target, n, relation, rmse_plain, rmse_corr, direction, accepted, reason, interval
    )


def evaluate_pairs(
    predictor: RelationalPredictor,
    held: HeldOut,
    train_labels: np.ndarray,
    calibration: BackboneCalibration | None,
    head_id: str,
) -> PairGate:
    """Judge every (known → target) pair of backbone properties on the validation molecules."""
    names = predictor.backbone.property_names
    gate = PairGate(backbone_fingerprint(predictor.backbone), head_id)
    for j, known in enumerate(names):
        rows = np.flatnonzero(np.isfinite(held.Y[:, j]))
        targets = [t for t in names if t != known]
        if len(rows) < MIN_PAIRS:
            for t in targets:
                gate.verdicts[gate.key(known, t)] = PairVerdict(
                    known,
                    t,
                    int(len(rows)),
                    None,
                    None,
                    None,
                    None,
                    False,
                    f"{NO_RELATION} (too few validation molecules)",
                )
            continue
        h = held.h[torch.as_tensor(rows)]
        with torch.no_grad():
            out = predictor.predict_scaled(h, targets, [{known: float(v)} for v in held.Y[rows, j]])
            slopes = known_slopes(predictor, h, targets, known, held.Y[rows, j])
        for c, target in enumerate(targets):
            k = names.index(target)
            both = np.isfinite(held.Y[rows, k])
            domain = calibration.domains.get(target) if calibration else None
            ad = (
                domain.score(held.chart[torch.as_tensor(rows[both])]).numpy()
                if domain is not None and both.any()
                else np.ones(int(both.sum()))
            )
            gate.verdicts[gate.key(known, target)] = judge_pair(
                known,
                target,
                held.Y[rows[both], k],
                out["plain"][both, c],
                out["relational"][both, c],
                slopes[both, c],
                _spearman(train_labels[:, j], train_labels[:, k]),
                ad,
            )
    return gate


def evaluate_task_pairs(
    predictor: RelationalPredictor,
    task: str,
    smiles: list[str],
    y: np.ndarray,
    oof: np.ndarray,
    ad: np.ndarray,
    labels: list[dict[str, float]],
) -> dict[str, PairVerdict]:
    """Judge (backbone property → added ``task``) pairs on the task's own molecules, out of fold.

    ``oof``: each molecule's prediction by the ensemble member that did not train on it (the
    plain prediction a new molecule would get); ``labels``: each molecule's recorded backbone
    labels (the backbone's table). The correction the head adds to the plain prediction is
    added to ``oof``. Pairs the other way (added task known → a backbone property) are not
    judged here and so are refused.
    """
    from gate_core.training.evaluate import embed

    spec = predictor.specs[task]
    verdicts: dict[str, PairVerdict] = {}
    with_labels = np.array([i for i, row in enumerate(labels) if row], dtype=np.int64)
    with torch.no_grad():
        h_all = (
            embed(predictor.backbone, [smiles[i] for i in with_labels])
            if len(with_labels)
            else None
        )
    position = {int(i): p for p, i in enumerate(with_labels)}
    for known in predictor.backbone.property_names:
        rows = np.array([i for i, row in enumerate(labels) if known in row], dtype=np.int64)
        values = np.array([labels[i][known] for i in rows], dtype=np.float64)
        relation = _spearman(values, y[rows]) if len(rows) else None
        if len(rows) < MIN_PAIRS:
            verdicts[PairGate.key(known, task)] = PairVerdict(
                known,
                task,
                int(len(rows)),
                relation,
                None,
                None,
                None,
                False,
                f"{NO_RELATION} (too few of the task's molecules have a recorded {known})",
            )
            continue
        with torch.no_grad():
            h = h_all[torch.as_tensor([position[int(i)] for i in rows])]
            correction = predictor.predict_scaled(h, [task], [{known: float(v)} for v in values])[
                "correction"
            ][:, 0]
            slopes = known_slopes(predictor, h, [task], known, values)[:, 0]
        if spec.classification:  # the correction is on the logit
            logit = np.log(np.clip(oof[rows], 1e-6, 1 - 1e-6) / np.clip(1 - oof[rows], 1e-6, 1))
            corrected = 1 / (1 + np.exp(-(logit + correction)))
        else:
            corrected = oof[rows] + correction * spec.y_std
        verdicts[PairGate.key(known, task)] = judge_pair(
            known, task, y[rows], oof[rows], corrected, slopes, relation, ad[rows]
        )
    return verdicts


# ---- building once, caching in the data folder ------------------------------------------------


class ReliabilityCache:
    """Computes :class:`BackboneCalibration` and :class:`PairGate` on first use and caches them under ``folder``."""

    def __init__(self, folder: Path, backbone: GATEModel, meta: dict, backbone_id: str) -> None:
        self.folder, self.backbone, self.meta, self.backbone_id = (
            Path(folder),
            backbone,
            meta,
            backbone_id,
        )
        self._lock = threading.RLock()
        self._calibration: BackboneCalibration | None = None
        self._gates: dict[str, PairGate] = {}
        self._held: tuple[HeldOut, np.ndarray, list[str]] | None = None
        self._failure: ValueError | None = None

    def _held_out(self) -> tuple[HeldOut, np.ndarray, list[str]]:
        if self._held is None:
            self._held = held_out_split(self.backbone, self.meta, "val")
        return self._held

    def calibration(self) -> BackboneCalibration:
        """Raises ``ValueError`` (every time, without retrying) when the backbone's split cannot be recomputed."""
        with self._lock:
            if self._failure is not None:
                raise self._failure
            if self._calibration is None:
                path = self.folder / f"backbone-{self.backbone_id}"
                try:
                    self._calibration = BackboneCalibration.load(path)
                except (OSError, ValueError, KeyError):
                    try:
                        self._calibration = calibrate_backbone(self.backbone, *self._held_out())
                    except ValueError as exc:
                        self._failure = exc
                        raise
                    self._calibration.save(path)
            return self._calibration

    def pair_gate(self, predictor: RelationalPredictor) -> PairGate:
        head_id = backbone_fingerprint(predictor.head)
        with self._lock:
            if head_id not in self._gates:
                path = self.folder / f"pairs-{self.backbone_id}-{head_id}.json"
                try:
                    self._gates[head_id] = PairGate.from_dict(json.loads(path.read_text()))
                except (OSError, ValueError, KeyError, TypeError):
                    held, train_labels, _ = self._held_out()
                    gate = evaluate_pairs(
                        predictor, held, train_labels, self.calibration(), head_id
                    )
                    self.folder.mkdir(parents=True, exist_ok=True)
                    tmp = path.with_name(path.name + ".tmp")
                    tmp.write_text(json.dumps(gate.to_dict(), indent=1, sort_keys=True))
                    os.replace(tmp, path)
                    self._gates[head_id] = gate
            return self._gates[head_id]
