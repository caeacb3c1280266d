"""Transfer ratios as a ranked table: λ, its spread, share of the total, and whether it stands clear.

Why in the library: the ranking and its significance rule are what the model card states and
the Transfer-ratios page shows; both must say the same.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

NOT_SIGNIFICANT = "within the spread"


def ratio_frame(ratios: dict, kinds: dict[str, str] | None = None) -> pd.DataFrame:
    """Transfer ratios ranked from most to least useful: λ, its spread, share of the total, and
    whether λ stands clear of the next source's; with ``kinds`` (source → kind label) a ``kind`` column.

    ``share`` is λ over the sum of the λ shown, so shares rank exactly as λ does (the stored
    per-member shares, averaged, need not). ``vs_next`` is :data:`NOT_SIGNIFICANT` when the gap
    to the next-ranked λ is within their combined ensemble spread (√(σ₁² + σ₂²)).
    """
    rows = [
        {"source": s, **{k: float(v.get(k, 0.0)) for k in ("ratio", "ratio_std", "share_std")}}
        for s, v in (ratios or {}).items()
    ]
    frame = pd.DataFrame(rows, columns=["source", "ratio", "ratio_std", "share_std"])
    frame = frame.sort_values("ratio", ascending=False, kind="stable").reset_index(drop=True)
    total = frame["ratio"].sum()
    frame.insert(3, "share", frame["ratio"] / total if total > 0 else 0.0)
    gap = frame["ratio"] - frame["ratio"].shift(-1)
    spread = np.sqrt(frame["ratio_std"] ** 2 + frame["ratio_std"].shift(-1) ** 2)
    frame["vs_next"] = np.where(
        gap.isna(), "", np.where(gap > spread, "clearly higher", NOT_SIGNIFICANT)
    )
    if kinds is not None:
        frame.insert(1, "kind", [kinds.get(s, "") for s in frame["source"]])
    return frame
