"""chemprop v2 baselines on exactly the splits of ``bench/task_addition.py`` (issues #6 and #11).

Two chemprop methods per (target, seed, n), ``chemprop_single`` (from scratch) and
``chemprop_finetuned`` (pre-trained on the backbone's own table and split, then fine-tuned),
regression and classification, next to GATE task addition, its frozen-probe and fine-tuned
ablations, the random forest and LightGBM, whose rows are read from the ``--reference``
task_addition JSONs (not re-run); seen/unseen test molecules as in those runs. Its headline is
task_addition's (per target group, both groups together, and test part), so the drug-like and
physical-chemistry targets are reported apart and together with every baseline.
This module (main venv) writes the splits and the pre-training table into ``--work-dir``, runs
``bench/chemprop_runner.py`` under ``--bench-python`` (chemprop pins another RDKit) and scores
its predictions with gate_core's metrics. Methods, budgets and commands: bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import os
import subprocess
import threading
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path

import numpy as np

from bench.common import REPO_ROOT, logger, md_table, stopwatch, write_results
from bench.task_addition import (
    DEFAULT_TARGETS,
    TargetSplit,
    _csv_list,
    _metrics,
    _val_split,
    headline,
    merged_rows_and_grid,
    parse_shard,
    parse_sizes,
    part_metrics,
    seen_molecule_keys,
)
from gate_app.bench_results import label
from gate_app.bench_summary import VERDICT_ON
from gate_core.paths import DEFAULT_BACKBONE

NAME = "chemprop_compare"
DESCRIPTION = "chemprop v2 single-task and CheMeleon-style baselines on task_addition's scaffold splits, vs GATE, its ablations, RF and LightGBM"
CHEMPROP_METHODS = ("chemprop_single", "chemprop_finetuned")
GATE_METHODS = ("uniform", "learned")  # task_addition's names; uniform λ is the app's default
# rows read from the reference JSONs: GATE, its frozen-probe and fine-tuned ablations, RF, LightGBM
REFERENCE_METHODS = (*GATE_METHODS, "probe", "finetune", "rf", "lgbm")
METHOD_ORDER = (*REFERENCE_METHODS, *CHEMPROP_METHODS)
BASELINES = ("finetune", "rf", "lgbm", *CHEMPROP_METHODS)  # what GATE must beat
MAX_N = 300  # task_addition's SUMMARY_MAX_N: the goal is stated for n ≤ 300
RUNNER = REPO_ROOT / "bench" / "chemprop_runner.py"
DEFAULT_WORK_DIR = REPO_ROOT / "bench" / "work" / "chemprop"
DEFAULT_BENCH_PYTHON = REPO_ROOT / ".venv-bench" / "bin" / "python"
DEFAULT_REFERENCE = ",".join(
    str(REPO_ROOT / "bench" / "results" / f"{name}.json")
    for name in ("task_addition_v2_n100", "task_addition_v2_physchem")
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--results-name", default=NAME, help="write <results-dir>/<name>.json/.md/.csv")
    add("--targets", default=",".join(DEFAULT_TARGETS), help="comma-separated target names")
    add("--sizes", default="100", help="training sizes n; 'all' = the whole pool")
    add("--seeds", default="0,1,2", help="split/subsample/model seeds")
    add("--methods", default=",".join(CHEMPROP_METHODS), help=", ".join(CHEMPROP_METHODS))
    add("--test-fraction", type=float, default=0.2, help="as task_addition")
    add("--val-fraction", type=float, default=0.2, help="as task_addition")
    add("--st-epochs", type=int, default=60, help="max epochs of chemprop_single")
    add("--st-patience", type=int, default=10)
    add("--ft-epochs", type=int, default=40, help="max epochs of chemprop_finetuned")
    add("--ft-patience", type=int, default=8)
    add("--batch-size", type=int, default=32)
    add("--aggregation", choices=("norm", "mean", "sum"), default="norm")
    add("--descriptors", choices=("rdkit2d", "none"), default="rdkit2d", help="extra FFN input")
    add("--ensemble", type=int, default=5, help="models per method and cell (GATE's K)")
    add("--method-max-minutes", type=float, default=3.0, help="wall-clock cap of one fit")
    add("--pretrain-epochs", type=int, default=30, help="max epochs of the pre-training")
    add("--pretrain-patience", type=int, default=5)
    add("--pretrain-batch-size", type=int, default=64)
    add("--pretrain-max-minutes", type=float, default=60.0, help="cap of the pre-training")
    add("--pretrain-max-molecules", type=int, help="subsample of its table (smoke tests only)")
    add("--pretrain-threads", type=int, help="torch threads of the pre-training (default: all)")
    add("--pretrain-only", action="store_true", help="pre-train if not done yet, no fits")
    add("--accelerator", choices=("cpu", "gpu"), default="cpu", help="Lightning accelerator")
    add("--jobs", type=int, default=1, help="chemprop cells run at once")
    add("--threads-per-job", type=int, default=1, help="torch threads per fit")
    add("--bench-python", default=str(DEFAULT_BENCH_PYTHON), help="a Python with chemprop")
    add("--work-dir", default=str(DEFAULT_WORK_DIR), help="splits, pre-training, runner outputs")
    add(
        "--reference",
        default=DEFAULT_REFERENCE,
        help="task_addition JSONs with GATE rows, comma-separated",
    )
    add("--backbone", default=str(DEFAULT_BACKBONE), help="whose table and split pre-train")
    add("--budget-minutes", type=float, default=0.0, help="start no cell after (0: no limit)")
    add("--resume", action="store_true", help="keep the finished cells, run the rest")
    add("--shard", metavar="K/N", help="every N-th cell with work left from K")
    add("--merge", metavar="DIR,...", help="no training: merge these result dirs' files")


_log = logger(NAME)


def _finite(x: object) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(float(x))


def shard_cells(cells: list, shard: tuple[int, int] | None) -> list:
    """Every N-th cell from K: the N shards partition ``cells``."""
    return list(cells) if shard is None else list(cells)[shard[0] :: shard[1]]


# ------------------------------------------------------------------------------ split export


def cell_frame(ts: TargetSplit, size: int | str, val_fraction: float):  # noqa: ANN201 - pandas.DataFrame
    """smiles, value, fold of one cell: the inner-train and val parts of the n (task_addition's
    ``_val_split``, as its single-task and fine-tune methods use) and the scaffold test set."""
    import pandas as pd

    idx = ts.train_index(size)
    inner, val = _val_split(len(idx), val_fraction, ts.seed)
    parts = [(idx[inner], "train"), (idx[val], "val"), (ts.test, "test")]
    return pd.DataFrame(
        {
            "smiles": [ts.smiles[i] for part, _ in parts for i in part],
            "value": np.concatenate([ts.y[part] for part, _ in parts]),
            "fold": [fold for part, fold in parts for _ in part],
        }
    )


def _atomic_csv(frame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    frame.to_csv(tmp, index=False)  # full float repr: the values round-trip exactly
    os.replace(tmp, path)


def cell_path(work_dir: Path, target: str, seed: int, size: int | str) -> Path:
    return Path(work_dir) / "splits" / target / f"seed{seed}" / f"n{size}.csv"


def export_cell(work_dir: Path, ts: TargetSplit, size: int | str, val_fraction: float) -> Path:
    path = cell_path(work_dir, ts.name, ts.seed, size)
    _atomic_csv(cell_frame(ts, size, val_fraction), path)
    return path


def pretrain_frame(backbone: str | Path):  # noqa: ANN201 - (DataFrame, info dict)
    """The backbone's own table and split, as chemprop's pre-training table: smiles, fold
    (train | val — the backbone's scaffold-test molecules are left out), one column per property."""
    import pandas as pd

    from gate_core.training.backbone_split import rebuild_split

    meta = json.loads((Path(backbone) / "metadata.json").read_text())
    config, table, (train, val, test) = rebuild_split(meta, None)
    keep = np.concatenate([train, val])
    labels = table.Y[keep].astype(np.float64)
    frame = pd.DataFrame(
        {
            "smiles": [table.smiles[i] for i in keep],
            "fold": ["train"] * len(train) + ["val"] * len(val),
            **{task: labels[:, j] for j, task in enumerate(table.tasks)},
        }
    )
    info = {
        "backbone": str(backbone),
        "data_hash": meta["pretraining"]["data_hash"],
        "tasks": list(table.tasks),
        "table": config.table,
        "split": {
            "kind": config.split,
            "seed": config.seed,
            "fractions": list(config.split_fractions),
            "train": len(train),
            "val": len(val),
            "test_left_out": len(test),
        },
        "backbone_epochs_run": meta["pretraining"].get("epochs_run"),
        "backbone_config_epochs": config.epochs,
        "backbone_config_patience": config.patience,
        "backbone_batch_size": config.batch_size,
    }
    return frame, info


def export_pretrain_table(work_dir: Path, backbone: str | Path) -> tuple[Path, dict]:
    """Write (once per backbone data hash) ``<work>/pretrain/table.csv`` and ``table.json``."""
    out = Path(work_dir) / "pretrain"
    table_path, info_path = out / "table.csv", out / "table.json"
    meta = json.loads((Path(backbone) / "metadata.json").read_text())
    if table_path.is_file() and info_path.is_file():
        info = json.loads(info_path.read_text())
        if info.get("data_hash") == meta["pretraining"]["data_hash"]:
            return table_path, info
    frame, info = pretrain_frame(backbone)
    _atomic_csv(frame, table_path)
    info_path.write_text(json.dumps(info, indent=1) + "\n")
    _log(
        f"pre-training table: {info['split']['train']} train + {info['split']['val']} val molecules, {len(info['tasks'])} properties -> {table_path}"
    )
    return table_path, info


# ----------------------------------------------------------------------------------- runner


def _hash(obj: object) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:10]


def _file_sha(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def pretrain_settings(args: argparse.Namespace, table_info: dict) -> dict:
    return {
        "data_hash": table_info["data_hash"],
        "tasks": table_info["tasks"],
        "epochs": args.pretrain_epochs,
        "patience": args.pretrain_patience,
        "batch_size": args.pretrain_batch_size,
        "max_minutes": args.pretrain_max_minutes,
        "max_molecules": args.pretrain_max_molecules,
        "seed": 0,
        "aggregation": args.aggregation,
    }


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _env(threads: int) -> dict:
    return {
        **os.environ,
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
        "OPENBLAS_NUM_THREADS": str(threads),
        "PYTHONUNBUFFERED": "1",
    }


@contextlib.contextmanager
def _file_lock(path: Path):  # noqa: ANN202 - shards sharing a work dir pre-train once
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_pretrained(args: argparse.Namespace, table_path: Path, table_info: dict) -> dict:
    """The pre-trained chemprop model for these settings: reuse it, or train it (file-locked)."""
    settings = pretrain_settings(args, table_info)
    out = Path(args.work_dir) / "pretrain" / f"model_{_hash(settings)}"
    with _file_lock(Path(args.work_dir) / "pretrain" / ".lock"):
        summary_path = out / "pretrain.json"
        if not (summary_path.is_file() and (out / "model.pt").is_file()):
            threads = args.pretrain_threads or _cores()
            cmd = [args.bench_python, str(RUNNER), "pretrain"]
            cmd += _flags(
                table=table_path,
                out=out,
                epochs=args.pretrain_epochs,
                patience=args.pretrain_patience,
                batch_size=args.pretrain_batch_size,
                max_minutes=args.pretrain_max_minutes,
                accelerator=args.accelerator,
                threads=threads,
                seed=0,
                aggregation=args.aggregation,
                max_molecules=args.pretrain_max_molecules or None,
            )
            _log(
                f"pre-training chemprop on {len(table_info['tasks'])} properties ({args.accelerator}, {threads} threads) -> {out}"
            )
            out.mkdir(parents=True, exist_ok=True)
            elapsed = stopwatch()
            with open(out / "log.txt", "w") as log:
                done = subprocess.run(
                    cmd, cwd=REPO_ROOT, env=_env(threads), stdout=log, stderr=subprocess.STDOUT
                )
            if done.returncode != 0 or not summary_path.is_file():
                raise RuntimeError(
                    f"chemprop pre-training failed (exit {done.returncode}); log: {out / 'log.txt'}\n{_tail(out / 'log.txt')}"
                )
            _log(f"pre-training done in {elapsed():.0f} s")
        summary = json.loads(summary_path.read_text())
    keep = (
        "tasks n_train n_val settings featurize_seconds train_seconds wall_seconds epochs "
        "best_epoch best_val_loss stopped_by_time median_epoch_seconds val_mean_nrmse device host "
        "accelerator torch_threads versions date_utc"
    ).split()
    return {
        "id": _hash(settings),
        "model": str(out / "model.pt"),
        "model_sha256": _file_sha(out / "model.pt"),
        "table": table_info,
        **{k: summary.get(k) for k in keep},
        "epoch_seconds": [round(e["seconds"], 2) for e in summary.get("history") or []],
        "epoch_val_loss": [
            round(e["val_loss"], 5) if _finite(e.get("val_loss")) else None
            for e in summary.get("history") or []
        ],
        "val_metrics": {
            t: {k: m.get(k) for k in ("n", "rmse", "r2", "nrmse")}
            for t, m in (summary.get("val_metrics") or {}).items()
        },
    }


def _flags(**options: object) -> list[str]:
    """``--option value`` for the runner's command line; None leaves an option out."""
    pairs = [(f"--{k.replace('_', '-')}", str(v)) for k, v in options.items() if v is not None]
    return [x for pair in pairs for x in pair]


def _tail(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


def run_cell_subprocess(
    args: argparse.Namespace,
    cell: tuple,
    methods: list[str],
    data_path: Path,
    run_dir: Path,
    pretrained: str | None,
    threads: int,
    task_type: str = "regression",
) -> dict:
    """One runner process for every chemprop method of one cell; returns {method: runner JSON}."""
    target, seed, size = cell
    run_dir.mkdir(parents=True, exist_ok=True)
    for m in methods:
        (run_dir / f"{m}.json").unlink(missing_ok=True)
    same = "batch_size st_epochs st_patience ft_epochs ft_patience aggregation descriptors ensemble"
    cmd = [args.bench_python, str(RUNNER), "fit"]
    cmd += _flags(
        data=data_path,
        out_dir=run_dir,
        methods=",".join(methods),
        seed=seed,
        accelerator=args.accelerator,
        threads=threads,
        max_minutes=args.method_max_minutes,
        task_type=task_type,
        pretrained=pretrained,
        **{k: getattr(args, k) for k in same.split()},
    )
    timeout = 60 * (2 * args.method_max_minutes * len(methods) * args.ensemble + 5)
    elapsed = stopwatch()
    error = None
    with open(run_dir / "log.txt", "w") as log:
        try:
            done = subprocess.run(
                cmd,
                cwd=REPO_ROOT,
                env=_env(threads),
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=timeout,
            )
            if done.returncode != 0:
                error = f"runner exit {done.returncode}"
        except subprocess.TimeoutExpired:
            error = f"runner killed after {timeout:.0f} s"
    process_seconds = elapsed()
    out = {}
    for m in methods:
        path = run_dir / f"{m}.json"
        if path.is_file():
            out[m] = json.loads(path.read_text())
        else:
            out[m] = {
                "method": m,
                "error": f"{error or 'no result file'}; log tail: {_tail(run_dir / 'log.txt', 600)}",
            }
        out[m]["process_seconds"] = process_seconds
    return out


def make_row(cell: tuple, method: str, result: dict, ts: TargetSplit, n_train: int) -> dict:
    """One result row, scored here with gate_core's metrics on the runner's test predictions,
    on the whole test set and on its seen / unseen parts (as task_addition scores its rows)."""
    target, seed, size = cell
    y_test, test_std = ts.y_test, ts.test_std
    row = {
        "target": target,
        "seed": seed,
        "size": size,
        "n_train": n_train,
        "n_test": len(y_test),
        "test_std": test_std,
        "task_type": ts.task_type,
        "method": method,
        "device": result.get("device"),
        "host": result.get("host"),
    }
    if "error" in result:
        row["error"] = result["error"]
        return row
    pred = np.asarray(result["predictions"], dtype=np.float64)
    if pred.shape != y_test.shape:
        row["error"] = f"{len(pred)} predictions for {len(y_test)} test molecules"
        return row
    row.update(
        _metrics(ts.task_type, y_test, pred, test_std),
        n_test_seen=int(ts.seen.sum()),
        parts=part_metrics(ts.task_type, y_test, pred, ts.seen),
    )
    row.pop("n", None)
    row["wall_seconds"] = result["wall_seconds"]
    row["featurize_seconds"] = result.get("featurize_seconds")
    row["process_seconds"] = result.get("process_seconds")
    row["info"] = {
        k: result.get(k)
        for k in (
            "epochs_run best_epoch best_val_loss stopped_by_time max_epochs patience n_inner_train "
            "n_val torch_threads accelerator versions"
        ).split()
    }
    return row


# ---------------------------------------------------------------------------------- compare


def reference_rows(paths: str | Path, test_fraction: float) -> tuple[list[dict], dict]:
    """The :data:`REFERENCE_METHODS` rows of the comma-separated task_addition JSONs (one per
    target group, say), which must share one backbone; ``info["files"]`` describes each."""
    rows, files = [], []
    for path in _csv_list(str(paths)):
        file_rows, info = _reference_file(Path(path), test_fraction)
        rows += file_rows
        files.append(info)
    backbones = {f.get("backbone_id") for f in files if f["available"]}
    if len(backbones) > 1:
        raise ValueError(f"--reference files come from different backbones: {sorted(backbones)}")
    return rows, {"files": files, "backbone_id": backbones.pop() if backbones else None}


def _reference_file(path: Path, test_fraction: float) -> tuple[list[dict], dict]:
    """One reference's rows (GATE, probe, fine-tuned, RF, LightGBM) with their seen / unseen
    parts; ``info`` keeps the file's ``seen`` block."""
    info = {"path": str(path), "available": False}
    if not path.is_file():
        info["note"] = "missing: no GATE/RF numbers to compare with"
        return [], info
    data = json.loads(path.read_text())
    settings = data.get("settings", {})
    info.update(
        available=True,
        backbone_id=data.get("backbone_id"),
        status=data.get("status"),
        settings=settings,
        date_utc=(data.get("machine") or {}).get("date_utc"),
        seen=data.get("seen"),
    )
    if abs(float(settings.get("test_fraction", test_fraction)) - test_fraction) > 1e-12:
        info.update(
            available=False,
            note=f"its test_fraction {settings.get('test_fraction')} ≠ {test_fraction}: other test sets, not used",
        )
        return [], info
    keys = (
        "target seed size n_train n_test test_std rmse mae r2 nrmse roc_auc pr_auc wall_seconds "
        "device task_type n_test_seen parts method"
    ).split()
    rows = [
        {k: r.get(k) for k in keys}
        for r in data.get("rows", [])
        if r.get("method") in REFERENCE_METHODS and "error" not in r
    ]
    return rows, info


def reference_seen_keys(paths: str | Path, backbone: str | Path) -> frozenset[str] | None:
    """The pre-training molecule keys the reference runs marked test molecules seen with (their
    ``seen`` block: pre-training table and corpus files, the backbone's task names), so both
    sides split every test set into the same seen and unseen parts; None without such a block.
    The references must agree on it."""
    blocks = {}
    for path in map(Path, _csv_list(str(paths))):
        seen = json.loads(path.read_text()).get("seen") if path.is_file() else None
        if seen:
            blocks[json.dumps(seen, sort_keys=True)] = (path, seen)
    if not blocks:
        return None
    if len(blocks) > 1:
        raise ValueError(
            "--reference files marked seen molecules differently: "
            + ", ".join(str(p) for p, _ in blocks.values())
        )
    path, seen = blocks.popitem()[1]
    table = Path(seen["pretraining_table"])
    if not table.is_file():  # recorded from another checkout: the same file in this one
        table = REPO_ROOT / "assets" / "data" / table.name
    meta = json.loads((Path(backbone) / "metadata.json").read_text())
    tasks = [t["name"] for t in meta["config"]["tasks"]]
    keys = seen_molecule_keys(
        argparse.Namespace(corpus=",".join(seen["corpus"]), pretraining_table=str(table)), tasks
    )
    if len(keys) != seen["molecules"]:
        raise ValueError(
            f"{len(keys)} pre-training molecules here, {seen['molecules']} in {path}: "
            "seen/unseen would differ from the reference"
        )
    return keys


def check_splits(chem_rows: list[dict], ref_rows: list[dict]) -> dict:
    """Same (target, seed) must mean the same test set on both sides: n_test and test-set std agree."""
    ours = {
        (r["target"], r["seed"]): (r["n_test"], r["test_std"])
        for r in chem_rows
        if _finite(r.get("test_std"))
    }
    mismatched = set()
    for r in ref_rows:
        key = (r["target"], r["seed"])
        if key in ours and _finite(r.get("test_std")):
            n, std = ours[key]
            if n != r.get("n_test") or abs(std - r["test_std"]) > 1e-9 * max(1.0, abs(std)):
                mismatched.add(key)
    return {
        "checked": len({(r["target"], r["seed"]) for r in ref_rows} & set(ours)),
        "mismatched": sorted(map(list, mismatched)),
    }


def comparison(rows: list[dict], max_n: int = MAX_N) -> dict:
    """task_addition's headline over the chemprop rows and the references' rows: GATE (uniform
    and learned λ) against the best of :data:`BASELINES` per target group, both groups together,
    and test part, n ≤ ``max_n``; nRMSE for regression, ROC-AUC for classification, with
    bootstrap 95 % intervals over targets and win counts (:mod:`bench.stats`)."""
    ran = {r["method"] for r in rows}
    return headline(rows, [m for m in METHOD_ORDER if m in ran], max_n, BASELINES)


def _versus(entry: dict) -> tuple[str, dict]:
    """The GATE a verdict is on (the summary's rule: uniform λ, the app's default, else learned λ)
    and its comparison."""
    gate = next((g for g in VERDICT_ON if entry.get(f"{g}_vs_best_baseline")), VERDICT_ON[0])
    return gate, entry.get(f"{gate}_vs_best_baseline") or {}


# -------------------------------------------------------------------------------------- run


def _settings(args: argparse.Namespace, pretrain_id: str | None) -> dict:
    keys = (
        "test_fraction val_fraction st_epochs st_patience ft_epochs ft_patience batch_size "
        "method_max_minutes aggregation descriptors ensemble"
    ).split()
    return {
        **{k: getattr(args, k) for k in keys},
        "pretrain_id": pretrain_id,
        # val and test descriptors clipped to the training fold's range (chemprop_runner); rows
        # made before, without it, must not be resumed into a run with it
        "descriptor_range": "training fold",
    }


def _load_previous(path: Path, settings: dict) -> list[dict]:
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError:
        _log(f"--resume: {path} is not readable JSON; starting afresh")
        return []
    if data.get("settings") != settings:
        _log(
            f"--resume: {path} was made with other settings (or another pre-trained model); starting afresh"
        )
        return []
    return [r for r in data.get("rows", []) if "error" not in r]


def _row_key(r: dict) -> tuple:
    return (r["target"], r["seed"], r["size"], r["method"])


def _save(state: dict, results_dir: Path) -> tuple[Path, Path]:
    ref_rows, ref_info = reference_rows(state["reference_path"], state["settings"]["test_fraction"])
    check = check_splits(state["rows"], ref_rows)
    bad = {tuple(k) for k in check["mismatched"]}
    ref_rows = [r for r in ref_rows if (r["target"], r["seed"]) not in bad]
    grid_cells = {(c[0], c[1], c[2]) for c in state["grid"]["planned"]}
    ref_rows = (
        [r for r in ref_rows if (r["target"], r["seed"], r["size"]) in grid_cells]
        if grid_cells
        else ref_rows
    )
    ref_info["split_check"] = check
    state["reference"] = ref_info
    state["reference_rows"] = ref_rows
    state["comparison"] = comparison([*state["rows"], *ref_rows])
    if state.get("started") is not None:
        state["wall_seconds"] = state["started"]()
    payload = {k: v for k, v in state.items() if k not in ("started", "reference_path")}
    columns = (
        "target seed size n_train n_test method rmse mae r2 nrmse roc_auc pr_auc test_std "
        "wall_seconds featurize_seconds process_seconds device host error"
    ).split()
    rows = [{c: r.get(c) for c in columns} for r in [*state["rows"], *ref_rows]]
    name = state.get("results_name", NAME)
    return write_results(name, payload, markdown, results_dir, rows=rows)


def run(args: argparse.Namespace) -> tuple[Path, Path]:
    if args.merge:
        return merge(args)
    started = stopwatch()  # in the state; the saved JSON gets its reading as wall_seconds
    targets, sizes, seeds, methods = (
        _csv_list(args.targets),
        parse_sizes(args.sizes),
        [int(s) for s in _csv_list(args.seeds)],
        _csv_list(args.methods),
    )
    unknown = [m for m in methods if m not in CHEMPROP_METHODS]
    if unknown:
        raise ValueError(f"unknown methods {unknown}; choose from {', '.join(CHEMPROP_METHODS)}")
    shard = parse_shard(args.shard)
    if not (Path(args.bench_python).is_file() or "/" not in args.bench_python):
        raise FileNotFoundError(
            f"--bench-python {args.bench_python} not found: `make bench-venv` creates .venv-bench"
        )
    work_dir, results_dir = Path(args.work_dir), Path(args.results_dir)
    jobs = max(1, args.jobs)
    threads = max(1, args.threads_per_job)

    pretrain = None
    if "chemprop_finetuned" in methods or args.pretrain_only:
        table_path, table_info = export_pretrain_table(work_dir, args.backbone)
        pretrain = ensure_pretrained(args, table_path, table_info)
    settings = _settings(args, pretrain["id"] if pretrain else None)

    rows = (
        _load_previous(results_dir / f"{args.results_name}.json", settings) if args.resume else []
    )
    seen_keys = reference_seen_keys(args.reference, args.backbone)
    done = {_row_key(r) for r in rows}
    all_cells = [(t, seed, size) for seed in seeds for size in sizes for t in targets]
    state = {
        "results_name": args.results_name,
        "status": "running",
        "settings": settings,
        "started": started,
        "reference_path": args.reference,
        "grid": {
            "targets": targets,
            "sizes": sizes,
            "seeds": seeds,
            "methods": methods,
            "order": "seed, then size, then target",
            "shard": args.shard,
            "planned": [list(c) for c in all_cells],
            "ran": [],
            "resumed": [],
            "skipped": [],
            "not_started": [],
        },
        "rows": rows,
        "pretrain": pretrain,
        "accelerator": args.accelerator,
        "jobs": jobs,
        "threads_per_job": threads,
        "bench_python": args.bench_python,
        "work_dir": str(work_dir),
    }
    if args.pretrain_only:
        state["status"] = "pre-training only"
        state["grid"]["planned"] = []
        return _save(state, results_dir)

    todo_cells = [c for c in all_cells if any((*c, m) not in done for m in methods)]
    state["grid"]["resumed"] = [list(c) for c in all_cells if c not in todo_cells]
    todo_cells = shard_cells(todo_cells, shard)
    if shard is not None:
        state["grid"]["planned"] = [list(c) for c in todo_cells]

    # exact splits → files (main venv: gate_core's scaffold split)
    splits: dict[tuple[str, int], TargetSplit] = {}
    jobs_list = []
    for cell in todo_cells:
        t, seed, size = cell
        if (t, seed) not in splits:
            splits[(t, seed)] = TargetSplit(t, seed, args.test_fraction, seen_keys)
        ts = splits[(t, seed)]
        if size != "all" and size > ts.pool_size:
            state["grid"]["skipped"].append(
                {"cell": list(cell), "reason": f"training pool has only {ts.pool_size} molecules"}
            )
            continue
        path = export_cell(work_dir, ts, size, args.val_fraction)
        jobs_list.append((cell, [m for m in methods if (*cell, m) not in done], path, ts))
    _log(
        f"{len(jobs_list)} cells to run ({len(state['grid']['resumed'])} resumed, {len(state['grid']['skipped'])} skipped), "
        f"{jobs} at a time, {threads} threads each, accelerator {args.accelerator}"
    )
    run_root = work_dir / "runs" / _hash(settings)
    lock = threading.Lock()
    paths = _save(state, results_dir)

    def one(job: tuple) -> tuple:
        cell, todo, path, ts = job
        t, seed, size = cell
        result = run_cell_subprocess(
            args,
            cell,
            todo,
            path,
            run_root / t / f"seed{seed}" / f"n{size}",
            pretrain["model"] if pretrain and "chemprop_finetuned" in todo else None,
            threads,
            ts.task_type,
        )
        return job, result

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        pending: set[Future] = set()
        queue = list(jobs_list)
        while queue or pending:
            while queue and len(pending) < jobs:
                if args.budget_minutes and started() / 60 > args.budget_minutes:
                    state["grid"]["not_started"] = [list(j[0]) for j in queue]
                    state["status"] = (
                        f"stopped by the {args.budget_minutes:g}-minute budget: {len(queue)} cells not started"
                    )
                    _log(state["status"])
                    queue = []
                    break
                pending.add(pool.submit(one, queue.pop(0)))
            if not pending:
                break
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in finished:
                (cell, todo, path, ts), result = fut.result()
                idx = ts.train_index(cell[2])
                new = [make_row(cell, m, result[m], ts, len(idx)) for m in todo]
                with lock:
                    state["rows"] = [
                        r for r in state["rows"] if _row_key(r) not in {_row_key(n) for n in new}
                    ] + new
                    state["grid"]["ran"].append(list(cell))
                    paths = _save(state, results_dir)
                for r in new:
                    score = (
                        f"RMSE {r['rmse']:.4g} (nRMSE {r['nrmse']:.3f}, R² {r['r2']:.2f}), {r['wall_seconds']:.1f} s"
                        if "rmse" in r
                        else f"ROC-AUC {r['roc_auc']:.3f}, {r['wall_seconds']:.1f} s"
                        if "roc_auc" in r
                        else r.get("error", "")[:300]
                    )
                    _log(f"{cell[0]} seed {cell[1]} n={cell[2]}: {r['method']:<18} {score}")
    if state["status"] == "running":
        state["status"] = "complete"
    paths = _save(state, results_dir)
    for task_type in ("regression", "classification"):
        for key, entry in (state["comparison"].get(task_type) or {}).items():
            gate, v = _versus(entry)
            if v.get("n_targets"):
                lo, hi = v["ratio_ci95"]
                _log(
                    f"{task_type} {key}: GATE {gate} / best baseline ({v['best_baseline']}) = "
                    f"{v['ratio_to_best']:.3f} [{lo:.3f}, {hi:.3f}] over {v['n_targets']} targets"
                )
    return paths


def merge(args: argparse.Namespace) -> tuple[Path, Path]:
    """Combine shard results (same settings, same pre-trained model) into ``<results-dir>``; no training."""
    results_dir = Path(args.results_dir)
    dirs = [
        results_dir,
        *[Path(d) for d in _csv_list(args.merge) if Path(d).resolve() != results_dir.resolve()],
    ]
    loaded = []
    for d in dirs:
        path = d / f"{args.results_name}.json"
        if path.is_file():
            loaded.append((path, json.loads(path.read_text())))
        elif d != results_dir:
            raise FileNotFoundError(f"--merge: {path} does not exist")
    if not loaded:
        raise FileNotFoundError("--merge: no chemprop_compare.json found")
    settings = loaded[0][1]["settings"]
    for path, data in loaded[1:]:
        if data["settings"] != settings:
            raise ValueError(
                f"--merge: {path} has other settings than {loaded[0][0]}: {data['settings']} vs {settings}"
            )
    shas = {data["pretrain"]["model_sha256"] for _, data in loaded if data.get("pretrain")}
    if len(shas) > 1:
        raise ValueError(
            f"--merge: the shards fine-tuned from different pre-trained models ({', '.join(sorted(shas))})"
        )
    rows, grid = merged_rows_and_grid([data for _, data in loaded])
    grid = {**grid, "shard": None, "merged_from": [str(p) for p, _ in loaded]}
    first = loaded[0][1]
    statuses = {data.get("status") for _, data in loaded}
    state = {
        "results_name": args.results_name,
        "status": "complete"
        if statuses <= {"complete", "pre-training only", "merged"} and not grid["not_started"]
        else "merged: " + "; ".join(sorted(map(str, statuses))),
        "settings": settings,
        "started": None,
        "reference_path": getattr(args, "reference", None) or str(DEFAULT_REFERENCE),
        "grid": grid,
        "rows": rows,
        "pretrain": next((d["pretrain"] for _, d in loaded if d.get("pretrain")), None),
        "accelerator": first.get("accelerator"),
        "jobs": first.get("jobs"),
        "threads_per_job": first.get("threads_per_job"),
        "bench_python": first.get("bench_python"),
        "work_dir": first.get("work_dir"),
        "wall_seconds_per_shard": [data.get("wall_seconds") for _, data in loaded],
    }
    _log(f"merged {len(loaded)} result files: {len(state['rows'])} rows")
    return _save(state, results_dir)


# ---------------------------------------------------------------------------------- markdown


def _fmt(x: object, spec: str = "{:.3f}") -> str:
    return spec.format(x) if _finite(x) else "—"


def _bold_best(values: dict, methods: list[str], higher_is_better: bool) -> list[str]:
    finite = {m: values[m] for m in methods if _finite(values.get(m))}
    best = (max if higher_is_better else min)(finite, key=finite.get) if finite else None
    return [f"**{_fmt(values.get(m))}**" if m == best else _fmt(values.get(m)) for m in methods]


def _counted(size: int | str, max_n: int) -> bool:
    """Whether cells of ``size`` count in the headline (n ≤ its ``max_n``; not "all")."""
    return isinstance(size, int) and size <= max_n


def _goal(v: dict, goal_ratio: float) -> str:
    """The issue's goal in its own words: ratio ≤ ``goal_ratio`` with the interval's upper end
    below 1.0."""
    lo, hi = v["ratio_ci95"]
    met = v["ratio_to_best"] <= goal_ratio and hi < 1.0
    return f"{'met' if met else 'not met'} ({v['ratio_to_best']:.3f}; upper end {hi:.3f})"


def _said_by_a_group(key: str, entry: dict, block: dict) -> bool:
    """An "all" entry over the targets of one group only (classification: drug-like alone)."""
    group, _, part = key.partition("/")
    return group == "all" and any(
        k != key and k.endswith(f"/{part}") and set(e["per_target"]) == set(entry["per_target"])
        for k, e in block.items()
    )


def headline_tables(comp: dict, sizes: list) -> list[str]:
    """Per task type: every method's mean over targets (95 % interval where the comparison
    stores one) and GATE / best baseline per group and test part; then each group's targets."""
    out = []
    for task_type, metric in (("regression", "nRMSE ↓"), ("classification", "ROC-AUC ↑")):
        block = comp.get(task_type) or {}
        block = {k: e for k, e in block.items() if not _said_by_a_group(k, e, block)}
        if not block:
            continue
        higher = task_type == "classification"
        methods = [m for m in METHOD_ORDER if any(m in e["mean"] for e in block.values())]
        rows = []
        for key, e in block.items():
            gate, v = _versus(e)
            ci = {**((e.get("learned_vs_best_baseline") or {}).get("ci95") or {})}
            ci.update(v.get("ci95") or {})
            cells = [
                f"{e['mean'][m]:.3f} ({ci[m][0]:.3f}–{ci[m][1]:.3f})"
                if m in ci
                else _fmt(e["mean"].get(m))
                if m in e["mean"]
                else ""
                for m in methods
            ]
            ratio = wins = goal = "—"
            if v.get("n_targets"):
                lo, hi = v["ratio_ci95"]
                ratio = f"{gate} λ: {v['ratio_to_best']:.3f} ({lo:.3f}–{hi:.3f}) × {label(v['best_baseline'])}"
                wins = f"{v['targets_won']} of {v['n_targets']}"
                goal = "—" if higher else _goal(v, comp["goal_ratio"])
            rows.append([key, e["n_targets"], *cells, ratio, wins, goal])
        out.append(
            f"### {task_type.capitalize()}: mean {metric} over targets "
            f"(n = {', '.join(str(n) for n in sizes if _counted(n, comp['max_n']))})\n\n"
            + md_table(
                [
                    "targets / test part",
                    "targets",
                    *[label(m) for m in methods],
                    "GATE ÷ best baseline (95 % CI)",
                    "targets GATE wins",
                    f"goal ≤ {comp['goal_ratio']}, upper end < 1.0",
                ],
                rows,
            )
        )
        if higher:  # average precision: informative when positives are rare (ClinTox)
            pr = [
                [key, e["n_targets"], *[_fmt((e.get("pr_auc_mean") or {}).get(m)) for m in methods]]
                for key, e in block.items()
            ]
            out.append(
                "Mean PR-AUC ↑ over the same targets:\n\n"
                + md_table(["targets / test part", "targets", *[label(m) for m in methods]], pr)
            )
        for key, e in block.items():
            if key.startswith("all/") or key.endswith("/seen"):
                continue
            ms = [m for m in methods if m in e["mean"]]
            per = [[t, *_bold_best(v, ms, higher)] for t, v in e["per_target"].items()]
            out.append(
                f"#### {key}: {metric} per target (mean over seeds; bold = best)\n\n"
                + md_table(["target", *[label(m) for m in ms]], per)
            )
    return out


def _pretrain_line(p: dict | None) -> str:
    if not p:
        return "Not run (chemprop_finetuned not requested)."
    ps, table = p.get("settings") or {}, p["table"]
    line = (
        f"chemprop multi-task MPNN on the backbone's own table and scaffold split: "
        f"{len(p.get('tasks') or [])} label columns, {p.get('n_train')} train / {p.get('n_val')} "
        f"val molecules (its {table['split']['test_left_out']} test molecules left out); "
        f"{p.get('epochs')} epochs run (≤ {ps.get('epochs')}, patience {ps.get('patience')}, "
        f"batch {ps.get('batch_size')}; best epoch {p.get('best_epoch')}), "
        f"{_fmt(p.get('median_epoch_seconds'), '{:.0f}')} s per epoch (median), "
        f"{_fmt(p.get('train_seconds'), '{:.0f}')} s training on {p.get('device')}; val mean "
        f"nRMSE over label columns {_fmt(p.get('val_mean_nrmse'))}. Budget: "
        f"{_fmt(ps.get('max_minutes'), '{:g}')} min. The backbone ran {table.get('backbone_epochs_run')} "
        f"epochs (≤ {table.get('backbone_config_epochs')})."
    )
    return line + (
        f" **Stopped by the {_fmt(ps.get('max_minutes'), '{:g}')}-minute budget**, not converged."
        if p.get("stopped_by_time")
        else " Stopped by early stopping (converged)."
    )


def markdown(state: dict) -> str:
    """GATE vs every baseline with intervals, per group and test part, then protocol and provenance."""
    c = state["comparison"]
    grid, s = state["grid"], state["settings"]
    errors = [r for r in state["rows"] if "error" in r]
    ref = state.get("reference", {})
    check = ref.get("split_check", {})
    n_ran = len(grid["ran"]) + len(grid["resumed"])
    devices = sorted(
        {f"{r.get('device')} on {r.get('host')}" for r in state["rows"] if r.get("device")}
    )
    failed = "; ".join(
        f"{r['target']}/{r['seed']}/{r['size']}/{r['method']}: {str(r['error'])[:200]}"
        for r in errors
    )
    files = "; ".join(
        f"`{Path(f['path']).name}` ({f.get('date_utc')})"
        if f.get("available")
        else f"`{f['path']}`: {f.get('note')}"
        for f in ref.get("files", [])
    )
    tables = headline_tables(c, grid["sizes"])
    return (
        f"# chemprop v2 and CheMeleon-style baselines vs GATE (same scaffold splits)\n\n"
        f"Status: **{state['status']}**: {n_ran} cells ran or resumed (targets "
        f"{', '.join(grid['targets'])}; n ∈ {{{', '.join(map(str, grid['sizes']))}}}; seeds "
        f"{', '.join(map(str, grid['seeds']))}). chemprop ran on: {'; '.join(devices) or '—'}.\n\n"
        f"GATE is task addition with uniform λ (the app's default; the ratio column is on it) and "
        f"learned λ; the frozen probe is an ablation; the baselines GATE must beat are "
        f"{', '.join(label(b) for b in BASELINES)}. Target groups: drug-like, physical chemistry, "
        f"and *all* (both together, with the methods run on every target).\n\n"
        + "\n\n".join(tables or ["No complete cells yet: no comparison."])
        + f"""

## Protocol

GATE, probe, fine-tuned backbone, RF and LightGBM rows come from {files or "—"} (backbone
`{ref.get("backbone_id")}`); test sets checked equal on {check.get("checked", 0)} (target, seed)
pairs, {len(check.get("mismatched", []))} mismatched.
Test molecules are *seen* when their InChIKey first block is among the backbone's pre-training
molecules (the reference's table and corpus), *unseen* otherwise; nRMSE of a part uses that
part's own std. chemprop gets the same n molecules cut into the same early-stopping fold
({s["val_fraction"]:.0%} of n) and is scored here on the same test set: bond messages, hidden 300,
depth 3, {s.get("aggregation", "norm")} aggregation, 1 × 300 FFN (binary classifier with BCE for
classification targets), Noam-like lr, batch
{s["batch_size"]}, {s.get("descriptors", "rdkit2d")} descriptors as extra FFN input, an ensemble
of {s.get("ensemble", 1)} models averaged. Single-task ≤ {s["st_epochs"]} epochs (patience
{s["st_patience"]}); fine-tuned ≤ {s["ft_epochs"]} epochs (patience {s["ft_patience"]});
≤ {s["method_max_minutes"]:g} min per fit; best val loss restored.

Pre-training (CheMeleon-style): {_pretrain_line(state.get("pretrain"))}
{chr(10) + "Failed runs: " + failed + chr(10) if errors else ""}"""
    )
