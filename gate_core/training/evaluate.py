"""Batched inference and metrics: shared representation, predictions, RMSE/MAE/R²/ROC-AUC.

Why ``embed`` is public: everything upstream of the task modules is frozen after pre-training,
so task addition, the relational head and the latent-space page compute h once and reuse it.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.metrics import average_precision_score, roc_auc_score

from gate_core.data.collate import collate_graphs
from gate_core.data.featurize import featurize_molecules
from gate_core.data.table import MultiTaskTable
from gate_core.models.gate import GATEModel


@torch.no_grad()
def embed(
    model: GATEModel, smiles: list[str], batch_size: int = 256, progress: bool = False
) -> torch.Tensor:
    """Shared representation h (N, D) for canonical SMILES, on the model's device."""
    device = next(model.parameters()).device
    graphs, descriptors = featurize_molecules(
        smiles, descriptors=model.config.n_descriptors > 0, progress=progress
    )
    was_training = model.training
    model.eval()
    out = []
    desc = torch.as_tensor(descriptors, dtype=torch.float32)
    for start in range(0, len(graphs), batch_size):
        graph = collate_graphs(graphs[start : start + batch_size]).to(device)
        d = desc[start : start + batch_size].to(device) if model.config.n_descriptors else None
        out.append(model.representation(graph, d))
    model.train(was_training)
    if not out:
        return torch.zeros((0, model.config.representation_dim), device=device)
    return torch.cat(out)


@torch.no_grad()
def predict(model: GATEModel, smiles: list[str], batch_size: int = 256) -> np.ndarray:
    """(N, C) predictions in user units (probabilities for classification tasks), one column per output."""
    was_training = model.training
    model.eval()
    h = embed(model, smiles, batch_size)
    values = model.unscale(model.predict_scaled(h)).cpu().numpy()
    model.train(was_training)
    return values


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """RMSE, MAE and R² (R² = 1 − SSE/SST; NaN for fewer than two points)."""
    y_true, y_pred = np.asarray(y_true, float), np.asarray(y_pred, float)
    err = y_pred - y_true
    n = len(y_true)
    sst = float(((y_true - y_true.mean()) ** 2).sum()) if n else 0.0
    return {
        "n": n,
        "rmse": float(np.sqrt((err**2).mean())) if n else float("nan"),
        "mae": float(np.abs(err).mean()) if n else float("nan"),
        "r2": float(1.0 - (err**2).sum() / sst) if n > 1 and sst > 0 else float("nan"),
    }


def classification_metrics(y_true: np.ndarray, prob: np.ndarray) -> dict[str, float]:
    """ROC-AUC, PR-AUC (average precision: informative when positives are rare) and accuracy
    at 0.5; the AUCs are NaN when only one class is present."""
    y_true, prob = np.asarray(y_true, float), np.asarray(prob, float)
    both = len(np.unique(y_true)) == 2
    auc = float(roc_auc_score(y_true, prob)) if both else float("nan")
    pr_auc = float(average_precision_score(y_true, prob)) if both else float("nan")
    return {
        "n": len(y_true),
        "roc_auc": auc,
        "pr_auc": pr_auc,
        "accuracy": float(((prob >= 0.5) == (y_true >= 0.5)).mean()) if len(y_true) else np.nan,
    }


def evaluate_table(model: GATEModel, table: MultiTaskTable) -> dict[str, dict[str, float]]:
    """Per-column metrics on every label in ``table`` (columns matched to the model's outputs by name)."""
    preds = predict(model, table.smiles)
    results: dict[str, dict[str, float]] = {}
    outputs = model.output_names
    for j, task in enumerate(table.tasks):
        if task not in outputs:
            continue
        k = outputs.index(task)
        known = np.isfinite(table.Y[:, j])
        if not known.any():
            continue
        if bool(model.classification[k]):
            results[task] = classification_metrics(table.Y[known, j], preds[known, k])
        else:
            results[task] = regression_metrics(table.Y[known, j], preds[known, k])
    return results
