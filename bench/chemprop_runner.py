"""chemprop v2 side of ``bench/chemprop_compare.py``: multi-task pre-training and per-target fits.

Runs in the bench venv (``.venv-bench``) and imports only chemprop, torch, lightning, numpy,
pandas and sklearn, never ``gate_core``, whose RDKit differs from the one chemprop pins: every
input (SMILES, labels, folds) comes from files ``chemprop_compare`` wrote, so both sides see the
same molecules in the same folds. ``pretrain`` trains a multi-task MPNN with chemprop's defaults
and saves it (``DIR/model.pt``, ``DIR/pretrain.json``); ``fit`` trains ``chemprop_single`` and/or
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
import os
import platform
import re
import socket
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

METHODS = ("chemprop_single", "chemprop_finetuned")
# the options chemprop_compare shares with `pretrain` and `fit`: it passes them on by these names
PRETRAIN_OPTIONS = (
    "pretrain_epochs pretrain_patience pretrain_batch_size pretrain_max_minutes "
    "pretrain_max_molecules aggregation"
).split()
FIT_OPTIONS = (
    "st_epochs st_patience ft_epochs ft_patience batch_size method_max_minutes aggregation "
    "descriptors ensemble"
).split()


def add_options(add, pretrain: bool = True, fit: bool = True) -> None:
    """The :data:`PRETRAIN_OPTIONS` and/or :data:`FIT_OPTIONS`, given a parser's ``add_argument``:
    one definition for this runner's command line and chemprop_compare's."""
    add("--aggregation", choices=("norm", "mean", "sum"), default="norm")
    if pretrain:
        add("--pretrain-epochs", type=int, default=30, help="max epochs of the pre-training")
        add("--pretrain-patience", type=int, default=5)
        add("--pretrain-batch-size", type=int, default=64)
        add("--pretrain-max-minutes", type=float, default=60.0, help="cap of the pre-training")
        add("--pretrain-max-molecules", type=int, help="seeded subsample (smoke tests only)")
    if fit:
        add("--st-epochs", type=int, default=60, help="max epochs of chemprop_single")
        add("--st-patience", type=int, default=10)
        add("--ft-epochs", type=int, default=40, help="max epochs of chemprop_finetuned")
        add("--ft-patience", type=int, default=8)
        add("--batch-size", type=int, default=32)
        add("--method-max-minutes", type=float, default=3.0, help="wall-clock cap of one fit")
        add("--descriptors", choices=("rdkit2d", "none"), default="rdkit2d", help="extra FFN input")
        add("--ensemble", type=int, default=5, help="models per method, averaged (GATE's K)")


def _log(msg: str) -> None:
    print(f"[chemprop_runner] {msg}", flush=True)


# ------------------------------------------------------------------------------------ helpers


def setup(args: argparse.Namespace) -> dict:
    """Thread count, quiet Lightning, and a description of the device this process runs on."""
    import logging
    from importlib.metadata import version

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    for name in ("lightning", "lightning.pytorch", "pytorch_lightning", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)
    if args.accelerator == "gpu":
        device = f"cuda ({torch.cuda.get_device_name(0)})"
    else:  # the CPU's model name, as bench.common reads it (this venv cannot import bench.common)
        cpuinfo = Path("/proc/cpuinfo")
        found = re.search(
            r"^model name\s*:(.*)$", cpuinfo.read_text() if cpuinfo.exists() else "", re.M
        )
        cpu = found.group(1).strip() if found else platform.processor() or "unknown"
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
    """Atomic write (the reader never sees half a file); NaN and infinity become null."""
    text = json.dumps(payload, default=lambda x: x.tolist())  # NumPy scalars and arrays
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(json.loads(text, parse_constant=lambda _: None), indent=1) + "\n")
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
    """A cached chemprop ``MoleculeDataset`` (featurised once, up front; chemprop raises on a
    SMILES its RDKit cannot parse); ``X_d`` (N, d) extra molecule descriptors for the FFN."""
    from chemprop import data

    ys = [None] * len(smiles) if Y is None else list(Y)
    xs = [None] * len(smiles) if X_d is None else list(X_d)
    points = [data.MoleculeDatapoint.from_smi(s, y, x_d=x) for s, y, x in zip(smiles, ys, xs)]
    dataset = data.MoleculeDataset(points, featurizer)
    dataset.cache = True
    return dataset


def _trainer(args: argparse.Namespace, **options):
    """A quiet Lightning trainer on one device of ``--accelerator``."""
    from lightning import pytorch as pl

    quiet = {"logger": False, "enable_progress_bar": False, "enable_model_summary": False}
    return pl.Trainer(accelerator=args.accelerator, devices=1, **quiet, **options)


def train(model, sets, args, seed, epochs, patience, minutes, batch_size, log=False) -> dict:
    """Lightning fit on ``sets`` (train, val) in batches (shuffled with ``seed``), early-stopped
    on the val loss, capped at ``minutes``; the best-val-loss weights are restored. Its
    ``history`` holds the seconds and losses of every epoch; with ``log``, a progress line per
    epoch (a pre-training runs for an hour)."""
    import torch
    from chemprop.data import build_dataloader
    from lightning.pytorch.callbacks import EarlyStopping, LambdaCallback, ModelCheckpoint

    history, starts = [], []

    def epoch_end(trainer, _module) -> None:  # called after validation in Lightning 2
        metrics = trainer.callback_metrics
        entry = {"epoch": trainer.current_epoch + 1, "seconds": time.perf_counter() - starts[-1]}
        entry |= {k: float(metrics[k]) for k in ("train_loss_epoch", "val_loss") if k in metrics}
        history.append(entry)
        if log:
            loss = entry.get("val_loss", float("nan"))
            _log(f"epoch {entry['epoch']}: {entry['seconds']:.0f} s, val loss {loss:.4f}")

    clock = LambdaCallback(
        on_train_epoch_start=lambda *_: starts.append(time.perf_counter()),
        on_train_epoch_end=epoch_end,
    )
    with tempfile.TemporaryDirectory(prefix="chemprop_ckpt_") as tmp:
        best = ModelCheckpoint(dirpath=tmp, filename="best", monitor="val_loss", mode="min")
        stop = EarlyStopping("val_loss", patience=patience, mode="min")
        trainer = _trainer(
            args,
            max_epochs=epochs,
            max_time={"minutes": minutes} if minutes else None,
            callbacks=[best, stop, clock],
        )
        t0 = time.perf_counter()
        trainer.fit(
            model,
            build_dataloader(sets[0], batch_size=batch_size, seed=seed, num_workers=0),
            build_dataloader(sets[1], batch_size=batch_size, shuffle=False, num_workers=0),
        )
        train_seconds = time.perf_counter() - t0
        if best.best_model_path:
            state = torch.load(best.best_model_path, map_location="cpu", weights_only=False)
            model.load_state_dict(state["state_dict"])
    val_losses = [e.get("val_loss", float("inf")) for e in history]
    return {
        "epochs_run": len(history),
        "best_epoch": int(np.argmin(val_losses)) + 1 if history else None,
        "best_val_loss": float(min(val_losses)) if history else None,
        "stopped_by_time": bool(minutes) and train_seconds >= 60 * minutes * 0.999,
        "train_seconds": train_seconds,
        "history": history,
    }


def predict(model, dataset, args: argparse.Namespace) -> np.ndarray:
    """Predictions in the target's own units (the model's UnscaleTransform applies in eval mode)."""
    import torch
    from chemprop.data import build_dataloader

    model.eval()
    loader = build_dataloader(dataset, batch_size=256, shuffle=False, num_workers=0)
    batches = _trainer(args).predict(model, loader)
    return torch.cat([b.detach().cpu() for b in batches]).numpy().astype(np.float64)


def build_mpnn(
    n_tasks: int, scaler, aggregation: str, featurizer, foundation=None, x_d_scaler=None
):
    """chemprop's default MPNN (what ``chemprop train`` builds: its default sizes, dropout and
    learning-rate schedule), or a new FFN on the message passing and aggregation of a
    pre-trained ``foundation`` (``--from-foundation``); with ``x_d_scaler`` the FFN also reads the
    (standardised) molecule descriptors. Without a target ``scaler`` the head is chemprop's
    binary classifier (``--task-type classification``)."""
    from chemprop import models, nn

    if foundation is None:
        message_passing = nn.BondMessagePassing(featurizer.atom_fdim, featurizer.bond_fdim)
        agg = nn.AggregationRegistry[aggregation]()
    else:
        message_passing, agg = foundation.message_passing, foundation.agg
    input_dim, x_d = message_passing.output_dim, None
    if x_d_scaler is not None:
        input_dim += len(x_d_scaler.mean_)
        x_d = nn.ScaleTransform.from_standard_scaler(x_d_scaler)
    if scaler is None:
        ffn, metrics = nn.BinaryClassificationFFN(n_tasks, input_dim), [nn.metrics.BinaryAUROC()]
    else:
        unscale = nn.UnscaleTransform.from_standard_scaler(scaler)
        ffn = nn.RegressionFFN(n_tasks, input_dim, output_transform=unscale)
        metrics = [nn.metrics.RMSE(), nn.metrics.MAE()]
    return models.MPNN(message_passing, agg, ffn, metrics=metrics, X_d_transform=x_d)


def architecture(model) -> dict:
    """The model's sizes and schedule, as chemprop's saved hyperparameters state them."""
    mp, ffn, hparams = model.message_passing.hparams, model.predictor.hparams, model.hparams
    return {
        "hidden": mp["d_h"],
        "depth": mp["depth"],
        "dropout": mp["dropout"],
        "ffn_hidden": ffn["hidden_dim"],
        "ffn_layers": ffn["n_layers"],
        **{k: hparams[k] for k in ("batch_norm", "warmup_epochs", "init_lr", "max_lr", "final_lr")},
    }


# ----------------------------------------------------------------------------------- pretrain


def cmd_pretrain(args: argparse.Namespace) -> int:
    """Multi-task MPNN on the table's train fold, early-stopped on its val fold; the model and its
    record (settings, timings, per-epoch seconds and val loss, val metrics per property) as
    chemprop_compare stores it."""
    from chemprop import featurizers
    from chemprop.models import save_model
    from lightning import pytorch as pl
    from sklearn.metrics import r2_score, root_mean_squared_error

    env = setup(args)
    started = time.perf_counter()
    table = pd.read_csv(args.table)
    tasks = [c for c in table.columns if c not in ("smiles", "fold")]
    unknown = sorted(set(table["fold"]) - {"train", "val"})
    if unknown:
        raise ValueError(f"{args.table}: fold must be train or val (no test rows), found {unknown}")
    if args.pretrain_max_molecules:
        keep = np.random.default_rng(args.seed).permutation(len(table))
        table = table.iloc[np.sort(keep[: args.pretrain_max_molecules])]
    train_rows, val_rows = (table[table["fold"] == fold] for fold in ("train", "val"))
    featurizer = featurizers.SimpleMoleculeMolGraphFeaturizer()
    t0 = time.perf_counter()
    sets = [
        make_dataset(rows["smiles"].tolist(), rows[tasks].to_numpy(np.float64), featurizer)
        for rows in (train_rows, val_rows)
    ]
    featurize_seconds = time.perf_counter() - t0
    _log(f"pretrain: {len(train_rows)} train / {len(val_rows)} val molecules, {len(tasks)} tasks")
    scaler = sets[0].normalize_targets()
    sets[1].normalize_targets(scaler)
    pl.seed_everything(args.seed, workers=True, verbose=False)
    model = build_mpnn(len(tasks), scaler, args.aggregation, featurizer)
    budget = [args.pretrain_epochs, args.pretrain_patience, args.pretrain_max_minutes]
    fit = train(model, sets, args, args.seed, *budget, args.pretrain_batch_size, log=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    save_model(out / "model.pt", model, tasks)

    # val metrics per property, in its own units (model selection used this fold: not a test score)
    pred, Y = predict(model, sets[1], args), val_rows[tasks].to_numpy(np.float64)
    per_task = {}
    for task, y, p in zip(tasks, Y.T, pred.T):
        y, p = y[np.isfinite(y)], p[np.isfinite(y)]
        if len(y) >= 2:  # R² and nRMSE are NaN where y is constant
            rmse, r2 = root_mean_squared_error(y, p), r2_score(y, p, force_finite=False)
            nrmse = rmse / y.std() if y.std() > 0 else float("nan")
            per_task[task] = {"n": len(y), "rmse": rmse, "r2": r2, "nrmse": nrmse}
    settings = {k: getattr(args, f"pretrain_{k}") for k in ("epochs", "patience", "batch_size")}
    settings |= {k: getattr(args, f"pretrain_{k}") for k in ("max_minutes", "max_molecules")}
    epochs = fit["history"]
    summary = {
        "tasks": tasks,
        "n_train": len(train_rows),
        "n_val": len(val_rows),
        "settings": {
            **settings,
            "seed": args.seed,
            **architecture(model),
            "aggregation": args.aggregation,
        },
        "featurize_seconds": featurize_seconds,
        "train_seconds": fit["train_seconds"],
        "wall_seconds": time.perf_counter() - started,
        "epochs": fit["epochs_run"],
        **{k: fit[k] for k in ("best_epoch", "best_val_loss", "stopped_by_time")},
        "median_epoch_seconds": np.median([e["seconds"] for e in epochs]) if epochs else None,
        # columns constant on the val fold have no nRMSE (std 0): the mean is over the others
        "val_mean_nrmse": np.nanmean([m["nrmse"] for m in per_task.values()]) if per_task else None,
        **env,
        "date_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "epoch_seconds": [round(e["seconds"], 2) for e in epochs],
        "epoch_val_loss": [round(e.get("val_loss", float("nan")), 5) for e in epochs],
        "val_metrics": per_task,
    }
    write_json(out / "pretrain.json", summary)
    _log(f"pretrain: {fit['epochs_run']} epochs, {fit['train_seconds']:.1f} s training")
    return 0


# ---------------------------------------------------------------------------------------- fit


def fit_one(method: str, frame: pd.DataFrame, args: argparse.Namespace, env: dict) -> dict:
    """One method on one cell: ``--ensemble`` models (seeds seed, seed + 1, …) early-stopped on
    the val fold, their test predictions averaged."""
    from chemprop import featurizers
    from chemprop.models import MPNN
    from lightning import pytorch as pl

    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
    finetune = method == "chemprop_finetuned"
    if finetune and not args.pretrained:
        raise ValueError("chemprop_finetuned needs --pretrained")
    classify = args.task_type == "classification"
    if classify and not set(frame["value"].dropna().unique()) <= {0.0, 1.0}:
        raise ValueError(f"{args.data}: classification labels must be 0 or 1")
    parts = [frame[frame["fold"] == fold] for fold in ("train", "val", "test")]
    featurizer = featurizers.SimpleMoleculeMolGraphFeaturizer()
    t0 = time.perf_counter()
    X_d = [None] * 3
    if args.descriptors == "rdkit2d":
        X_d = within_training_range(*(rdkit_descriptors(p["smiles"].tolist()) for p in parts))
    Y = [parts[0][["value"]].to_numpy(np.float64), parts[1][["value"]].to_numpy(np.float64), None]
    train_set, val_set, test_set = (
        make_dataset(p["smiles"].tolist(), y, featurizer, x) for p, y, x in zip(parts, Y, X_d)
    )
    featurize_seconds = time.perf_counter() - t0

    t0 = time.perf_counter()
    scaler = None if classify else train_set.normalize_targets()
    if scaler is not None:
        val_set.normalize_targets(scaler)
    x_d_scaler = None
    if X_d[0] is not None:  # the test set stays raw: the model's X_d transform scales it
        x_d_scaler = train_set.normalize_inputs("X_d")
        val_set.normalize_inputs("X_d", x_d_scaler)
    epochs = args.ft_epochs if finetune else args.st_epochs
    patience = args.ft_patience if finetune else args.st_patience
    preds, fits = [], []
    for seed in range(args.seed, args.seed + args.ensemble):
        pl.seed_everything(seed, workers=True, verbose=False)
        # chemprop's `train --from-foundation <model file>`: its message passing + aggregation
        foundation = MPNN.load_from_file(args.pretrained, map_location="cpu") if finetune else None
        model = build_mpnn(1, scaler, args.aggregation, featurizer, foundation, x_d_scaler)
        budget = [epochs, patience, args.method_max_minutes, args.batch_size]
        fits.append(train(model, (train_set, val_set), args, seed, *budget))
        preds.append(predict(model, test_set, args)[:, 0])
    pred = np.mean(preds, axis=0)
    first = fits[0]
    return {
        "method": method,
        "task_type": args.task_type,
        "n_inner_train": len(train_set),
        "n_val": len(val_set),
        "n_test": len(test_set),
        "wall_seconds": time.perf_counter() - t0,
        "featurize_seconds": featurize_seconds,
        **{k: first[k] for k in ("epochs_run", "best_epoch", "best_val_loss")},
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
        "predictions": pred.tolist(),
        **env,
    }


def cmd_fit(args: argparse.Namespace) -> int:
    """Every method of ``--methods`` on the cell file; one failing method does not lose another."""
    env = setup(args)
    frame = pd.read_csv(args.data)
    folds = set(frame["fold"])
    if not {"train", "val", "test"} <= folds:
        raise ValueError(f"{args.data}: needs train, val and test folds, has {sorted(folds)}")
    failed = 0
    for method in [m.strip() for m in args.methods.split(",") if m.strip()]:
        try:
            result = fit_one(method, frame, args, env)
            seconds, epochs = result["wall_seconds"], result["epochs_run"]
            _log(f"{args.data} {method}: {epochs} epochs (first model), {seconds:.1f} s")
        except Exception as exc:  # noqa: BLE001 - one failing method must not lose the other
            import traceback

            traceback.print_exc()
            result = {"method": method, "error": f"{type(exc).__name__}: {exc}", **env}
            failed += 1
        write_json(Path(args.out_dir) / f"{method}.json", result)
    return 1 if failed else 0


# ---------------------------------------------------------------------------------------- cli


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chemprop_runner", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pretrain", help="multi-task MPNN on the pre-training table")
    p.add_argument("--table", required=True, help="CSV: smiles, fold (train|val), properties")
    p.add_argument("--out", required=True, help="folder for model.pt and pretrain.json")
    add_options(p.add_argument, fit=False)
    p.set_defaults(func=cmd_pretrain)
    f = sub.add_parser("fit", help="single-task and/or fine-tuned fits on one cell")
    f.add_argument("--data", required=True, help="CSV: smiles, value, fold (train|val|test)")
    f.add_argument("--out-dir", required=True, help="<method>.json go here")
    f.add_argument("--methods", default=",".join(METHODS))
    f.add_argument("--pretrained", help="model.pt of `pretrain` (for chemprop_finetuned)")
    f.add_argument("--task-type", choices=("regression", "classification"), default="regression")
    add_options(f.add_argument, pretrain=False)
    f.set_defaults(func=cmd_fit)
    for q in (p, f):
        q.add_argument("--accelerator", choices=("cpu", "gpu"), default="cpu")
        q.add_argument("--threads", type=int, help="torch threads of this process")
        q.add_argument("--seed", type=int, default=0)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
