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
import functools
import hashlib
import json
import math
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import numpy as np

from bench.chemprop_runner import FIT_OPTIONS, PRETRAIN_OPTIONS, add_options
from bench.chemprop_runner import METHODS as CHEMPROP_METHODS
from bench.common import REPO_ROOT, RESULTS_DIR, fmt, logger, stopwatch, table, write_results
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
GATE_METHODS = ("uniform", "learned")  # task_addition's names; uniform λ is the app's default
# rows read from the reference JSONs: GATE, its frozen-probe and fine-tuned ablations, RF, LightGBM
REFERENCE_METHODS = (*GATE_METHODS, "probe", "finetune", "rf", "lgbm")
METHOD_ORDER = (*REFERENCE_METHODS, *CHEMPROP_METHODS)
BASELINES = ("finetune", "rf", "lgbm", *CHEMPROP_METHODS)  # what GATE must beat
RUN_KEYS = ("accelerator", "jobs", "threads_per_job", "bench_python", "work_dir")  # how it ran
MAX_N = 300  # task_addition's SUMMARY_MAX_N: the goal is stated for n ≤ 300
RUNNER = REPO_ROOT / "bench" / "chemprop_runner.py"
DEFAULT_WORK_DIR = REPO_ROOT / "bench" / "work" / "chemprop"
DEFAULT_BENCH_PYTHON = REPO_ROOT / ".venv-bench" / "bin" / "python"
DEFAULT_REFERENCE = ",".join(
    str(RESULTS_DIR / f"task_addition_v2_{name}.json") for name in ("n100", "physchem")
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
    add_options(add)  # passed on to the runner's `pretrain` and `fit`
    add("--pretrain-threads", type=int, help="torch threads of the pre-training (default: all)")
    add("--pretrain-only", action="store_true", help="pre-train if not done yet, no fits")
    add("--accelerator", choices=("cpu", "gpu"), default="cpu", help="Lightning accelerator")
    add("--jobs", type=int, default=1, help="chemprop cells run at once")
    add("--threads-per-job", type=int, default=1, help="torch threads per fit")
    add("--bench-python", default=str(DEFAULT_BENCH_PYTHON), help="a Python with chemprop")
    add("--work-dir", default=str(DEFAULT_WORK_DIR), help="splits, pre-training, runner outputs")
    add("--reference", default=DEFAULT_REFERENCE, help="task_addition JSONs, comma-separated")
    add("--backbone", default=str(DEFAULT_BACKBONE), help="whose table and split pre-train")
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


def cell_frame(ts: TargetSplit, size: int | str, val_fraction: float):  # -> pandas.DataFrame
    """smiles, value, fold of one cell: the inner-train and val parts of the n (task_addition's
    ``_val_split``, as its single-task and fine-tune methods use) and the scaffold test set."""
    import pandas as pd

    idx, table = ts.train_index(size), pd.DataFrame({"smiles": ts.smiles, "value": ts.y})
    inner, val = _val_split(len(idx), val_fraction, ts.seed)
    parts = {"train": idx[inner], "val": idx[val], "test": ts.test}
    return pd.concat([table.iloc[i].assign(fold=f) for f, i in parts.items()], ignore_index=True)


def _atomic_csv(frame, path: Path) -> None:
    """``frame`` (a DataFrame) as CSV; shards sharing a work dir may write the same file: each
    writes its own, then renames it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    frame.to_csv(tmp, index=False)  # full float repr: the values round-trip exactly
    os.replace(tmp, path)


def export_cell(work_dir: Path, ts: TargetSplit, size: int | str, val_fraction: float) -> Path:
    """One cell's :func:`cell_frame` as ``<work>/splits/<target>/seed<k>/n<n>.csv``."""
    path = Path(work_dir) / "splits" / ts.name / f"seed{ts.seed}" / f"n{size}.csv"
    _atomic_csv(cell_frame(ts, size, val_fraction), path)
    return path


def export_pretrain_table(work_dir: Path, backbone: str | Path) -> tuple[Path, dict]:
    """The backbone's own table and split as chemprop's pre-training table: smiles, fold
    (train | val — the backbone's scaffold-test molecules are left out), one column per property;
    written once per backbone data hash to ``<work>/pretrain/table.csv`` (and ``table.json``)."""
    import pandas as pd

    from gate_core.training.backbone_split import rebuild_split

    out = Path(work_dir) / "pretrain"
    table_path, info_path = out / "table.csv", out / "table.json"
    meta = json.loads((Path(backbone) / "metadata.json").read_text())
    if table_path.is_file() and info_path.is_file():
        info = json.loads(info_path.read_text())
        if info.get("data_hash") == meta["pretraining"]["data_hash"]:
            return table_path, info
    config, table, (train, val, test) = rebuild_split(meta, None)
    keep = np.concatenate([train, val])
    frame = pd.DataFrame(table.Y[keep].astype(np.float64), columns=list(table.tasks))
    frame.insert(0, "smiles", [table.smiles[i] for i in keep])
    frame.insert(1, "fold", ["train"] * len(train) + ["val"] * len(val))
    split = {"kind": config.split, "seed": config.seed, "fractions": list(config.split_fractions)}
    info = {
        "backbone": str(backbone),
        "data_hash": meta["pretraining"]["data_hash"],
        "tasks": list(table.tasks),
        "table": config.table,
        "split": {**split, "train": len(train), "val": len(val), "test_left_out": len(test)},
        "backbone_epochs_run": meta["pretraining"].get("epochs_run"),
        "backbone_config_epochs": config.epochs,
        "backbone_config_patience": config.patience,
        "backbone_batch_size": config.batch_size,
    }
    _atomic_csv(frame, table_path)
    info_path.write_text(json.dumps(info, indent=1) + "\n")
    _log(f"pre-training table: {len(train)} train + {len(val)} val molecules -> {table_path}")
    return table_path, info


# ----------------------------------------------------------------------------------- runner


def _hash(obj: object) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:10]


def pretrain_settings(args: argparse.Namespace, table_info: dict) -> dict:
    """What the pre-trained model depends on; its hash names the model's folder."""
    budget = ("epochs", "patience", "batch_size", "max_minutes", "max_molecules")
    return {
        **{k: table_info[k] for k in ("data_hash", "tasks")},
        **{k: getattr(args, f"pretrain_{k}") for k in budget},
        "seed": 0,
        "aggregation": args.aggregation,
    }


def _run_runner(args: argparse.Namespace, command: str, options: dict, timeout=None) -> str | None:
    """``bench/chemprop_runner.py <command>`` under ``--bench-python`` with ``options`` as its
    flags (None leaves one out), its output into ``log.txt`` of its out folder; what went wrong
    (with the log's tail), or None."""
    cmd = [args.bench_python, str(RUNNER), command, "--accelerator", args.accelerator]
    for key, value in options.items():
        cmd += [] if value is None else [f"--{key.replace('_', '-')}", str(value)]
    blas = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
    env = {**os.environ, **dict.fromkeys(blas, str(options["threads"])), "PYTHONUNBUFFERED": "1"}
    log, error = Path(options.get("out") or options["out_dir"]) / "log.txt", None
    with open(log, "w") as out:
        try:
            done = subprocess.run(
                cmd, cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=timeout
            )
            error = f"runner exit {done.returncode}" if done.returncode else None
        except subprocess.TimeoutExpired:
            error = f"runner killed after {timeout:.0f} s"
    return error and f"{error}; log tail: {log.read_text(errors='replace')[-1000:]}"


def ensure_pretrained(args: argparse.Namespace, table_path: Path, table_info: dict) -> dict:
    """The pre-trained chemprop model for these settings: reuse it, or train it (under a file
    lock, so shards sharing a work dir pre-train once); its record for the result."""
    import fcntl

    settings = pretrain_settings(args, table_info)
    out = Path(args.work_dir) / "pretrain" / f"model_{_hash(settings)}"
    out.mkdir(parents=True, exist_ok=True)
    with open(out.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not ((out / "pretrain.json").is_file() and (out / "model.pt").is_file()):
            cores = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
            threads = args.pretrain_threads or (len(cores) if cores else os.cpu_count())
            _log(f"pre-training chemprop ({args.accelerator}, {threads} threads) -> {out}")
            options = {k: getattr(args, k) for k in PRETRAIN_OPTIONS}
            options |= {"table": table_path, "out": out, "threads": threads, "seed": 0}
            error = _run_runner(args, "pretrain", options)
            if error or not (out / "pretrain.json").is_file():
                raise RuntimeError(f"chemprop pre-training failed ({out}): {error or 'no record'}")
        with open(out / "model.pt", "rb") as model:
            sha = hashlib.file_digest(model, "sha256").hexdigest()[:16]
        record = json.loads((out / "pretrain.json").read_text())
    ids = {"id": _hash(settings), "model": str(out / "model.pt"), "model_sha256": sha}
    return {**ids, "table": table_info, **record}


def make_row(cell: tuple, method: str, result: dict, ts: TargetSplit, n_train: int) -> dict:
    """One result row, scored here with gate_core's metrics on the runner's test predictions,
    on the whole test set and on its seen / unseen parts (as task_addition scores its rows)."""
    y, pred = ts.y_test, np.asarray(result.get("predictions", []), dtype=np.float64)
    row = {"target": cell[0], "seed": cell[1], "size": cell[2], "n_train": n_train}
    row |= {"n_test": len(y), "test_std": ts.test_std, "task_type": ts.task_type, "method": method}
    row |= {"device": result.get("device"), "host": result.get("host")}
    if "error" in result or pred.shape != y.shape:
        error = result.get("error") or f"{len(pred)} predictions for {len(y)} test molecules"
        return {**row, "error": error}
    row |= _metrics(ts.task_type, y, pred, ts.test_std)
    row.pop("n", None)
    row |= {
        "n_test_seen": int(ts.seen.sum()),
        "parts": part_metrics(ts.task_type, y, pred, ts.seen),
    }
    row |= {k: result.get(k) for k in ("wall_seconds", "featurize_seconds", "process_seconds")}
    info = (
        "epochs_run best_epoch best_val_loss stopped_by_time max_epochs patience n_inner_train "
        "n_val torch_threads accelerator versions"
    )
    return {**row, "info": {k: result.get(k) for k in info.split()}}


# ---------------------------------------------------------------------------------- compare


def reference_rows(paths: str | Path, test_fraction: float) -> tuple[list[dict], dict]:
    """The :data:`REFERENCE_METHODS` rows (with their seen / unseen parts) of the comma-separated
    task_addition JSONs (one per target group, say), which must share one backbone;
    ``info["files"]`` describes each, with its ``seen`` block."""
    keys = (
        "target seed size n_train n_test test_std rmse mae r2 nrmse roc_auc pr_auc wall_seconds "
        "device task_type n_test_seen parts method"
    ).split()
    rows, files = [], []
    for path in map(Path, _csv_list(str(paths))):
        info: dict = {"path": str(path), "available": path.is_file()}
        files.append(info)
        if not path.is_file():
            info["note"] = "missing: no GATE/RF numbers to compare with"
            continue
        data = json.loads(path.read_text())
        settings = data.get("settings", {})
        info |= {"backbone_id": data.get("backbone_id"), "status": data.get("status")}
        info |= {"settings": settings, "date_utc": (data.get("machine") or {}).get("date_utc")}
        info["seen"] = data.get("seen")
        if abs(float(settings.get("test_fraction", test_fraction)) - test_fraction) > 1e-12:
            note = f"its test_fraction {settings.get('test_fraction')} ≠ {test_fraction}: other test sets, not used"
            info.update(available=False, note=note)
            continue
        rows += [
            {k: r.get(k) for k in keys}
            for r in data.get("rows", [])
            if r.get("method") in REFERENCE_METHODS and "error" not in r
        ]
    backbones = {f.get("backbone_id") for f in files if f["available"]}
    if len(backbones) > 1:
        raise ValueError(f"--reference files come from different backbones: {sorted(backbones)}")
    return rows, {"files": files, "backbone_id": backbones.pop() if backbones else None}


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
        names = ", ".join(str(p) for p, _ in blocks.values())
        raise ValueError(f"--reference files marked seen molecules differently: {names}")
    path, seen = blocks.popitem()[1]
    table = Path(seen["pretraining_table"])
    if not table.is_file():  # recorded from another checkout: the same file in this one
        table = REPO_ROOT / "assets" / "data" / table.name
    meta = json.loads((Path(backbone) / "metadata.json").read_text())
    tasks = [t["name"] for t in meta["config"]["tasks"]]
    corpus = argparse.Namespace(corpus=",".join(seen["corpus"]), pretraining_table=str(table))
    keys = seen_molecule_keys(corpus, tasks)
    if len(keys) != seen["molecules"]:
        raise ValueError(
            f"{len(keys)} pre-training molecules here, {seen['molecules']} in {path}: "
            "seen/unseen would differ from the reference"
        )
    return keys


def check_splits(chem_rows: list[dict], ref_rows: list[dict]) -> dict:
    """Same (target, seed) must mean the same test set on both sides: n_test and test-set std agree."""
    ours = {(r["target"], r["seed"]): r for r in chem_rows if _finite(r.get("test_std"))}
    checked, mismatched = set(), set()
    for r in ref_rows:
        key = (r["target"], r["seed"])
        if key in ours:
            checked.add(key)
            n, std = ours[key]["n_test"], ours[key]["test_std"]
            if _finite(r.get("test_std")) and (
                n != r.get("n_test") or abs(std - r["test_std"]) > 1e-9 * max(1.0, abs(std))
            ):
                mismatched.add(key)
    return {"checked": len(checked), "mismatched": sorted(map(list, mismatched))}


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
    """``--resume``: the finished rows of the earlier result, if it has these settings."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        _log(f"--resume: no readable {path}; starting afresh")
        return []
    if data.get("settings") != settings:
        _log(f"--resume: {path} has other settings (or pre-trained model); starting afresh")
        return []
    return [r for r in data.get("rows", []) if "error" not in r]


def _row_key(r: dict) -> tuple:
    return (r["target"], r["seed"], r["size"], r["method"])


def _save(state: dict, results_dir: Path) -> tuple[Path, Path]:
    """Score against the reference rows (on the planned cells, mismatched test sets dropped) and
    write the JSON, Markdown and CSV."""
    ref_rows, ref_info = reference_rows(state["reference_path"], state["settings"]["test_fraction"])
    ref_info["split_check"] = check = check_splits(state["rows"], ref_rows)
    bad = {tuple(k) for k in check["mismatched"]}
    planned = {tuple(c) for c in state["grid"]["planned"]}
    state["reference"] = ref_info
    state["reference_rows"] = [
        r
        for r in ref_rows
        if (r["target"], r["seed"]) not in bad
        and (not planned or (r["target"], r["seed"], r["size"]) in planned)
    ]
    state["comparison"] = comparison([*state["rows"], *state["reference_rows"]])
    if state.get("started") is not None:
        state["wall_seconds"] = state["started"]()
    payload = {k: v for k, v in state.items() if k not in ("started", "reference_path")}
    columns = (
        "target seed size n_train n_test method rmse mae r2 nrmse roc_auc pr_auc test_std "
        "wall_seconds featurize_seconds process_seconds device host error"
    ).split()
    rows = [{c: r.get(c) for c in columns} for r in [*state["rows"], *state["reference_rows"]]]
    return write_results(state["results_name"], payload, markdown, results_dir, rows=rows)


def run(args: argparse.Namespace) -> tuple[Path, Path]:
    """Pre-train once if needed, export every cell's split, run the runner on the cells with work
    left (``--jobs`` at a time; the result is rewritten after each), score and compare."""
    if args.merge:
        return merge(args)
    started = stopwatch()  # in the state; the saved JSON gets its reading as wall_seconds
    methods, seeds = _csv_list(args.methods), [int(s) for s in _csv_list(args.seeds)]
    sizes, shard = parse_sizes(args.sizes), parse_shard(args.shard)  # checked before pre-training
    if set(methods) - set(CHEMPROP_METHODS):
        raise ValueError(f"--methods {args.methods}: choose from {', '.join(CHEMPROP_METHODS)}")
    if not (Path(args.bench_python).is_file() or "/" not in args.bench_python):
        raise FileNotFoundError(f"--bench-python {args.bench_python} not found: `make bench-venv`")
    work_dir, results_dir = Path(args.work_dir), Path(args.results_dir)
    pretrain = None
    if "chemprop_finetuned" in methods or args.pretrain_only:
        pretrain = ensure_pretrained(args, *export_pretrain_table(work_dir, args.backbone))
    settings = _settings(args, pretrain["id"] if pretrain else None)
    rows = (
        _load_previous(results_dir / f"{args.results_name}.json", settings) if args.resume else []
    )
    seen_keys = reference_seen_keys(args.reference, args.backbone)
    done = {_row_key(r) for r in rows}
    grid = {
        "targets": _csv_list(args.targets),
        "sizes": sizes,
        "seeds": seeds,
        "methods": methods,
        "order": "seed, then size, then target",
        "shard": args.shard,
        **{k: [] for k in ("planned", "ran", "resumed", "skipped", "not_started")},
    }
    cells = [(t, seed, n) for seed in seeds for n in sizes for t in grid["targets"]]
    state = {
        "results_name": args.results_name,
        "status": "running",
        "settings": settings,
        "started": started,
        "reference_path": args.reference,
        "grid": grid,
        "rows": rows,
        "pretrain": pretrain,
        **{k: getattr(args, k) for k in RUN_KEYS},
    }
    if args.pretrain_only:
        state["status"] = "pre-training only"
        return _save(state, results_dir)
    todo = [c for c in cells if any((*c, m) not in done for m in methods)]
    grid["resumed"] = [list(c) for c in cells if c not in todo]
    todo = shard_cells(todo, shard)
    grid["planned"] = [list(c) for c in (cells if shard is None else todo)]

    # exact splits → files (main venv: gate_core's scaffold split)
    split = functools.cache(lambda t, seed: TargetSplit(t, seed, args.test_fraction, seen_keys))
    queue = []
    for t, seed, size in todo:
        ts = split(t, seed)
        if size != "all" and size > ts.pool_size:
            reason = f"training pool has only {ts.pool_size} molecules"
            grid["skipped"].append({"cell": [t, seed, size], "reason": reason})
        else:
            left = [m for m in methods if (t, seed, size, m) not in done]
            queue.append(
                ((t, seed, size), left, export_cell(work_dir, ts, size, args.val_fraction), ts)
            )
    _log(f"{len(queue)} cells to run, {args.jobs} at a time, {args.threads_per_job} threads each")
    run_root = work_dir / "runs" / _hash(settings)
    _save(state, results_dir)

    def one(job: tuple) -> dict:
        """One runner process for the chemprop methods of one cell: {method: its JSON}."""
        (t, seed, size), left, data, ts = job
        run_dir = run_root / t / f"seed{seed}" / f"n{size}"
        run_dir.mkdir(parents=True, exist_ok=True)
        for m in left:
            (run_dir / f"{m}.json").unlink(missing_ok=True)
        options = {k: getattr(args, k) for k in FIT_OPTIONS}
        options |= {"data": data, "out_dir": run_dir, "methods": ",".join(left), "seed": seed}
        options |= {"threads": args.threads_per_job, "task_type": ts.task_type}
        if pretrain and "chemprop_finetuned" in left:
            options["pretrained"] = pretrain["model"]
        elapsed = stopwatch()
        error = _run_runner(
            args, "fit", options, 60 * (2 * args.method_max_minutes * len(left) * args.ensemble + 5)
        )
        out, process_seconds = {}, elapsed()
        for m in left:
            path = run_dir / f"{m}.json"
            failed = {"method": m, "error": error or "no result file"}
            out[m] = json.loads(path.read_text()) if path.is_file() else failed
            out[m]["process_seconds"] = process_seconds
        return out

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = {pool.submit(one, job): job for job in queue}
        for future in as_completed(futures):
            cell, left, _, ts = futures[future]
            result = future.result()
            new = [make_row(cell, m, result[m], ts, len(ts.train_index(cell[2]))) for m in left]
            keys = {_row_key(r) for r in new}
            state["rows"] = [r for r in state["rows"] if _row_key(r) not in keys] + new
            grid["ran"].append(list(cell))
            _save(state, results_dir)
            for r in new:
                score = ", ".join(
                    f"{k} {r[k]:.3f}" for k in ("nrmse", "roc_auc") if _finite(r.get(k))
                )
                _log(f"{cell}: {r['method']}: {r.get('error', score)[:300]}")
    state["status"] = "complete"
    return _save(state, results_dir)


def merge(args: argparse.Namespace) -> tuple[Path, Path]:
    """Combine shard results (same settings, same pre-trained model) into ``<results-dir>``; no training."""
    results_dir = Path(args.results_dir)
    others = [Path(d) for d in _csv_list(args.merge) if Path(d).resolve() != results_dir.resolve()]
    loaded = []
    for d in [results_dir, *others]:
        path = d / f"{args.results_name}.json"
        if path.is_file():
            loaded.append((path, json.loads(path.read_text())))
        elif d != results_dir:
            raise FileNotFoundError(f"--merge: {path} does not exist")
    if not loaded:
        raise FileNotFoundError("--merge: no chemprop_compare.json found")
    (first_path, first), results = loaded[0], [data for _, data in loaded]
    for path, data in loaded[1:]:
        if data["settings"] != first["settings"]:
            raise ValueError(f"--merge: {path} was made with other settings than {first_path}")
    pretrains = [data["pretrain"] for data in results if data.get("pretrain")]
    shas = sorted({p["model_sha256"] for p in pretrains})
    if len(shas) > 1:
        raise ValueError(f"--merge: the shards fine-tuned different pre-trained models {shas}")
    rows, grid = merged_rows_and_grid(results)
    statuses = {data.get("status") for data in results}
    complete = statuses <= {"complete", "pre-training only", "merged"} and not grid["not_started"]
    state = {
        "results_name": args.results_name,
        "status": "complete" if complete else "merged: " + "; ".join(sorted(map(str, statuses))),
        "settings": first["settings"],
        "reference_path": getattr(args, "reference", None) or DEFAULT_REFERENCE,
        "grid": {**grid, "shard": None, "merged_from": [str(p) for p, _ in loaded]},
        "rows": rows,
        "pretrain": pretrains[0] if pretrains else None,
        **{k: first.get(k) for k in RUN_KEYS},
        "wall_seconds_per_shard": [data.get("wall_seconds") for data in results],
    }
    _log(f"merged {len(loaded)} result files: {len(rows)} rows")
    return _save(state, results_dir)


# ---------------------------------------------------------------------------------- markdown


def _goal(v: dict, goal_ratio: float) -> str:
    """The issue's goal in its own words: ratio ≤ ``goal_ratio`` with the interval's upper end
    below 1.0."""
    hi = v["ratio_ci95"][1]
    met = v["ratio_to_best"] <= goal_ratio and hi < 1.0
    return f"{'met' if met else 'not met'} ({v['ratio_to_best']:.3f}; upper end {hi:.3f})"


def _said_by_a_group(key: str, entry: dict, block: dict) -> bool:
    """An "all" entry over the targets of one group only (classification: drug-like alone)."""
    group, _, part = key.partition("/")
    return group == "all" and any(
        k != key and k.endswith(f"/{part}") and set(e["per_target"]) == set(entry["per_target"])
        for k, e in block.items()
    )


def _with_ci(entry: dict, methods: list[str]) -> list[str]:
    """Each method's mean over targets, with the 95 % interval where a comparison stores one."""
    ci = {}
    for gate in ("learned", _versus(entry)[0]):  # the verdict's intervals win
        ci.update((entry.get(f"{gate}_vs_best_baseline") or {}).get("ci95") or {})
    cells = {m: fmt(v, ".3f") for m, v in entry["mean"].items()}
    cells |= {m: f"{cells[m]} ({lo:.3f}–{hi:.3f})" for m, (lo, hi) in ci.items() if m in cells}
    return [cells.get(m, "") for m in methods]


def _bold_best(values: dict, methods: list[str], higher_is_better: bool) -> list[str]:
    finite = {m: values[m] for m in methods if _finite(values.get(m))}
    best = (max if higher_is_better else min)(finite, key=finite.get) if finite else None
    return [
        f"**{fmt(values[m], '.3f')}**" if m == best else fmt(values.get(m), ".3f") for m in methods
    ]


def headline_tables(comp: dict, sizes: list) -> list[str]:
    """Per task type: every method's mean over targets (95 % interval where the comparison
    stores one) and GATE / best baseline per group and test part; then each group's targets."""
    out = []
    counted = ", ".join(str(n) for n in sizes if isinstance(n, int) and n <= comp["max_n"])
    for task_type, metric in (("regression", "nRMSE ↓"), ("classification", "ROC-AUC ↑")):
        block = comp.get(task_type) or {}
        block = {k: e for k, e in block.items() if not _said_by_a_group(k, e, block)}
        if not block:
            continue
        higher = task_type == "classification"
        methods = [m for m in METHOD_ORDER if any(m in e["mean"] for e in block.values())]
        header = " | ".join(["targets / test part", "targets", *map(label, methods)])
        rows, pr = [], []
        for key, e in block.items():
            gate, v = _versus(e)
            ratio = wins = goal = "—"
            if v.get("n_targets"):
                lo, hi = v["ratio_ci95"]
                ratio = f"{gate} λ: {v['ratio_to_best']:.3f} ({lo:.3f}–{hi:.3f}) × {label(v['best_baseline'])}"
                wins = f"{v['targets_won']} of {v['n_targets']}"
                goal = "—" if higher else _goal(v, comp["goal_ratio"])
            rows.append([key, e["n_targets"], *_with_ci(e, methods), ratio, wins, goal])
            pr_auc = e.get("pr_auc_mean") or {}
            pr.append([key, e["n_targets"], *[fmt(pr_auc.get(m), ".3f") for m in methods]])
        verdict = f"GATE ÷ best baseline (95 % CI) | targets GATE wins | goal ≤ {comp['goal_ratio']}, upper end < 1.0"
        out.append(
            f"### {task_type.capitalize()}: mean {metric} over targets (n = {counted})\n\n"
            + table(f"{header} | {verdict}", rows)
        )
        if higher:  # average precision: informative when positives are rare (ClinTox)
            out.append("Mean PR-AUC ↑ over the same targets:\n\n" + table(header, pr))
        for key, e in block.items():
            if not (key.startswith("all/") or key.endswith("/seen")):
                ms = [m for m in methods if m in e["mean"]]
                per = [[t, *_bold_best(v, ms, higher)] for t, v in e["per_target"].items()]
                out.append(
                    f"#### {key}: {metric} per target (mean over seeds; bold = best)\n\n"
                    + table(" | ".join(["target", *map(label, ms)]), per)
                )
    return out


def _pretrain_line(p: dict | None) -> str:
    if not p:
        return "Not run (chemprop_finetuned not requested)."
    ps, table = p.get("settings") or {}, p["table"]
    budget = fmt(ps.get("max_minutes"), "g")
    return (
        f"chemprop multi-task MPNN on the backbone's own table and scaffold split: "
        f"{len(p.get('tasks') or [])} label columns, {p.get('n_train')} train / {p.get('n_val')} "
        f"val molecules (its {table['split']['test_left_out']} test molecules left out); "
        f"{p.get('epochs')} epochs run (≤ {ps.get('epochs')}, patience {ps.get('patience')}, "
        f"batch {ps.get('batch_size')}; best epoch {p.get('best_epoch')}), "
        f"{fmt(p.get('median_epoch_seconds'), '.0f')} s per epoch (median), "
        f"{fmt(p.get('train_seconds'), '.0f')} s training on {p.get('device')}; val mean "
        f"nRMSE over label columns {fmt(p.get('val_mean_nrmse'), '.3f')}. Budget: {budget} min. "
        f"The backbone ran {table.get('backbone_epochs_run')} epochs (≤ {table.get('backbone_config_epochs')})."
        + (
            f" **Stopped by the {budget}-minute budget**, not converged."
            if p.get("stopped_by_time")
            else " Stopped by early stopping (converged)."
        )
    )


def markdown(state: dict) -> str:
    """GATE vs every baseline with intervals, per group and test part, then protocol and provenance."""
    grid, s = state["grid"], state["settings"]
    ref = state.get("reference", {})
    check = ref.get("split_check", {})
    devices = sorted(
        {f"{r['device']} on {r.get('host')}" for r in state["rows"] if r.get("device")}
    )
    failed = "; ".join(
        f"{r['target']}/{r['seed']}/{r['size']}/{r['method']}: {str(r['error'])[:200]}"
        for r in state["rows"]
        if "error" in r
    )
    files = "; ".join(
        f"`{Path(f['path']).name}` ({f.get('date_utc')})"
        if f.get("available")
        else f"`{f['path']}`: {f.get('note')}"
        for f in ref.get("files", [])
    )
    tables = headline_tables(state["comparison"], grid["sizes"])
    return (
        f"# chemprop v2 and CheMeleon-style baselines vs GATE (same scaffold splits)\n\n"
        f"Status: **{state['status']}**: {len(grid['ran']) + len(grid['resumed'])} cells ran or resumed (targets "
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
depth 3, {s["aggregation"]} aggregation, 1 × 300 FFN (binary classifier with BCE for
classification targets), Noam-like lr, batch
{s["batch_size"]}, {s["descriptors"]} descriptors as extra FFN input, an ensemble
of {s["ensemble"]} models averaged. Single-task ≤ {s["st_epochs"]} epochs (patience
{s["st_patience"]}); fine-tuned ≤ {s["ft_epochs"]} epochs (patience {s["ft_patience"]});
≤ {s["method_max_minutes"]:g} min per fit; best val loss restored.

Pre-training (CheMeleon-style): {_pretrain_line(state.get("pretrain"))}
{chr(10) + "Failed runs: " + failed + chr(10) if failed else ""}"""
    )
