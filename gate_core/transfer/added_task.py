"""An added task: an ensemble of K task modules + scaler + ratios + applicability domain.

Saved as ``task.safetensors`` (weights and AD reference points, no pickle) and ``task.json``
(metadata), next to nothing else: it needs the backbone it was trained on, whose fingerprint it
records and checks on load.

A task also keeps its alternatives (issue 12): the frozen-backbone probe ensemble (``probe``,
K new heads on the frozen representation, no alignment) and the relational head's zero-training
read-out (``preview``, rebuilt from the stored dataset by the API). Which one answers
predictions is ``metadata["model"]`` (:data:`gate_core.registries.MODELS`), chosen by the
chemist; each has its own calibration (``metadata["calibration"][model]``) from its out-of-fold
predictions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from gate_core.featurizers.molecule import parse_smiles
from gate_core.models.gate import GATEModel, TaskInfo
from gate_core.nn.task_modules import TaskModules
from gate_core.registries import MODELS
from gate_core.training.evaluate import embed
from gate_core.transfer.calibration import Calibration
from gate_core.transfer.domain import ApplicabilityDomain, domain_label

WEIGHTS_FILE = "task.safetensors"
METADATA_FILE = "task.json"
TASK_FORMAT_VERSION = 1


class AddedTaskError(RuntimeError):
    """An added-task file that is missing, corrupt or belongs to another backbone."""


@dataclass
class AddedTask:
    """A trained new task. ``members`` share one architecture; predictions are their mean ± std."""

    info: TaskInfo
    members: list[TaskModules]
    y_mean: float
    y_std: float
    domain: ApplicabilityDomain
    backbone_id: str
    metadata: dict = field(default_factory=dict)
    probe_members: list[TaskModules] = field(default_factory=list)

    @property
    def classification(self) -> bool:
        return self.info.task_type == "classification"

    @property
    def model(self) -> str:
        """The chosen model (:data:`~gate_core.registries.MODELS`); tasks saved before the choice existed use ``gate``."""
        return self.metadata.get("model", "gate")

    def available_models(self) -> list[str]:
        """Models that can answer: ``gate``, ``probe`` when its members exist, ``preview`` when calibrated."""
        calibrated = self.metadata.get("calibration", {})
        return [
            m
            for m in MODELS
            if m == "gate"
            or (m == "probe" and self.probe_members)
            or (m == "preview" and m in calibrated)
        ]

    def calibration(self, model: str | None = None) -> Calibration:
        return Calibration.from_dict(self.metadata.get("calibration", {}).get(model or self.model))

    @torch.no_grad()
    def raw_predictions(self, h: torch.Tensor, model: str = "gate") -> torch.Tensor:
        """(K, N) member outputs of ``gate`` or ``probe`` in user units (probability for classification)."""
        outputs = []
        for member in self.probe_members if model == "probe" else self.members:
            member.eval()
            scaled = member.head(member.latent(h))
            outputs.append(
                torch.sigmoid(scaled) if self.classification else scaled * self.y_std + self.y_mean
            )
        return torch.stack(outputs).cpu()

    @torch.no_grad()
    def predict_from_representation(
        self,
        h: torch.Tensor,
        common_chart: torch.Tensor,
        model: str | None = None,
        preview: np.ndarray | None = None,
    ) -> dict[str, np.ndarray]:
        """Calibrated prediction of the chosen (or given) ``model``, with its interval and domain.

        Returns ``mean`` (user units, or calibrated probability of class 1), ``std`` (spread of
        the ensemble; NaN for ``preview``), ``lo``/``hi`` (the calibrated interval at
        ``level``; NaN for classification), ``ad_score``, ``in_domain`` and ``domain`` (words).
        ``preview``: the relational read-out (N,) in user units, required when the model is
        ``preview`` (the API builds it; this object holds no relational head).
        """
        model = model or self.model
        if model == "preview":
            if preview is None:
                raise ValueError(
                    "the preview model's predictions come from the relational head; pass them as `preview`"
                )
            mean, std = np.asarray(preview, dtype=np.float64), np.full(len(preview), np.nan)
        else:
            stacked = self.raw_predictions(h, model)
            mean, std = (
                stacked.mean(dim=0).numpy().astype(np.float64),
                stacked.std(dim=0, unbiased=False).numpy().astype(np.float64),
            )
        score = self.domain.score(common_chart).numpy().astype(np.float64)
        calibration = self.calibration(model)
        lo = hi = np.full(len(mean), np.nan)
        if calibration.platt is not None:
            mean = calibration.platt(mean)
        if calibration.interval is not None:
            lo, hi = calibration.interval.bounds(mean, score)
        return {
            "mean": mean,
            "std": std,
            "lo": lo,
            "hi": hi,
            "ad_score": score,
            "in_domain": score <= 1.0,
            "domain": domain_label(score),
        }

    @torch.no_grad()
    def predict(self, backbone: GATEModel, smiles: list[str]) -> pd.DataFrame:
        """Predict raw SMILES; invalid rows are kept with an ``error`` column, never dropped.

        A task whose chosen model is ``preview`` answers here with its trained ensemble (the
        read-out needs the relational head: use :meth:`gate_core.api.GateStudio.predict`).
        """
        parsed = [parse_smiles(s) for s in smiles]
        ok = [p for p in parsed if p.ok]
        frame = pd.DataFrame(
            {
                "input": [p.input for p in parsed],
                "smiles": [p.smiles for p in parsed],
                "error": [p.error for p in parsed],
            }
        )
        numeric = ("mean", "std", "lo", "hi", "ad_score")
        for col in numeric:
            frame[col] = np.nan
        frame["in_domain"] = pd.Series([None] * len(frame), dtype=object)
        frame["domain"] = ""
        if ok:
            canonical = [p.smiles for p in ok]
            h = embed(backbone, canonical)
            _, u = backbone.latents(h)
            result = self.predict_from_representation(
                h, u.mean(dim=0), "gate" if self.model == "preview" else None
            )
            rows = frame.index[frame["error"].isna()]
            for col in numeric:
                frame.loc[rows, col] = result[col]
            frame.loc[rows, "in_domain"] = pd.Series(
                result["in_domain"].astype(bool), index=rows, dtype=object
            )
            frame.loc[rows, "domain"] = result["domain"]
        return frame

    def save(self, out_dir: str | Path) -> Path:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        tensors = {
            f"member{k}.{name}": p.detach().cpu().contiguous()
            for k, m in enumerate(self.members)
            for name, p in m.state_dict().items()
        }
        tensors |= {
            f"probe{k}.{name}": p.detach().cpu().contiguous()
            for k, m in enumerate(self.probe_members)
            for name, p in m.state_dict().items()
        }
        tensors["domain.reference"] = self.domain.reference.contiguous()
        save_file(tensors, str(out_dir / WEIGHTS_FILE))
        first = self.members[0]
        meta = {
            "format_version": TASK_FORMAT_VERSION,
            "info": vars(self.info),
            "architecture": {
                "in_dim": first.in_dim,
                "latent_dim": first.latent_dim,
                "hidden": first.hidden,
            },
            "n_members": len(self.members),
            "n_probe_members": len(self.probe_members),
            "y_mean": self.y_mean,
            "y_std": self.y_std,
            "domain": {"threshold": self.domain.threshold, "neighbours": self.domain.neighbours},
            "backbone_id": self.backbone_id,
            **self.metadata,
        }
        (out_dir / METADATA_FILE).write_text(
            json.dumps(meta, indent=1, sort_keys=True, default=float)
        )
        return out_dir

    @classmethod
    def load(cls, path: str | Path, backbone_id: str | None = None) -> AddedTask:
        path = Path(path)
        try:
            meta = json.loads((path / METADATA_FILE).read_text())
        except FileNotFoundError as exc:
            raise AddedTaskError(
                f"{path} is not an added task: {METADATA_FILE} is missing"
            ) from exc
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise AddedTaskError(f"{path / METADATA_FILE} is corrupt: {exc}") from exc
        if meta.get("format_version") != TASK_FORMAT_VERSION:
            raise AddedTaskError(
                f"{path}: unknown added-task format {meta.get('format_version')!r}"
            )
        if backbone_id is not None and meta.get("backbone_id") != backbone_id:
            raise AddedTaskError(
                f"task '{meta.get('info', {}).get('name')}' was trained on backbone {meta.get('backbone_id')}, "
                f"but the installed backbone is {backbone_id}"
            )
        try:
            tensors = load_file(str(path / WEIGHTS_FILE))
        except (SafetensorError, OSError, ValueError) as exc:
            raise AddedTaskError(f"{path / WEIGHTS_FILE} is missing or corrupt: {exc}") from exc
        arch = meta["architecture"]

        def modules(kind: str, count: int) -> list[TaskModules]:
            out = []
            for k in range(count):
                member = TaskModules(arch["in_dim"], arch["latent_dim"], arch["hidden"])
                prefix = f"{kind}{k}."
                try:
                    member.load_state_dict(
                        {n[len(prefix) :]: t for n, t in tensors.items() if n.startswith(prefix)},
                        strict=True,
                    )
                except RuntimeError as exc:
                    raise AddedTaskError(
                        f"{path}: {kind} {k} does not match its architecture: {exc}"
                    ) from exc
                out.append(member.eval())
            return out

        members, probes = (
            modules("member", meta["n_members"]),
            modules("probe", meta.get("n_probe_members", 0)),
        )
        domain = ApplicabilityDomain(
            tensors["domain.reference"], meta["domain"]["threshold"], meta["domain"]["neighbours"]
        )
        skip = {
            "format_version",
            "info",
            "architecture",
            "n_members",
            "n_probe_members",
            "y_mean",
            "y_std",
            "domain",
            "backbone_id",
        }
        extra = {k: v for k, v in meta.items() if k not in skip}
        return cls(
            TaskInfo(**meta["info"]),
            members,
            meta["y_mean"],
            meta["y_std"],
            domain,
            meta["backbone_id"],
            extra,
            probes,
        )
