"""An added task: an ensemble of K task modules + scaler + ratios + applicability domain.

Saved as ``task.safetensors`` (weights and AD reference points, no pickle) and ``task.json``
(metadata), next to nothing else: it needs the backbone it was trained on, whose fingerprint it
records and checks on load.
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
from gate_core.training.evaluate import embed
from gate_core.transfer.domain import ApplicabilityDomain

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

    @property
    def classification(self) -> bool:
        return self.info.task_type == "classification"

    @torch.no_grad()
    def predict_from_representation(self, h: torch.Tensor, common_chart: torch.Tensor) -> dict[str, np.ndarray]:
        """Mean, std over the ensemble (user units or probability) and AD score/flag."""
        outputs = []
        for member in self.members:
            member.eval()
            scaled = member.head(member.latent(h))
            outputs.append(torch.sigmoid(scaled) if self.classification else scaled * self.y_std + self.y_mean)
        stacked = torch.stack(outputs).cpu()
        score = self.domain.score(common_chart)
        return {
            "mean": stacked.mean(dim=0).numpy(),
            "std": stacked.std(dim=0, unbiased=False).numpy(),
            "ad_score": score.numpy(),
            "in_domain": (score <= 1.0).numpy(),
        }

    @torch.no_grad()
    def predict(self, backbone: GATEModel, smiles: list[str]) -> pd.DataFrame:
        """Predict raw SMILES; invalid rows are kept with an ``error`` column, never dropped."""
        parsed = [parse_smiles(s) for s in smiles]
        ok = [p for p in parsed if p.ok]
        frame = pd.DataFrame({"input": [p.input for p in parsed], "smiles": [p.smiles for p in parsed], "error": [p.error for p in parsed]})
        for col in ("mean", "std", "ad_score"):
            frame[col] = np.nan
        frame["in_domain"] = pd.Series([None] * len(frame), dtype=object)
        if ok:
            canonical = [p.smiles for p in ok]
            h = embed(backbone, canonical)
            _, u = backbone.latents(h)
            result = self.predict_from_representation(h, u.mean(dim=0))
            rows = frame.index[frame["error"].isna()]
            for col in ("mean", "std", "ad_score"):
                frame.loc[rows, col] = result[col]
            frame.loc[rows, "in_domain"] = pd.Series(result["in_domain"].astype(bool), index=rows, dtype=object)
        return frame

    def save(self, out_dir: str | Path) -> Path:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        tensors = {f"member{k}.{name}": p.detach().cpu().contiguous() for k, m in enumerate(self.members) for name, p in m.state_dict().items()}
        tensors["domain.reference"] = self.domain.reference.contiguous()
        save_file(tensors, str(out_dir / WEIGHTS_FILE))
        first = self.members[0]
        meta = {
            "format_version": TASK_FORMAT_VERSION,
            "info": vars(self.info),
            "architecture": {"in_dim": first.in_dim, "latent_dim": first.latent_dim, "hidden": first.hidden},
            "n_members": len(self.members),
            "y_mean": self.y_mean,
            "y_std": self.y_std,
            "domain": {"threshold": self.domain.threshold, "neighbours": self.domain.neighbours},
            "backbone_id": self.backbone_id,
            **self.metadata,
        }
        (out_dir / METADATA_FILE).write_text(json.dumps(meta, indent=1, sort_keys=True, default=float))
        return out_dir

    @classmethod
    def load(cls, path: str | Path, backbone_id: str | None = None) -> "AddedTask":
        path = Path(path)
        try:
            meta = json.loads((path / METADATA_FILE).read_text())
        except FileNotFoundError as exc:
            raise AddedTaskError(f"{path} is not an added task: {METADATA_FILE} is missing") from exc
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise AddedTaskError(f"{path / METADATA_FILE} is corrupt: {exc}") from exc
        if meta.get("format_version") != TASK_FORMAT_VERSION:
            raise AddedTaskError(f"{path}: unknown added-task format {meta.get('format_version')!r}")
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
        members = []
        for k in range(meta["n_members"]):
            member = TaskModules(arch["in_dim"], arch["latent_dim"], arch["hidden"])
            prefix = f"member{k}."
            try:
                member.load_state_dict({n[len(prefix):]: t for n, t in tensors.items() if n.startswith(prefix)}, strict=True)
            except RuntimeError as exc:
                raise AddedTaskError(f"{path}: member {k} does not match its architecture: {exc}") from exc
            member.eval()
            members.append(member)
        domain = ApplicabilityDomain(tensors["domain.reference"], meta["domain"]["threshold"], meta["domain"]["neighbours"])
        extra = {k: v for k, v in meta.items() if k not in {"format_version", "info", "architecture", "n_members", "y_mean", "y_std", "domain", "backbone_id"}}
        return cls(TaskInfo(**meta["info"]), members, meta["y_mean"], meta["y_std"], domain, meta["backbone_id"], extra)
