"""What the benchmark report (``bench/report.py``) and the app's Benchmarks page both show.

Why one module: the Markdown report and the interactive page must name, colour and order the
same methods, result files and curves; nothing here imports torch, so the page stays fast.
"""

from __future__ import annotations

import math
from typing import Any

#: Result files, in the order of the report, with the command that makes each.
RESULTS: dict[str, str] = {
    "featurization": "python -m bench featurization",
    "pretraining": "python -m bench pretraining",
    "pretraining_quick": "python -m bench pretraining --quick",
    "backbone_quality": "python -m bench backbone_quality",
    "task_addition": "python -m bench task_addition",
    "task_addition_v1": "python -m bench task_addition --results-name task_addition_v1 --targets caco2,pk_vdss,pk_cl,pk_fu,pk_thalf,logp_fluorinated,bbbp,clintox --sizes 50 --skip-speed --threads 1 --rf-jobs 1",
    "task_addition_v2": "python -m bench task_addition --backbone <v2> --results-name task_addition_v2 --corpus assets/data/corpus/smiles.txt --targets caco2,pk_vdss,pk_cl,pk_fu,pk_thalf,logp_fluorinated,bbbp,clintox --sizes 50 --skip-speed --threads 1 --rf-jobs 1",
    "chemprop_compare": "python -m bench chemprop_compare",
    "scaling": "python -m bench scaling",
    "scaling_cuda": "python -m bench scaling",
    "relational": "python -m bench relational",
    "page_render": "python -m bench page_render",
    "preview_time": "python -m bench preview_time",
    "gpu_figures": "python -m bench gpu_figures",
}

METHOD_LABELS = {
    "learned": "GATE task addition, learned λ",
    "gate_learned": "GATE task addition, learned λ",
    "uniform": "GATE task addition, uniform λ",
    "topk": "GATE task addition, top-5 sources by learned λ",
    "probe": "frozen backbone + new head",
    "finetune": "fine-tuned backbone",
    "single_task": "single-task D-MPNN",
    "rf": "RF on RDKit 2D",
    "lgbm": "LightGBM on RDKit 2D",
    "chemprop_single": "chemprop, single-task",
    "chemprop_finetuned": "chemprop, pre-trained + fine-tuned",
    "gate": "GATE backbone",
    "multitask": "multi-task, no alignment",
}

METHOD_COLOURS = {
    "learned": "#2f6f8f",
    "gate_learned": "#2f6f8f",
    "uniform": "#6aa8c4",
    "topk": "#1d4f66",
    "probe": "#8c6bb1",
    "finetune": "#41ab5d",
    "single_task": "#c77c2e",
    "rf": "#969696",
    "lgbm": "#525252",
    "chemprop_single": "#d6604d",
    "chemprop_finetuned": "#b2182b",
    "gate": "#2f6f8f",
    "multitask": "#6aa8c4",
}

#: The scaling curves: (key, x field, y fields, x title, y title, chart title, log x).
SCALING_CURVES = [
    ("add_task_vs_sources", "n_sources", ["wall_seconds"], "source tasks in the backbone", "seconds", "Add-task time vs number of source tasks", False),
    ("add_task_vs_n", "n", ["wall_seconds", "featurize_seconds", "train_seconds"], "molecules in the new task", "seconds", "Add-task time vs new-task size", False),
    ("add_task_vs_existing", "existing_tasks", ["wall_seconds", "predict_seconds"], "tasks already added", "seconds", "Add-task time vs tasks already added", False),
    ("pretrain_step_vs_tasks", "n_tasks", ["step_ms"], "tasks", "ms per step", "Pre-training step time vs number of tasks", False),
    ("predict_vs_batch", "batch_size", ["mol_per_s", "warm_mol_per_s"], "batch size", "molecules / s", "Prediction throughput vs batch size", True),
    ("featurize_vs_batch", "molecules", ["mol_per_s"], "molecules", "molecules / s", "Featurisation throughput vs batch", True),
]


def finite_number(x: Any) -> float | None:
    """``x`` as a float when it is a finite int/float (not a bool); otherwise None (JSON nulls, text)."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    return float(x) if math.isfinite(float(x)) else None


def size_sort_key(size: Any) -> tuple[int, float, str]:
    """Order training sizes numerically (50 < 100 < 200, also as strings), then 'all' and other text last."""
    v = finite_number(size)
    if v is None:
        try:
            v = float(str(size))
        except ValueError:
            return (1, math.inf, str(size))
    return (0, v, str(size))
