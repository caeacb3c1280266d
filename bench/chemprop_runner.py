"""chemprop v2 side of ``bench/chemprop_compare.py``: multi-task pre-training and per-target fits.

Runs in the bench venv (``.venv-bench``) and imports only chemprop, torch, lightning, numpy,
pandas and sklearn, never ``gate_core``, whose RDKit differs from the one chemprop pins: every
input (SMILES, labels, folds) comes from files ``chemprop_compare`` wrote, so both sides see the
same molecules in the same folds. ``pretrain`` trains a multi-task MPNN with chemprop's defaults
(``DIR/model.pt``, ``DIR/pretrain.json``); ``fit`` trains ``chemprop_single`` and/or
``chemprop_finetuned`` (the ``--from-foundation`` route) on one cell file (smiles, value, fold)
and writes ``DIR/<method>.json`` with the test predictions and timings.
Options: ``python bench/chemprop_runner.py {pretrain,fit} --help``; context: bench/README.md.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import platform
import re
import socket
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np
import pandas as pd

METHODS = ("chemprop_single", "chemprop_finetuned")
# The options chemprop_compare shares with `pretrain` and `fit` (it passes them on by these
# names), with their defaults; README: "chemprop_compare".
PRETRAIN_OPTIONS = {
    "pretrain_epochs": 30,
    "pretrain_patience": 5,
    "pretrain_batch_size": 64,
    "pretrain_max_minutes": 60.0,  # wall-clock cap of the pre-training
    "aggregation": "norm",
}
FIT_OPTIONS = {
    "st_epochs": 60,  # chemprop_single
    "st_patience": 10,
    "ft_epochs": 40,  # chemprop_finetuned
    "ft_patience": 8,
    "batch_size": 32,
    "method_max_minutes": 3.0,  # wall-clock cap of one model
    "aggregation": "norm",
    "descriptors": "rdkit2d",  # every RDKit 2D descriptor as extra FFN input
    "ensemble": 5,  # models per method, averaged (GATE's K)
}
CHOICES = {"aggregation": ("norm", "mean", "sum"), "descriptors": ("rdkit2d", "none")}


def add_options(add, options: dict) -> None:
    """``options`` (:data:`PRETRAIN_OPTIONS` and/or :data:`FIT_OPTIONS`) given a parser's
    ``add_argument``: one definition for this runner's command line and chemprop_compare's."""
    for name, default in options.items():
        kind = int if default is None else type(default)
        flag, choices = f"--{name.replace('_', '-')}", CHOICES.get(name)
        add(flag, type=kind, default=default, choices=choices, help="default: %(default)s")


def _log(msg: str) -> None:
    print(f"[chemprop_runner] {msg}", flush=True)


def setup(args: argparse.Namespace) -> dict:
    """Thread count, and a description of the device this process runs on."""
    from importlib.metadata import version

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.accelerator == "gpu":
        device = f"cuda ({torch.cuda.get_device_name(0)})"
    else:  # the CPU's model name, as bench.common reads it (this venv cannot import bench.common)
        cpuinfo = Path("/proc/cpuinfo")
        found = re.search(
            r"^model name\s*:(.*)$", cpuinfo.read_text() if cpuinfo.exists() else "", re.M
        )
        cpu = found.group(1).strip() if found else platform.processor()
        device = f"cpu ({cpu}, {torch.get_num_threads()} threads)"
    versions = {name: version(name) for name in ("chemprop", "lightning", "torch")}
    return {
        "device": device,
        "host": socket.gethostname(),
        "accelerator": args.accelerator,
        "torch_threads": torch.get_num_threads(),
        "versions": {**versions, "python": platform.python_version()},
    }


def write_json(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=1, default=lambda x: x.tolist()) + "\n")


def rdkit_descriptors(smiles: pd.Series) -> np.ndarray:
    """(N, 217) every RDKit 2D descriptor; non-finite values → 0 and magnitudes capped at 1e6
    (``Ipc`` spans many orders of magnitude), so the training-fold standardisation stays finite."""
    from rdkit import Chem
    from rdkit.Chem import Descriptors

    X = [list(Descriptors.CalcMolDescriptors(Chem.MolFromSmiles(s)).values()) for s in smiles]
    X = np.nan_to_num(np.array(X, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    return np.clip(X, -1e6, 1e6)


def within_training_range(train: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    """The val and test descriptors clipped to the training fold's range, column by column.

    Why: a descriptor constant on the training molecules (scale 1 after standardisation) but
    10⁶ on one test molecule reaches the FFN as 10⁶ and its prediction explodes (measured on
    fuel_ysi and Hfus_kJmol: nRMSE 15 and 2.5 on a seed). Trees are bounded by the training
    range by construction; clipping gives the MPNN the same footing and changes no training value."""
    lo, hi = train.min(axis=0), train.max(axis=0)
    return [train, *(np.clip(x, lo, hi) for x in others)]


def datasets(parts: list[pd.DataFrame], columns: list[str], X_d: list | None, scale_y: bool):
    """Cached chemprop ``MoleculeDataset`` of each part (featurised up front; chemprop raises on a
    SMILES its RDKit cannot parse), ``X_d`` their extra descriptors; targets and descriptors
    standardised on the first part (train), applied to the second (val); the test part stays
    raw (the model's transforms scale its inputs and unscale its outputs)."""
    from chemprop import data, featurizers

    featurizer = featurizers.SimpleMoleculeMolGraphFeaturizer()
    sets = []
    for part, x_d in zip(parts, X_d or [None] * len(parts)):
        xs = [None] * len(part) if x_d is None else x_d
        Y = part[columns].to_numpy(np.float64)
        points = [data.MoleculeDatapoint.from_smi(*s, x_d=x) for *s, x in zip(part.smiles, Y, xs)]
        sets.append(data.MoleculeDataset(points, featurizer))
        sets[-1].cache = True
    y_scaler = sets[0].normalize_targets() if scale_y else None
    if scale_y:
        sets[1].normalize_targets(y_scaler)
    x_scaler = sets[0].normalize_inputs("X_d")  # None without descriptors
    sets[1].normalize_inputs("X_d", x_scaler)
    return featurizer, sets, y_scaler, x_scaler


def train(model, args, seed, budget: tuple, train_set, val_set, test_set) -> dict:
    """Lightning fit on ``train_set`` in batches (shuffled with ``seed``), early-stopped on the
    ``val_set`` loss, capped at ``minutes``; then the best-val-loss weights are loaded into
    ``model`` and predict ``test_set`` in the target's own units (the model's UnscaleTransform
    applies in eval mode). Each epoch's seconds and val loss are kept (and logged: a
    pre-training runs for an hour)."""
    from chemprop.data import build_dataloader
    from lightning import pytorch as pl
    from lightning.pytorch.callbacks import EarlyStopping, LambdaCallback, ModelCheckpoint

    epochs, patience, minutes, batch_size = budget
    seconds, losses, starts = [], [], []

    def epoch_end(trainer, _module) -> None:  # called after validation in Lightning 2
        seconds.append(time.perf_counter() - starts[-1])
        losses.append(float(trainer.callback_metrics.get("val_loss", np.nan)))
        _log(f"epoch {len(losses)}: {seconds[-1]:.0f} s, val loss {losses[-1]:.4f}")

    clock = LambdaCallback(
        on_train_epoch_start=lambda *_: starts.append(time.perf_counter()),
        on_train_epoch_end=epoch_end,
    )
    loaders = [build_dataloader(train_set, batch_size, seed=seed, num_workers=0)]
    loaders += [
        build_dataloader(d, b, shuffle=False, num_workers=0)
        for d, b in ((val_set, batch_size), (test_set, 256))
    ]
    quiet = {"logger": False, "enable_progress_bar": False, "enable_model_summary": False}
    with tempfile.TemporaryDirectory(prefix="chemprop_ckpt_") as tmp:
        best = ModelCheckpoint(dirpath=tmp, filename="best", monitor="val_loss", mode="min")
        stop = EarlyStopping("val_loss", patience=patience, mode="min")
        trainer = pl.Trainer(
            accelerator=args.accelerator,
            devices=1,
            max_epochs=epochs,
            max_time={"minutes": minutes} if minutes else None,
            callbacks=[best, stop, clock],
            **quiet,
        )
        t0 = time.perf_counter()
        trainer.fit(model, *loaders[:2])
        train_seconds = time.perf_counter() - t0
        batches = trainer.predict(model, loaders[2], ckpt_path="best", weights_only=False)
    return {
        "epochs_run": len(losses),
        "best_epoch": int(np.argmin(losses)) + 1 if losses else None,
        "best_val_loss": min(losses) if losses else None,
        "stopped_by_time": bool(minutes) and train_seconds >= 60 * minutes * 0.999,
        "train_seconds": train_seconds,
        "epoch_seconds": seconds,
        "epoch_val_loss": losses,
        "predictions": np.concatenate([b.cpu().numpy() for b in batches]).astype(np.float64),
    }


def build_mpnn(n_tasks: int, y_scaler, aggregation, featurizer, foundation=None, x_scaler=None):
    """chemprop's default MPNN (what ``chemprop train`` builds: its default sizes, dropout and
    learning-rate schedule), or a new FFN on the message passing and aggregation of a
    pre-trained ``foundation`` (``--from-foundation``); with ``x_scaler`` the FFN also reads the
    (standardised) molecule descriptors. Without a target ``y_scaler`` the head is chemprop's
    binary classifier (``--task-type classification``: BCE, sigmoid probabilities)."""
    from chemprop import models, nn

    if foundation is None:
        message_passing = nn.BondMessagePassing(featurizer.atom_fdim, featurizer.bond_fdim)
        agg = nn.AggregationRegistry[aggregation]()
    else:
        message_passing, agg = foundation.message_passing, foundation.agg
    input_dim = message_passing.output_dim + (0 if x_scaler is None else len(x_scaler.mean_))
    x_d = None if x_scaler is None else nn.ScaleTransform.from_standard_scaler(x_scaler)
    if y_scaler is None:
        ffn, metrics = nn.BinaryClassificationFFN(n_tasks, input_dim), [nn.metrics.BinaryAUROC()]
    else:
        unscale = nn.UnscaleTransform.from_standard_scaler(y_scaler)
        ffn = nn.RegressionFFN(n_tasks, input_dim, output_transform=unscale)
        metrics = [nn.metrics.RMSE(), nn.metrics.MAE()]
    return models.MPNN(message_passing, agg, ffn, metrics=metrics, X_d_transform=x_d)


def architecture(model) -> dict:
    """The model's sizes and schedule, as chemprop's saved hyperparameters state them."""
    mp, ffn, hparams = model.message_passing.hparams, model.predictor.hparams, model.hparams
    sizes = {"hidden": mp["d_h"], "depth": mp["depth"], "dropout": mp["dropout"]}
    sizes |= {"ffn_hidden": ffn["hidden_dim"], "ffn_layers": ffn["n_layers"]}
    schedule = ("batch_norm", "warmup_epochs", "init_lr", "max_lr", "final_lr")
    return sizes | {k: hparams[k] for k in schedule}


def cmd_pretrain(args: argparse.Namespace) -> int:
    """Multi-task MPNN on the table's train fold, early-stopped on its val fold; the model and its
    record (settings, timings, per-epoch seconds and val loss, val metrics per property)."""
    from chemprop.models import save_model
    from lightning import pytorch as pl
    from sklearn.metrics import r2_score, root_mean_squared_error

    env, started = setup(args), time.perf_counter()
    table = pd.read_csv(args.table)
    tasks = [c for c in table.columns if c not in ("smiles", "fold")]
    parts = [table[table["fold"] == fold] for fold in ("train", "val")]
    t0 = time.perf_counter()
    featurizer, sets, y_scaler, _ = datasets(parts, tasks, None, scale_y=True)
    featurize_seconds = time.perf_counter() - t0
    _log(f"pretrain: {len(parts[0])} train / {len(parts[1])} val molecules, {len(tasks)} tasks")
    pl.seed_everything(args.seed, workers=True, verbose=False)
    model = build_mpnn(len(tasks), y_scaler, args.aggregation, featurizer)
    budget = [getattr(args, f"pretrain_{k}") for k in ("epochs", "patience", "max_minutes")]
    fit = train(model, args, args.seed, (*budget, args.pretrain_batch_size), *sets, sets[1])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    save_model(out / "model.pt", model, tasks)

    # val metrics per property, in its own units (model selection used this fold: not a test score)
    per_task = {}
    for task, y, p in zip(tasks, parts[1][tasks].to_numpy(np.float64).T, fit["predictions"].T):
        y, p = y[np.isfinite(y)], p[np.isfinite(y)]
        if len(y) >= 2:  # R² and nRMSE are NaN where y is constant
            rmse, r2 = root_mean_squared_error(y, p), r2_score(y, p, force_finite=False)
            nrmse = rmse / y.std() if y.std() > 0 else float("nan")
            per_task[task] = {"n": len(y), "rmse": rmse, "r2": r2, "nrmse": nrmse}
    keys = ("epochs", "patience", "batch_size", "max_minutes")
    settings = {k: getattr(args, f"pretrain_{k}") for k in keys} | {"seed": args.seed}
    settings["max_molecules"] = None  # every molecule (the record's key from a subsample option)
    summary = {
        "tasks": tasks,
        "n_train": len(parts[0]),
        "n_val": len(parts[1]),
        "settings": settings | architecture(model) | {"aggregation": args.aggregation},
        "featurize_seconds": featurize_seconds,
        "train_seconds": fit["train_seconds"],
        "wall_seconds": time.perf_counter() - started,
        "epochs": fit["epochs_run"],
        **{k: fit[k] for k in ("best_epoch", "best_val_loss", "stopped_by_time")},
        "median_epoch_seconds": np.median(fit["epoch_seconds"]) if fit["epochs_run"] else None,
        # columns constant on the val fold have no nRMSE (std 0): the mean is over the others
        "val_mean_nrmse": np.nanmean([m["nrmse"] for m in per_task.values()]) if per_task else None,
        **env,
        "date_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "epoch_seconds": np.round(fit["epoch_seconds"], 2),
        "epoch_val_loss": np.round(fit["epoch_val_loss"], 5),
        "val_metrics": per_task,
    }
    write_json(out / "pretrain.json", summary)
    _log(f"pretrain: {fit['epochs_run']} epochs, {fit['train_seconds']:.1f} s training")
    return 0


def fit_one(method: str, frame: pd.DataFrame, args: argparse.Namespace, env: dict) -> dict:
    """One method on one cell: ``--ensemble`` models (seeds seed, seed + 1, …) early-stopped on
    the val fold, their test predictions averaged."""
    from chemprop.models import MPNN
    from lightning import pytorch as pl

    if method not in METHODS or (method == METHODS[1] and not args.pretrained):
        raise ValueError(f"{method}: choose from {METHODS}; chemprop_finetuned needs --pretrained")
    finetune, classify = method == METHODS[1], args.task_type == "classification"
    if classify and not set(frame["value"].dropna()) <= {0.0, 1.0}:
        raise ValueError(f"{args.data}: classification labels must be 0 or 1")
    parts = [frame[frame["fold"] == fold] for fold in ("train", "val", "test")]
    t0 = time.perf_counter()
    X_d = None
    if args.descriptors == "rdkit2d":
        X_d = within_training_range(*(rdkit_descriptors(p["smiles"]) for p in parts))
    featurizer, sets, y_scaler, x_scaler = datasets(parts, ["value"], X_d, not classify)
    featurize_seconds, t0 = time.perf_counter() - t0, time.perf_counter()
    epochs = args.ft_epochs if finetune else args.st_epochs
    patience = args.ft_patience if finetune else args.st_patience
    fits = []
    for seed in range(args.seed, args.seed + args.ensemble):
        pl.seed_everything(seed, workers=True, verbose=False)
        # chemprop's `train --from-foundation <model file>`: its message passing + aggregation
        foundation = MPNN.load_from_file(args.pretrained, map_location="cpu") if finetune else None
        model = build_mpnn(1, y_scaler, args.aggregation, featurizer, foundation, x_scaler)
        budget = (epochs, patience, args.method_max_minutes, args.batch_size)
        fits.append(train(model, args, seed, budget, *sets))
    member = ("epochs_run", "best_epoch", "best_val_loss", "train_seconds")
    return {
        "n_inner_train": len(parts[0]),
        "n_val": len(parts[1]),
        "wall_seconds": time.perf_counter() - t0,
        "featurize_seconds": featurize_seconds,
        **{k: fits[0][k] for k in member[:3]},
        "stopped_by_time": any(f["stopped_by_time"] for f in fits),
        "max_epochs": epochs,
        "patience": patience,
        "n_descriptors": 0 if X_d is None else X_d[0].shape[1],
        "members": [{k: f[k] for k in member} for f in fits],
        "predictions": np.mean([f["predictions"][:, 0] for f in fits], axis=0),
        **env,
    }


def cmd_fit(args: argparse.Namespace) -> int:
    """Every method of ``--methods`` on the cell file; one failing method does not lose another."""
    env, frame, failed = setup(args), pd.read_csv(args.data), 0
    for method in args.methods.split(","):
        try:
            result = fit_one(method, frame, args, env)
            _log(f"{args.data} {method}: {result['wall_seconds']:.1f} s")
        except Exception as exc:  # noqa: BLE001 - one failing method must not lose the other
            traceback.print_exc()
            result = {"method": method, "error": f"{type(exc).__name__}: {exc}", **env}
            failed += 1
        write_json(Path(args.out_dir) / f"{method}.json", result)
    return 1 if failed else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chemprop_runner", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pretrain", help="multi-task MPNN on the pre-training table")
    p.add_argument("--table", required=True, help="CSV: smiles, fold (train|val), properties")
    p.add_argument("--out", required=True, help="folder for model.pt and pretrain.json")
    add_options(p.add_argument, PRETRAIN_OPTIONS)
    p.set_defaults(func=cmd_pretrain)
    f = sub.add_parser("fit", help="single-task and/or fine-tuned fits on one cell")
    f.add_argument("--data", required=True, help="CSV: smiles, value, fold (train|val|test)")
    f.add_argument("--out-dir", required=True, help="<method>.json go here")
    f.add_argument("--methods", default=",".join(METHODS))
    f.add_argument("--pretrained", help="model.pt of `pretrain` (for chemprop_finetuned)")
    f.add_argument("--task-type", choices=("regression", "classification"), default="regression")
    add_options(f.add_argument, FIT_OPTIONS)
    f.set_defaults(func=cmd_fit)
    for q in (p, f):
        q.add_argument("--accelerator", choices=("cpu", "gpu"), default="cpu")
        q.add_argument("--threads", type=int, help="torch threads of this process")
        q.add_argument("--seed", type=int, default=0)
    return parser


if __name__ == "__main__":
    args = build_parser().parse_args()
    sys.exit(args.func(args))
