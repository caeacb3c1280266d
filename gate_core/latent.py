"""Points of molecules in the model's latent spaces: the common chart, a source's, an added task's.

Why in the library: which spaces exist and how a point is computed (the common chart averaged
over the sources, as the applicability domain uses it) is model work; the page only draws.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from gate_core.paths import BACKBONE_TABLE

if TYPE_CHECKING:
    from gate_core.api import GateStudio

COMMON_CHART = "common chart"


def latent_spaces(studio: GateStudio) -> list[str]:
    """Spaces that can be drawn: the common chart, each source task's and each added task's latent."""
    return [COMMON_CHART, *studio.backbone.task_names, *(r.name for r in studio.added_tasks())]


def latent_points(studio: GateStudio, smiles: list[str], space: str) -> np.ndarray:
    """(N, latent_dim) points of canonical ``smiles`` in one space.

    ``common chart``: u averaged over the source tasks (what the applicability domain uses);
    a source task: its latent z_s; an added task: the first ensemble member's latent z_t.
    """
    import torch

    from gate_core.training.evaluate import embed

    with torch.no_grad():
        h = embed(studio.backbone, list(smiles))
        if space == COMMON_CHART:
            _, u = studio.backbone.latents(h)
            points = u.mean(dim=0)
        elif space in studio.backbone.task_names:
            points = studio.backbone.latents(h)[0][studio.backbone.task_names.index(space)]
        else:
            points = studio.load_task(space).members[0].latent(h)
    return points.detach().cpu().numpy().astype(np.float32)


def backbone_sample(n: int = 300, seed: int = 0, path: str | Path = BACKBONE_TABLE) -> pd.DataFrame:
    """``n`` molecules of the backbone's table, wide: ``smiles`` + one column per property."""
    long = pd.read_csv(path, usecols=["smiles", "task", "value"])
    unique = long["smiles"].drop_duplicates().to_numpy()
    rng = np.random.default_rng(seed)
    chosen = set(rng.choice(unique, size=min(n, len(unique)), replace=False).tolist())
    wide = long[long["smiles"].isin(chosen)].pivot_table(
        index="smiles", columns="task", values="value", aggfunc="median"
    )
    return wide.reset_index().rename_axis(columns=None)
