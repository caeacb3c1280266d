"""chemprop v2 side of ``bench/chemprop_compare.py``: multi-task pre-training and per-target fits.

Runs in the bench venv (``.venv-bench``) and imports only chemprop, torch, lightning, numpy and
pandas, never ``gate_core``, whose RDKit differs from the one chemprop pins: every input (SMILES,
labels, folds) comes from files ``chemprop_compare`` wrote, so both sides see the same molecules
in the same folds. ``pretrain`` trains a multi-task MPNN with chemprop's defaults and saves it
(``DIR/model.pt``, ``DIR/pretrain.json``); ``fit`` trains ``chemprop_single`` and/or
``chemprop_finetuned`` (the ``--from-foundation`` route) on one cell file (smiles, value, fold),
early-stopped on its val fold, with RDKit 2D descriptors as extra FFN input and an ensemble of
``--ensemble`` seeds, and writes ``DIR/<method>.json`` with the test predictions and timings.
``fit --task-type classification`` trains chemprop's binary classifier (BCE, sigmoid output;
labels 0/1 are not standardised) and predicts probabilities.
Options: ``python bench/chemprop_runner.py {pretrain,fit} --help``; context: bench/README.md.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import platform
import socket
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

METHODS = ("chemprop_single", "chemprop_finetuned")


def _log(msg: str) -> None:
    print(f"[chemprop_runner] {msg}", flush=True)


# ------------------------------------------------------------------------------------ helpers


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def setup(args: argparse.Namespace) -> dict:
    """Thread count, quiet Lightning, and a description of the device this process runs on."""
    import logging

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    for name in ("lightning", "lightning.pytorch", "pytorch_lightning", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)
    if args.accelerator == "gpu":
        if not torch.cuda.is_available():
            raise RuntimeError("--accelerator gpu but torch.cuda.is_available() is False")
        device = f"cuda ({torch.cuda.get_device_name(0)})"
    else:
        device = f"cpu ({cpu_model()}, {torch.get_num_threads()} threads)"
    import chemprop
    import lightning

    return {
        "device": device,
        "host": socket.gethostname(),
        "accelerator": args.accelerator,
        "torch_threads": torch.get_num_threads(),
        "versions": {
            "chemprop": chemprop.__version__,
            "lightning": lightning.__version__,
            "torch": torch.__version__,
            "python": platform.python_version(),
        },
    }


def regression_metrics(y: np.ndarray, pred: np.ndarray) -> dict:
    """RMSE, MAE, R² (1 − SSE/SST), as ``gate_core.training.evaluate.regression_metrics``."""
    y, pred = np.asarray(y, float), np.asarray(pred, float)
    err = pred - y
    n = len(y)
    sst = float(((y - y.mean()) ** 2).sum()) if n else 0.0
    return {
        "n": n,
        "rmse": float(np.sqrt((err**2).mean())) if n else float("nan"),
        "mae": float(np.abs(err).mean()) if n else float("nan"),
        "r2": float(1.0 - (err**2).sum() / sst) if n > 1 and sst > 0 else float("nan"),
    }


def classification_metrics(y: np.ndarray, prob: np.ndarray) -> dict:
    """ROC-AUC and PR-AUC (sklearn, as ``gate_core.training.evaluate.classification_metrics``);
    NaN when the test set holds one class only."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    both = len(np.unique(y)) == 2
    return {
        "roc_auc": float(roc_auc_score(y, prob)) if both else float("nan"),
        "pr_auc": float(average_precision_score(y, prob)) if both else float("nan"),
    }


def _json_safe(value):
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        return _json_safe(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(path: Path, payload: dict) -> None:
    """Atomic write: the reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(_json_safe(payload), indent=1, allow_nan=False) + "\n")
    os.replace(tmp, path)


def rdkit_descriptors(smiles: list[str]) -> np.ndarray:
    """(N, 217) every RDKit 2D descriptor; non-finite values → 0 and magnitudes capped at 1e6
    (``Ipc`` spans many orders of magnitude), so the training-fold standardisation stays finite."""
    from rdkit import Chem
    from rdkit.Chem import Descriptors

    X = np.array(
        [list(Descriptors.CalcMolDescriptors(Chem.MolFromSmiles(s)).values()) for s in smiles],
        dtype=np.float64,
    )
    return np.clip(np.nan_to_num(X, nan=0.0, posinf=0.0, neginf=0.0), -1e6, 1e6)


def within_training_range(train: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    """The val and test descriptors clipped to the training fold's range, column by column.

    Why: a descriptor constant on 80 training molecules (scale 1 after standardisation) but
    10⁶ on one test molecule (``Ipc``, say) reaches the FFN as 10⁶ and its prediction explodes:
    measured on fuel_ysi and Hfus_kJmol, nRMSE 15 and 2.5 on a seed. A tree model is bounded by
    the training range by construction; chemprop's own ``rdkit_2d_normalized`` features bound
    them by a CDF. Clipping gives the MPNN the same footing and changes no training value."""
    lo, hi = train.min(axis=0), train.max(axis=0)
    return [train, *(np.clip(x, lo, hi) for x in others)]


def make_dataset(
    smiles: list[str], Y: np.ndarray | None, featurizer, X_d: np.ndarray | None = None
):
    """A cached chemprop ``MoleculeDataset`` (featurised once, up front); ``X_d`` (N, d) extra
    molecule descriptors for the FFN."""
    from chemprop import data

    ys = [None] * len(smiles) if Y is None else list(Y)
    xs = [None] * len(smiles) if X_d is None else list(X_d)
    points = [data.MoleculeDatapoint.from_smi(s, y, x_d=x) for s, y, x in zip(smiles, ys, xs)]
    bad = [s for s, p in zip(smiles, points) if p.mol is None or p.mol.GetNumAtoms() == 0]
    if bad:
        raise ValueError(f"chemprop's RDKit cannot parse {len(bad)} SMILES, e.g. {bad[:3]}")
    dataset = data.MoleculeDataset(points, featurizer)
    dataset.cache = True
    return dataset


def epoch_clock(log: bool = False):  # noqa: ANN201 - a Lightning callback; built here so lightning is imported lazily
    """Lightning callback recording wall seconds and losses of every epoch (training +
    validation); with ``log``, one progress line per epoch (a pre-training runs for an hour)."""
    from lightning import pytorch as pl

    class EpochClock(pl.Callback):
        def __init__(self) -> None:
            self.epochs: list[dict] = []
            self._t0 = 0.0

        def on_train_epoch_start(self, trainer, pl_module) -> None:
            self._t0 = time.perf_counter()

        def on_train_epoch_end(self, trainer, pl_module) -> None:  # noqa: ANN001 - called after validation in Lightning 2
            metrics = trainer.callback_metrics
            entry = {"epoch": trainer.current_epoch + 1, "seconds": time.perf_counter() - self._t0}
            for key in ("train_loss_epoch", "val_loss"):
                if key in metrics:
                    entry[key] = float(metrics[key])
            self.epochs.append(entry)
            if log:
                _log(
                    f"epoch {entry['epoch']}: {entry['seconds']:.0f} s, val loss "
                    f"{entry.get('val_loss', float('nan')):.4f}"
                )

    return EpochClock()


def train(
    model,
    train_loader,
    val_loader,
    args: argparse.Namespace,
    epochs: int,
    patience: int,
    max_minutes: float,
    log_epochs: bool = False,
) -> dict:
    """Lightning fit with early stopping on val loss; the best-val-loss weights are restored."""
    import torch
    from lightning import pytorch as pl
    from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint

    clock = epoch_clock(log_epochs)
    with tempfile.TemporaryDirectory(prefix="chemprop_ckpt_") as tmp:
        checkpoint = ModelCheckpoint(
            dirpath=tmp, filename="best", monitor="val_loss", mode="min", save_top_k=1
        )
        trainer = pl.Trainer(
            logger=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            accelerator=args.accelerator,
            devices=1,
            max_epochs=epochs,
            max_time={"minutes": max_minutes} if max_minutes else None,
            callbacks=[checkpoint, EarlyStopping("val_loss", patience=patience, mode="min"), clock],
        )
        t0 = time.perf_counter()
        trainer.fit(model, train_loader, val_loader)
        train_seconds = time.perf_counter() - t0
        best_path = checkpoint.best_model_path
        if best_path:
            state = torch.load(best_path, map_location="cpu", weights_only=False)["state_dict"]
            model.load_state_dict(state)
    history = clock.epochs
    val_losses = [e.get("val_loss", float("inf")) for e in history]
    best_epoch = int(np.argmin(val_losses)) + 1 if history else None
    return {
        "epochs_run": len(history),
        "best_epoch": best_epoch,
        "best_val_loss": float(min(val_losses)) if history else None,
        "stopped_by_time": bool(max_minutes) and train_seconds >= 60 * max_minutes * 0.999,
        "train_seconds": train_seconds,
        "history": history,
    }


def predict(model, loader, args: argparse.Namespace) -> np.ndarray:
    """Predictions in the target's own units (the model's UnscaleTransform applies in eval mode)."""
    import torch
    from lightning import pytorch as pl

    trainer = pl.Trainer(
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator=args.accelerator,
        devices=1,
    )
    model.eval()
    batches = trainer.predict(model, loader)
    return torch.cat([b.detach().cpu() for b in batches], 0).numpy().astype(np.float64)


def build_mpnn(
    n_tasks: int,
    scaler,
    args: argparse.Namespace,
    featurizer,
    message_passing=None,
    agg=None,
    x_d_scaler=None,
):
    """chemprop's default MPNN (what ``chemprop train`` builds), or a new head on given message passing;
    with ``x_d_scaler`` the FFN also reads the (standardised) molecule descriptors. Without a
    target ``scaler`` the head is chemprop's binary classifier (what ``--task-type
    classification`` builds), scored on ROC-AUC."""
    from chemprop import models, nn

    if message_passing is None:
        message_passing = nn.BondMessagePassing(
            d_v=featurizer.atom_fdim,
            d_e=featurizer.bond_fdim,
            d_h=args.hidden,
            depth=args.depth,
            dropout=args.dropout,
        )
    if agg is None:
        agg = {"norm": nn.NormAggregation, "mean": nn.MeanAggregation, "sum": nn.SumAggregation}[
            args.aggregation
        ]()
    d_xd = 0 if x_d_scaler is None else len(x_d_scaler.mean_)
    head = dict(
        n_tasks=n_tasks,
        input_dim=message_passing.output_dim + d_xd,
        hidden_dim=args.ffn_hidden,
        n_layers=args.ffn_layers,
        dropout=args.dropout,
    )
    if scaler is None:
        ffn, metrics = nn.BinaryClassificationFFN(**head), [nn.metrics.BinaryAUROC()]
    else:
        ffn = nn.RegressionFFN(
            **head, output_transform=nn.UnscaleTransform.from_standard_scaler(scaler)
        )
        metrics = [nn.metrics.RMSE(), nn.metrics.MAE()]
    x_d_transform = (
        None if x_d_scaler is None else nn.ScaleTransform.from_standard_scaler(x_d_scaler)
    )
    return models.MPNN(
        message_passing,
        agg,
        ffn,
        batch_norm=args.batch_norm,
        metrics=metrics,
        warmup_epochs=args.warmup_epochs,
        init_lr=args.init_lr,
        max_lr=args.max_lr,
        final_lr=args.final_lr,
        X_d_transform=x_d_transform,
    )


def _architecture(args: argparse.Namespace) -> dict:
    keys = (
        "hidden",
        "depth",
        "dropout",
        "aggregation",
        "ffn_hidden",
        "ffn_layers",
        "batch_norm",
        "warmup_epochs",
        "init_lr",
        "max_lr",
        "final_lr",
    )
    return {k: getattr(args, k) for k in keys}


# ----------------------------------------------------------------------------------- pretrain


def cmd_pretrain(args: argparse.Namespace) -> int:
    from chemprop import data, featurizers
    from chemprop.models import save_model
    from lightning import pytorch as pl

    env = setup(args)
    started = time.perf_counter()
    table = pd.read_csv(args.table)
    tasks = [c for c in table.columns if c not in ("smiles", "fold")]
    unknown = sorted(set(table["fold"]) - {"train", "val"})
    if unknown:
        raise ValueError(
            f"{args.table}: fold must be train or val (no test molecules), found {unknown}"
        )
    if args.max_molecules:
        table = table.iloc[
            np.sort(np.random.default_rng(args.seed).permutation(len(table))[: args.max_molecules])
        ]
    train_rows, val_rows = table[table["fold"] == "train"], table[table["fold"] == "val"]
    featurizer = featurizers.SimpleMoleculeMolGraphFeaturizer()
    t0 = time.perf_counter()
    train_set = make_dataset(
        train_rows["smiles"].tolist(), train_rows[tasks].to_numpy(np.float64), featurizer
    )
    val_set = make_dataset(
        val_rows["smiles"].tolist(), val_rows[tasks].to_numpy(np.float64), featurizer
    )
    featurize_seconds = time.perf_counter() - t0
    _log(
        f"pretrain: {len(train_set)} train / {len(val_set)} val molecules, {len(tasks)} tasks, featurised in {featurize_seconds:.1f} s"
    )
    scaler = train_set.normalize_targets()
    val_set.normalize_targets(scaler)
    pl.seed_everything(args.seed, workers=True, verbose=False)
    model = build_mpnn(len(tasks), scaler, args, featurizer)
    train_loader = data.build_dataloader(
        train_set, batch_size=args.batch_size, seed=args.seed, num_workers=0
    )
    val_loader = data.build_dataloader(
        val_set, batch_size=args.batch_size, shuffle=False, num_workers=0
    )
    fit = train(
        model, train_loader, val_loader, args, args.epochs, args.patience, args.max_minutes, True
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    save_model(out / "model.pt", model, tasks)

    # val metrics per property, in its own units (model selection used this fold, so it is not a test score)
    raw_val = make_dataset(val_rows["smiles"].tolist(), None, featurizer)
    pred = predict(
        model, data.build_dataloader(raw_val, batch_size=256, shuffle=False, num_workers=0), args
    )
    Y = val_rows[tasks].to_numpy(np.float64)
    per_task = {}
    for j, task in enumerate(tasks):
        known = np.isfinite(Y[:, j])
        if known.sum() >= 2:
            m = regression_metrics(Y[known, j], pred[known, j])
            m["nrmse"] = (
                m["rmse"] / float(Y[known, j].std()) if Y[known, j].std() > 0 else float("nan")
            )
            per_task[task] = m
    epoch_seconds = [e["seconds"] for e in fit["history"]]
    summary = {
        "tasks": tasks,
        "n_train": len(train_set),
        "n_val": len(val_set),
        "labels_per_task": {
            t: int(np.isfinite(table[t].to_numpy(np.float64)).sum()) for t in tasks
        },
        "settings": {
            "epochs": args.epochs,
            "patience": args.patience,
            "batch_size": args.batch_size,
            "max_minutes": args.max_minutes,
            "seed": args.seed,
            "max_molecules": args.max_molecules,
            **_architecture(args),
        },
        "featurize_seconds": featurize_seconds,
        "train_seconds": fit["train_seconds"],
        "wall_seconds": time.perf_counter() - started,
        "epochs": fit["epochs_run"],
        "best_epoch": fit["best_epoch"],
        "best_val_loss": fit["best_val_loss"],
        "stopped_by_time": fit["stopped_by_time"],
        "median_epoch_seconds": float(np.median(epoch_seconds)) if epoch_seconds else None,
        "history": fit["history"],
        "val_metrics": per_task,
        # columns constant on the val fold have no nRMSE (std 0): the mean is over the others
        "val_mean_nrmse": float(np.nanmean([m["nrmse"] for m in per_task.values()]))
        if per_task
        else None,
        **env,
        "date_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }
    write_json(out / "pretrain.json", summary)
    _log(
        f"pretrain: {fit['epochs_run']} epochs (best {fit['best_epoch']}), {fit['train_seconds']:.1f} s training, "
        f"median {summary['median_epoch_seconds'] or 0:.1f} s/epoch, val mean nRMSE {summary['val_mean_nrmse']}"
    )
    return 0


# ---------------------------------------------------------------------------------------- fit


def fit_one(method: str, frame: pd.DataFrame, args: argparse.Namespace, env: dict) -> dict:
    from chemprop import data, featurizers
    from chemprop.models import MPNN
    from lightning import pytorch as pl

    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
    if method == "chemprop_finetuned" and not args.pretrained:
        raise ValueError("chemprop_finetuned needs --pretrained")
    parts = [frame[frame["fold"] == f] for f in ("train", "val", "test")]
    classify = args.task_type == "classification"
    if classify and not set(frame["value"].dropna().unique()) <= {0.0, 1.0}:
        raise ValueError(f"{args.data}: classification labels must be 0 or 1")
    featurizer = featurizers.SimpleMoleculeMolGraphFeaturizer()
    t0 = time.perf_counter()
    X_d = [
        rdkit_descriptors(p["smiles"].tolist()) if args.descriptors == "rdkit2d" else None
        for p in parts
    ]
    if X_d[0] is not None:
        X_d = within_training_range(*X_d)
    train_set, val_set, test_set = (
        make_dataset(
            p["smiles"].tolist(),
            p[["value"]].to_numpy(np.float64) if f != "test" else None,
            featurizer,
            x,
        )
        for p, f, x in zip(parts, ("train", "val", "test"), X_d)
    )
    featurize_seconds = time.perf_counter() - t0

    t0 = time.perf_counter()
    scaler = None if classify else train_set.normalize_targets()
    if scaler is not None:
        val_set.normalize_targets(scaler)
    x_d_scaler = None
    if (
        args.descriptors == "rdkit2d"
    ):  # the test set stays raw: the model's X_d transform scales it at prediction
        x_d_scaler = train_set.normalize_inputs("X_d")
        val_set.normalize_inputs("X_d", x_d_scaler)
    epochs, patience = (
        (args.ft_epochs, args.ft_patience)
        if method == "chemprop_finetuned"
        else (args.st_epochs, args.st_patience)
    )
    preds, fits = [], []
    for member in range(args.ensemble):
        pl.seed_everything(args.seed + member, workers=True, verbose=False)
        if method == "chemprop_finetuned":
            # chemprop's `train --from-foundation <local model file>`: reuse message passing + aggregation, new FFN
            foundation = MPNN.load_from_file(args.pretrained, map_location="cpu")
            model = build_mpnn(
                1, scaler, args, featurizer, foundation.message_passing, foundation.agg, x_d_scaler
            )
        else:
            model = build_mpnn(1, scaler, args, featurizer, x_d_scaler=x_d_scaler)
        train_loader = data.build_dataloader(
            train_set, batch_size=args.batch_size, seed=args.seed + member, num_workers=0
        )
        val_loader = data.build_dataloader(
            val_set, batch_size=args.batch_size, shuffle=False, num_workers=0
        )
        fits.append(
            train(model, train_loader, val_loader, args, epochs, patience, args.max_minutes)
        )
        preds.append(
            predict(
                model,
                data.build_dataloader(test_set, batch_size=256, shuffle=False, num_workers=0),
                args,
            )[:, 0]
        )
    pred = np.mean(preds, axis=0)
    fit = fits[0]
    wall = time.perf_counter() - t0
    y_test = parts[2]["value"].to_numpy(np.float64)
    return {
        "method": method,
        **(classification_metrics if classify else regression_metrics)(y_test, pred),
        "task_type": args.task_type,
        "n_inner_train": len(train_set),
        "n_val": len(val_set),
        "n_test": len(test_set),
        "wall_seconds": wall,
        "featurize_seconds": featurize_seconds,
        "train_seconds": sum(f["train_seconds"] for f in fits),
        "epochs_run": fit["epochs_run"],
        "best_epoch": fit["best_epoch"],
        "best_val_loss": fit["best_val_loss"],
        "stopped_by_time": any(f["stopped_by_time"] for f in fits),
        "max_epochs": epochs,
        "patience": patience,
        "ensemble": args.ensemble,
        "descriptors": args.descriptors,
        "n_descriptors": 0 if X_d[0] is None else int(X_d[0].shape[1]),
        "members": [
            {k: f[k] for k in ("epochs_run", "best_epoch", "best_val_loss", "train_seconds")}
            for f in fits
        ],
        "history": [
            {k: round(v, 5) if isinstance(v, float) else v for k, v in e.items()}
            for e in fit["history"]
        ],
        "pretrained": str(args.pretrained) if method == "chemprop_finetuned" else None,
        "predictions": pred.tolist(),
        **env,
    }


def cmd_fit(args: argparse.Namespace) -> int:
    env = setup(args)
    frame = pd.read_csv(args.data)
    folds = set(frame["fold"])
    if not {"train", "val", "test"} <= folds:
        raise ValueError(f"{args.data}: needs train, val and test folds, has {sorted(folds)}")
    out_dir = Path(args.out_dir)
    failed = 0
    for method in [m.strip() for m in args.methods.split(",") if m.strip()]:
        try:
            result = fit_one(method, frame, args, env)
            score = (
                f"ROC-AUC {result['roc_auc']:.3f}"
                if args.task_type == "classification"
                else f"RMSE {result['rmse']:.4g}, R² {result['r2']:.3f}"
            )
            _log(
                f"{args.data} {method}: {score}, {result['epochs_run']} epochs, {result['wall_seconds']:.1f} s"
            )
        except Exception as exc:  # noqa: BLE001 - one failing method must not lose the other
            import traceback

            traceback.print_exc()
            result = {"method": method, "error": f"{type(exc).__name__}: {exc}", **env}
            failed += 1
        write_json(out_dir / f"{method}.json", result)
    return 1 if failed else 0


# ---------------------------------------------------------------------------------------- cli


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--accelerator", choices=("cpu", "gpu"), default="cpu")
    p.add_argument("--threads", type=int, default=None, help="torch threads of this process")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-minutes", type=float, default=3.0, help="cap of one training (max_time)")
    # chemprop `train` defaults
    p.add_argument("--hidden", type=int, default=300)
    p.add_argument("--depth", type=int, default=3)
    p.add_argument("--dropout", type=float, default=0.0)
    p.add_argument("--aggregation", choices=("norm", "mean", "sum"), default="norm")
    p.add_argument("--ffn-hidden", type=int, default=300)
    p.add_argument("--ffn-layers", type=int, default=1)
    p.add_argument("--batch-norm", action="store_true")
    p.add_argument("--warmup-epochs", type=int, default=2)
    p.add_argument("--init-lr", type=float, default=1e-4)
    p.add_argument("--max-lr", type=float, default=1e-3)
    p.add_argument("--final-lr", type=float, default=1e-4)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chemprop_runner", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pretrain", help="multi-task MPNN on the pre-training table")
    p.add_argument("--table", required=True, help="CSV: smiles, fold (train|val), properties")
    p.add_argument("--out", required=True, help="folder for model.pt and pretrain.json")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--patience", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--max-molecules", type=int, help="seeded subsample (smoke tests only)")
    _add_common(p)
    p.set_defaults(func=cmd_pretrain, max_minutes=60.0)
    f = sub.add_parser("fit", help="single-task and/or fine-tuned fits on one cell")
    f.add_argument("--data", required=True, help="CSV: smiles, value, fold (train|val|test)")
    f.add_argument("--out-dir", required=True, help="<method>.json go here")
    f.add_argument("--methods", default=",".join(METHODS))
    f.add_argument("--pretrained", help="model.pt of `pretrain` (for chemprop_finetuned)")
    f.add_argument("--batch-size", type=int, default=32)
    f.add_argument("--st-epochs", type=int, default=60)
    f.add_argument("--st-patience", type=int, default=10)
    f.add_argument("--ft-epochs", type=int, default=40)
    f.add_argument("--ft-patience", type=int, default=8)
    f.add_argument("--descriptors", choices=("rdkit2d", "none"), default="rdkit2d")
    f.add_argument("--ensemble", type=int, default=5, help="models per method, averaged")
    f.add_argument("--task-type", choices=("regression", "classification"), default="regression")
    _add_common(f)
    f.set_defaults(func=cmd_fit)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
