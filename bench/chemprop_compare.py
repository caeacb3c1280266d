"""chemprop v2 baselines on exactly the splits of ``bench/task_addition.py`` (issues #6 and #11).

Two chemprop methods per (target, seed, n), ``chemprop_single`` (from scratch) and
``chemprop_finetuned`` (pre-trained on the backbone's own table and split, then fine-tuned),
next to GATE task addition, its ablations, the random forest and LightGBM, whose rows are read
from the ``--reference`` task_addition JSONs (not re-run); the headline is task_addition's.
This module (main venv) writes the splits and the pre-training table into ``--work-dir``, runs
``bench/chemprop_runner.py`` under ``--bench-python`` (chemprop pins another RDKit) and scores
its predictions with gate_core's metrics. Methods, budgets and commands: bench/README.md.
"""

from __future__ import annotations

import argparse
import fcntl
import functools
import hashlib
import json
import math
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import numpy as np
import pandas as pd

from bench.chemprop_runner import FIT_OPTIONS, PRETRAIN_OPTIONS, add_options
from bench.chemprop_runner import METHODS as CHEMPROP_METHODS
from bench.common import REPO_ROOT, RESULTS_DIR, cells, fmt, logger, stopwatch, table, write_results
from bench.task_addition import (
    DEFAULT_TARGETS,
    SETTINGS,
    SUMMARY_MAX_N,
    TargetSplit,
    bold_best,
    cell_metrics,
    csv_list,
    headline,
    merged_rows_and_grid,
    parse_shard,
    parse_sizes,
    part_metrics,
    read_result,
    seen_molecule_keys,
    val_split,
)
from gate_app.bench_results import label, num
from gate_app.bench_summary import METRICS, _comparison
from gate_core.paths import DEFAULT_BACKBONE

NAME = "chemprop_compare"
DESCRIPTION = "chemprop v2 single-task and CheMeleon-style baselines on task_addition's scaffold splits, vs GATE, its ablations, RF and LightGBM"
# rows read from the reference JSONs: GATE (uniform λ, the app's default, and learned λ), its
# frozen-probe and fine-tuned ablations, RF, LightGBM
REFERENCE_METHODS = ("uniform", "learned", "probe", "finetune", "rf", "lgbm")
METHOD_ORDER = (*REFERENCE_METHODS, *CHEMPROP_METHODS)
BASELINES = ("finetune", "rf", "lgbm", *CHEMPROP_METHODS)  # what GATE must beat
RUN_KEYS = ("accelerator", "jobs", "threads_per_job", "bench_python", "work_dir")  # how it ran
SPLIT = {k: SETTINGS[k] for k in ("test_fraction", "val_fraction")}  # task_addition's defaults
PRETRAIN_FLAGS = ("pretrain_epochs", "pretrain_patience", "pretrain_max_minutes")
RUNNER = REPO_ROOT / "bench" / "chemprop_runner.py"
DEFAULT_BENCH_PYTHON = REPO_ROOT / ".venv-bench" / "bin" / "python"
DEFAULT_REFERENCE = ",".join(
    str(RESULTS_DIR / f"task_addition_v2_{n}.json") for n in ("n100", "physchem")
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--targets", default=",".join(DEFAULT_TARGETS), help="comma-separated target names")
    add("--sizes", default="100", help="training sizes n; 'all' = the whole pool")
    add("--seeds", default="0,1,2", help="split/subsample/model seeds")
    add_options(add, {k: PRETRAIN_OPTIONS[k] for k in PRETRAIN_FLAGS})  # passed on to the runner
    add("--pretrain-threads", type=int, help="torch threads of the pre-training (default: all)")
    add("--pretrain-only", action="store_true", help="pre-train if not done yet, no fits")
    add("--accelerator", choices=("cpu", "gpu"), default="cpu", help="Lightning accelerator")
    add("--jobs", type=int, default=1, help="chemprop cells run at once")
    add("--threads-per-job", type=int, default=1, help="torch threads per fit")
    add("--bench-python", default=str(DEFAULT_BENCH_PYTHON), help="a Python with chemprop")
    add("--work-dir", default=str(REPO_ROOT / "bench" / "work" / "chemprop"))
    add("--reference", default=DEFAULT_REFERENCE, help="task_addition JSONs, comma-separated")
    add("--resume", action="store_true", help="keep the finished cells, run the rest")
    add("--shard", metavar="K/N", help="every N-th cell with work left from K")
    add("--merge", metavar="DIR,...", help="no training: merge these result dirs' files")


_log = logger(NAME)


def _atomic_csv(frame: pd.DataFrame, path: Path) -> Path:
    """Shards sharing a work dir may write the same file: each writes its own, then renames it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    frame.to_csv(tmp, index=False)  # full float repr: the values round-trip exactly
    os.replace(tmp, path)
    return path


def export_cell(work_dir: Path, ts: TargetSplit, size: int | str) -> Path:
    """smiles, value, fold of one cell as ``<work>/splits/<target>/seed<k>/n<n>.csv``: the
    inner-train and val parts of the n (task_addition's ``val_split``, as its single-task and
    fine-tune methods use) and the scaffold test set."""
    idx, frame = ts.train_index(size), pd.DataFrame({"smiles": ts.smiles, "value": ts.y})
    inner, val = val_split(len(idx), SPLIT["val_fraction"], ts.seed)
    parts = {"train": idx[inner], "val": idx[val], "test": ts.test}
    frame = pd.concat([frame.iloc[i].assign(fold=f) for f, i in parts.items()], ignore_index=True)
    path = Path(work_dir) / "splits" / ts.name / f"seed{ts.seed}" / f"n{size}.csv"
    return _atomic_csv(frame, path)


def export_pretrain_table(work_dir: Path) -> tuple[Path, dict]:
    """The backbone's own table and split as chemprop's pre-training table: smiles, fold
    (train | val — the backbone's scaffold-test molecules are left out), one column per property;
    written once per backbone data hash to ``<work>/pretrain/table.csv`` (and ``table.json``)."""
    from gate_core.training.backbone_split import rebuild_split

    table_path, info_path = (Path(work_dir) / "pretrain" / f"table.{x}" for x in ("csv", "json"))
    meta = json.loads((DEFAULT_BACKBONE / "metadata.json").read_text())
    data_hash = meta["pretraining"]["data_hash"]
    info = read_result(info_path) if table_path.is_file() else None
    if info and info.get("data_hash") == data_hash:
        return table_path, info
    config, data, (train, val, test) = rebuild_split(meta, None)
    keep = np.concatenate([train, val])
    frame = pd.DataFrame(data.Y[keep].astype(np.float64), columns=list(data.tasks))
    frame.insert(0, "smiles", [data.smiles[i] for i in keep])
    frame.insert(1, "fold", ["train"] * len(train) + ["val"] * len(val))
    split = {"kind": config.split, "seed": config.seed, "fractions": list(config.split_fractions)}
    info = {
        "backbone": str(DEFAULT_BACKBONE),
        "data_hash": data_hash,
        "tasks": list(data.tasks),
        "table": config.table,
        "split": split | {"train": len(train), "val": len(val), "test_left_out": len(test)},
        "backbone_epochs_run": meta["pretraining"].get("epochs_run"),
        "backbone_config_epochs": config.epochs,
        "backbone_config_patience": config.patience,
        "backbone_batch_size": config.batch_size,
    }
    _atomic_csv(frame, table_path)
    info_path.write_text(json.dumps(info, indent=1) + "\n")
    return table_path, info


def _hash(obj: object) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:10]


def _run_runner(args: argparse.Namespace, command: str, options: dict, timeout=None) -> str | None:
    """``bench/chemprop_runner.py <command>`` under ``--bench-python`` with ``options`` as its
    flags (None leaves one out), its output into ``log.txt`` of its out folder; what went wrong
    (with the log's tail), or None."""
    cmd = [args.bench_python, str(RUNNER), command, "--accelerator", args.accelerator]
    for key, value in options.items():
        cmd += [] if value is None else [f"--{key.replace('_', '-')}", str(value)]
    blas = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
    env = os.environ | dict.fromkeys(blas, str(options["threads"])) | {"PYTHONUNBUFFERED": "1"}
    log = Path(options.get("out") or options["out_dir"]) / "log.txt"
    with open(log, "w") as out:
        try:
            code = subprocess.run(
                cmd, cwd=REPO_ROOT, env=env, stdout=out, stderr=out, timeout=timeout
            )
            error = code.returncode and f"runner exit {code.returncode}"
        except subprocess.TimeoutExpired:
            error = f"runner killed after {timeout:.0f} s"
    return error and f"{error}; log tail: {log.read_text(errors='replace')[-1000:]}"


def ensure_pretrained(args: argparse.Namespace, table_path: Path, table_info: dict) -> dict:
    """The pre-trained chemprop model for these settings: reuse it, or train it (under a file
    lock, so shards sharing a work dir pre-train once); its record for the result."""
    options = PRETRAIN_OPTIONS | {k: getattr(args, k) for k in PRETRAIN_FLAGS}
    settings = {k: table_info[k] for k in ("data_hash", "tasks")} | {"seed": 0}
    budget = ("epochs", "patience", "batch_size", "max_minutes")
    settings |= {k: options[f"pretrain_{k}"] for k in budget}
    # max_molecules: the runner's subsample option is gone; its None keeps the models' ids
    settings |= {"max_molecules": None, "aggregation": options["aggregation"]}
    out = Path(args.work_dir) / "pretrain" / f"model_{_hash(settings)}"
    out.mkdir(parents=True, exist_ok=True)
    with open(out.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not ((out / "pretrain.json").is_file() and (out / "model.pt").is_file()):
            cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
            threads = args.pretrain_threads or cores or os.cpu_count()
            _log(f"pre-training chemprop ({args.accelerator}, {threads} threads) -> {out}")
            options |= {"table": table_path, "out": out, "threads": threads, "seed": 0}
            error = _run_runner(args, "pretrain", options)
            if error or not (out / "pretrain.json").is_file():
                raise RuntimeError(f"chemprop pre-training failed ({out}): {error or 'no record'}")
        with open(out / "model.pt", "rb") as model:
            sha = hashlib.file_digest(model, "sha256").hexdigest()[:16]
        record = json.loads((out / "pretrain.json").read_text())
    ids = {"id": _hash(settings), "model": str(out / "model.pt"), "model_sha256": sha}
    return ids | {"table": table_info} | record


def make_row(cell: tuple, method: str, result: dict, ts: TargetSplit, n_train: int) -> dict:
    """One result row, scored here with gate_core's metrics on the runner's test predictions,
    on the whole test set and on its seen / unseen parts (as task_addition scores its rows)."""
    y, pred = ts.y_test, np.asarray(result.get("predictions", []), dtype=np.float64)
    row = dict(zip(("target", "seed", "size"), cell)) | {"n_train": n_train, "n_test": len(y)}
    row |= {"test_std": ts.test_std, "task_type": ts.task_type, "method": method}
    row |= {"device": result.get("device"), "host": result.get("host")}
    if "error" in result or pred.shape != y.shape:
        error = f"{len(pred)} predictions for {len(y)} test molecules"
        return row | {"error": result.get("error") or error}
    row |= {k: v for k, v in cell_metrics(ts.task_type, y, pred, ts.test_std).items() if k != "n"}
    row["n_test_seen"] = int(ts.seen.sum())
    row["parts"] = part_metrics(ts.task_type, y, pred, ts.seen)
    info = "epochs_run best_epoch best_val_loss stopped_by_time max_epochs patience n_inner_train"
    info += " n_val torch_threads accelerator versions"
    row |= {k: result.get(k) for k in ("wall_seconds", "featurize_seconds", "process_seconds")}
    return row | {"info": {k: result.get(k) for k in info.split()}}


def reference_rows(paths: str | Path) -> tuple[list[dict], dict]:
    """The :data:`REFERENCE_METHODS` rows (with their seen / unseen parts) of the comma-separated
    task_addition JSONs (one per target group, say), which must share one backbone;
    ``info["files"]`` describes each, with its ``seen`` block."""
    keys = "target seed size n_train n_test test_std rmse mae r2 nrmse roc_auc pr_auc wall_seconds"
    keys = f"{keys} device task_type n_test_seen parts method".split()
    rows, files = [], []
    for path in map(Path, csv_list(str(paths))):
        files.append(info := {"path": str(path), "available": path.is_file()})
        if not path.is_file():
            info["note"] = "missing: no GATE/RF numbers to compare with"
            continue
        data = json.loads(path.read_text())
        info |= {"backbone_id": data.get("backbone_id"), "status": data.get("status")}
        info["settings"] = data.get("settings", {})
        info |= {"date_utc": (data.get("machine") or {}).get("date_utc"), "seen": data.get("seen")}
        ours = [r for r in data.get("rows", []) if r.get("method") in REFERENCE_METHODS]
        rows += [{k: r.get(k) for k in keys} for r in ours if "error" not in r]
    backbones = {f.get("backbone_id") for f in files if f["available"]}
    if len(backbones) > 1:
        raise ValueError(f"--reference files come from different backbones: {sorted(backbones)}")
    return rows, {"files": files, "backbone_id": backbones.pop() if backbones else None}


def reference_seen_keys(files: list[dict]) -> frozenset[str] | None:
    """The pre-training molecule keys the reference runs (``files`` of :func:`reference_rows`)
    marked test molecules seen with (their ``seen`` block: pre-training table and corpus files),
    so both sides split every test set into the same seen and unseen parts; None without one."""
    blocks = {json.dumps(f["seen"], sort_keys=True): f for f in files if f.get("seen")}
    if len(blocks) > 1:
        raise ValueError(f"--reference files marked seen molecules differently: {list(blocks)}")
    if not blocks:
        return None
    path, seen = (f := blocks.popitem()[1])["path"], f["seen"]
    table_path = Path(seen["pretraining_table"])
    if not table_path.is_file():  # recorded from another checkout: the same file in this one
        table_path = REPO_ROOT / "assets" / "data" / table_path.name
    meta = json.loads((DEFAULT_BACKBONE / "metadata.json").read_text())
    corpus = argparse.Namespace(corpus=",".join(seen["corpus"]), pretraining_table=str(table_path))
    keys = seen_molecule_keys(corpus, [t["name"] for t in meta["config"]["tasks"]])
    if len(keys) != seen["molecules"]:
        raise ValueError(f"{len(keys)} pre-training molecules here, {seen['molecules']} in {path}")
    return keys


def check_splits(chem_rows: list[dict], ref_rows: list[dict]) -> dict:
    """Same (target, seed) must mean the same test set on both sides: n_test and test-set std agree."""
    ours = {(r["target"], r["seed"]): r for r in chem_rows if num(r.get("test_std")) is not None}
    checked, mismatched = set(), set()
    for r in (r for r in ref_rows if (r["target"], r["seed"]) in ours):
        checked.add(key := (r["target"], r["seed"]))
        n, std = ours[key]["n_test"], ours[key]["test_std"]
        if num(r.get("test_std")) is not None and (
            n != r.get("n_test") or not math.isclose(std, r["test_std"], rel_tol=1e-9, abs_tol=1e-9)
        ):
            mismatched.add(key)
    return {"checked": len(checked), "mismatched": sorted(map(list, mismatched))}


def comparison(rows: list[dict], max_n: int = SUMMARY_MAX_N) -> dict:
    """task_addition's headline over the chemprop and the reference rows: GATE against the best
    of :data:`BASELINES` per target group, both groups together and test part, n ≤ ``max_n``."""
    ran = {r["method"] for r in rows}
    return headline(rows, [m for m in METHOD_ORDER if m in ran], max_n, BASELINES)


def _settings(pretrain_id: str | None) -> dict:
    """What a resumed or merged run must share. ``descriptor_range``: val and test descriptors
    clipped to the training fold's range (chemprop_runner); rows made before must not mix in."""
    return SPLIT | FIT_OPTIONS | {"pretrain_id": pretrain_id, "descriptor_range": "training fold"}


def _save(state: dict, results_dir: Path) -> tuple[Path, Path]:
    """Score against the reference rows (on the planned cells, mismatched test sets dropped) and
    write the JSON, Markdown and CSV."""
    ref_rows, ref_info = reference_rows(state["reference_path"])
    ref_info["split_check"] = check = check_splits(state["rows"], ref_rows)
    bad = {tuple(k) for k in check["mismatched"]}
    keep = {tuple(c) for c in state["grid"]["planned"] if tuple(c[:2]) not in bad}
    state["reference_rows"] = [r for r in ref_rows if (r["target"], r["seed"], r["size"]) in keep]
    rows = [*state["rows"], *state["reference_rows"]]
    state |= {"reference": ref_info, "comparison": comparison(rows)}
    if state.get("started") is not None:
        state["wall_seconds"] = state["started"]()
    payload = {k: v for k, v in state.items() if k not in ("started", "reference_path")}
    columns = "target seed size n_train n_test method rmse mae r2 nrmse roc_auc pr_auc test_std"
    columns += " wall_seconds featurize_seconds process_seconds device host error"
    csv = [{c: r.get(c) for c in columns.split()} for r in rows]
    return write_results(NAME, payload, markdown, results_dir, rows=csv)


def _fit_cell(args: argparse.Namespace, cell: tuple, ts: TargetSplit, ctx: dict) -> list[dict]:
    """One runner process for the chemprop methods of one cell not done yet; their rows."""
    left = [m for m in CHEMPROP_METHODS if (*cell, m) not in ctx["done"]]
    run_dir = Path(args.work_dir, "runs", ctx["id"], cell[0], f"seed{cell[1]}", f"n{cell[2]}")
    run_dir.mkdir(parents=True, exist_ok=True)
    for m in left:
        (run_dir / f"{m}.json").unlink(missing_ok=True)
    options = {"out_dir": run_dir, "data": export_cell(args.work_dir, ts, cell[2])}
    options |= {"methods": ",".join(left), "seed": cell[1], "threads": args.threads_per_job}
    options |= {"task_type": ts.task_type, "pretrained": ctx["model"]}
    minutes = 2 * FIT_OPTIONS["method_max_minutes"] * len(left) * FIT_OPTIONS["ensemble"] + 5
    elapsed = stopwatch()
    error, process_seconds = _run_runner(args, "fit", options, 60 * minutes), elapsed()
    rows = []
    for m in left:
        path = run_dir / f"{m}.json"
        result = read_result(path) or {"error": error or "no result file"}
        result["process_seconds"] = process_seconds
        rows.append(make_row(cell, m, result, ts, len(ts.train_index(cell[2]))))
    return rows


def run(args: argparse.Namespace) -> tuple[Path, Path]:
    """Pre-train once if needed, export every cell's split, run the runner on the cells with work
    left (``--jobs`` at a time; the result is rewritten after each), score and compare."""
    if args.merge:
        return merge(args)
    started = stopwatch()  # in the state; the saved JSON gets its reading as wall_seconds
    sizes, shard = parse_sizes(args.sizes), parse_shard(args.shard)  # checked before pre-training
    pretrain = ensure_pretrained(args, *export_pretrain_table(args.work_dir))
    settings, results_dir = _settings(pretrain["id"]), Path(args.results_dir)
    previous = (read_result(results_dir / f"{NAME}.json") or {}) if args.resume else {}
    if args.resume and previous.get("settings") != settings:
        _log("--resume: no readable result with these settings (and pre-trained model); afresh")
        previous = {}
    rows = [r for r in previous.get("rows", []) if "error" not in r]  # --resume: finished rows
    done = {(r["target"], r["seed"], r["size"], r["method"]) for r in rows}
    grid = {"targets": csv_list(args.targets), "sizes": sizes}
    grid["seeds"] = [int(s) for s in csv_list(args.seeds)]
    cells = [(t, seed, n) for seed in grid["seeds"] for n in sizes for t in grid["targets"]]
    todo = [c for c in cells if any((*c, m) not in done for m in CHEMPROP_METHODS)]
    grid |= {"methods": list(CHEMPROP_METHODS), "order": "seed, then size, then target"}
    grid |= {"shard": args.shard, "ran": [], "skipped": [], "not_started": []}
    mine = todo if shard is None else todo[shard[0] :: shard[1]]  # the N shards partition todo
    grid["planned"] = [list(c) for c in (cells if shard is None else mine)]
    grid["resumed"] = [list(c) for c in cells if c not in todo]
    state = {"results_name": NAME, "status": "running", "settings": settings}
    state |= {"started": started, "reference_path": args.reference, "grid": grid, "rows": rows}
    state |= {"pretrain": pretrain} | {k: getattr(args, k) for k in RUN_KEYS}
    if args.pretrain_only:
        state["status"] = "pre-training only"
        return _save(state, results_dir)
    # the exact splits, from gate_core's scaffold split (main venv), marked seen as the references
    seen_keys = reference_seen_keys(reference_rows(args.reference)[1]["files"])
    split = functools.cache(lambda t, seed: TargetSplit(t, seed, SPLIT["test_fraction"], seen_keys))
    queue = {}
    for t, seed, size in mine:
        if size != "all" and size > (ts := split(t, seed)).pool_size:
            reason = f"training pool has only {ts.pool_size} molecules"
            grid["skipped"].append({"cell": [t, seed, size], "reason": reason})
        else:
            queue[t, seed, size] = ts
    _log(f"{len(queue)} cells to run, {args.jobs} at a time, {args.threads_per_job} threads each")
    _save(state, results_dir)
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        ctx = {"id": _hash(settings), "model": pretrain["model"], "done": done}
        jobs = {pool.submit(_fit_cell, args, c, ts, ctx): c for c, ts in queue.items()}
        for job in as_completed(jobs):
            cell, new = jobs[job], job.result()  # rows of methods not done: none to replace
            state["rows"] += new
            grid["ran"].append(list(cell))
            _save(state, results_dir)
            scores = [r.get("error") or fmt(r.get("nrmse", r.get("roc_auc")), ".3f") for r in new]
            _log(f"{cell}: {'; '.join(s[:300] for s in scores)}")
    state["status"] = "complete"
    return _save(state, results_dir)


def merge(args: argparse.Namespace) -> tuple[Path, Path]:
    """Combine shard results (same settings, same pre-trained model) into ``<results-dir>``; no training."""
    results_dir = Path(args.results_dir)
    others = [Path(d) for d in csv_list(args.merge) if Path(d).resolve() != results_dir.resolve()]
    paths = [d / f"{NAME}.json" for d in others]  # a shard's file must exist
    if (own := results_dir / f"{NAME}.json").is_file():
        paths.insert(0, own)
    results = [json.loads(p.read_text()) for p in paths]
    if any(data["settings"] != results[0]["settings"] for data in results):
        raise ValueError("--merge: the results were made with other settings")
    pretrains = [data["pretrain"] for data in results if data.get("pretrain")]
    if len({p["model_sha256"] for p in pretrains}) > 1:
        raise ValueError("--merge: the shards fine-tuned different pre-trained models")
    rows, grid = merged_rows_and_grid(results)
    statuses = {data.get("status") for data in results}
    complete = statuses <= {"complete", "pre-training only", "merged"} and not grid["not_started"]
    status = "complete" if complete else "merged: " + "; ".join(sorted(map(str, statuses)))
    state = {k: results[0].get(k) for k in ("settings", *RUN_KEYS)} | {"rows": rows}
    state |= {"results_name": NAME, "status": status, "reference_path": args.reference}
    state |= {"grid": grid | {"shard": None, "merged_from": list(map(str, paths))}}
    state["pretrain"] = pretrains[0] if pretrains else None
    state["wall_seconds_per_shard"] = [data.get("wall_seconds") for data in results]
    _log(f"merged {len(results)} result files: {len(rows)} rows")
    return _save(state, results_dir)


# ---------------------------------------------------------------------------------- markdown


PRETRAIN_ROWS = (
    "label columns | train molecules | val molecules | test molecules left out | epochs run | "
    "max epochs | patience | batch | best epoch | s per epoch (median) | training s | device | "
    "val mean nRMSE over label columns | budget (min) | stopped by the budget, not converged | "
    "the backbone's epochs run | its max epochs"
)
PRETRAIN_KEYS = (
    "label_columns n_train n_val table.split.test_left_out epochs settings.epochs "
    "settings.patience settings.batch_size best_epoch median_epoch_seconds:.0f train_seconds:.0f "
    "device val_mean_nrmse:.3f settings.max_minutes:g stopped_by_time table.backbone_epochs_run "
    "table.backbone_config_epochs"
)


def _said_by_a_group(key: str, entry: dict, block: dict) -> bool:
    """An "all" entry over the targets of one group only (classification: drug-like alone)."""
    group, _, part = key.partition("/")
    return group == "all" and any(
        k != key and k.endswith(f"/{part}") and set(e["per_target"]) == set(entry["per_target"])
        for k, e in block.items()
    )


def headline_tables(comp: dict, sizes: list) -> list[str]:
    """Per task type: every method's mean over targets (95 % interval where the comparison
    stores one; PR-AUC alongside for classification) and the verdict on GATE ÷ the best
    baseline, per group and test part; then each group's targets (bold = best)."""
    out, goal = [], comp["goal_ratio"]
    counted = ", ".join(str(n) for n in sizes if isinstance(n, int) and n <= comp["max_n"])
    for task_type, metric in METRICS.items():
        higher, block = task_type == "classification", comp.get(task_type) or {}
        block = {k: e for k, e in block.items() if not _said_by_a_group(k, e, block)}
        methods = [m for m in METHOD_ORDER if any(m in e["mean"] for e in block.values())]
        rows = []
        for key, e in block.items():
            gate, v, ci = _comparison(e)
            means = {m: f"{x:.3f}" for m, x in e["mean"].items() if num(x) is not None}
            means |= {
                m: f"{means[m]} ({lo:.3f}–{hi:.3f})" for m, (lo, hi) in ci.items() if m in means
            }
            if higher:  # average precision: informative when positives are rare (ClinTox)
                pr = e.get("pr_auc_mean") or {}
                means = {m: f"{c}; PR {fmt(pr.get(m), '.3f')}" for m, c in means.items()}
            verdict = "—"
            if v.get("n_targets"):
                (lo, hi), r = v["ratio_ci95"], v["ratio_to_best"]
                verdict = f"{gate} λ: {r:.3f} ({lo:.3f}–{hi:.3f}) × {label(v['best_baseline'])}"
                verdict += f"; GATE wins {v['targets_won']} of {v['n_targets']} targets"
                met = "met" if r <= goal and hi < 1.0 else "not met"
                verdict += "" if higher else f"; goal {met}"
            rows.append([key, e["n_targets"], *(means.get(m, "") for m in methods), verdict])
        header = " | ".join(["targets / test part", "targets", *map(label, methods)])
        verdict = f"GATE ÷ best baseline (95 % CI); goal: ≤ {goal} with the upper end < 1.0"
        title = f"### {task_type.capitalize()}: mean {metric} over targets (n = {counted})"
        out += [f"{title}\n\n{table(f'{header} | {verdict}', rows)}"] if rows else []
        for key, e in block.items():
            if not (key.startswith("all/") or key.endswith("/seen")):
                ms = [m for m in methods if m in e["mean"]]
                per = bold_best(
                    pd.DataFrame(e["per_target"]).T[ms], best="max" if higher else "min"
                )
                head = " | ".join(["target", *map(label, ms)])
                out.append(
                    f"#### {key}: {metric} per target (mean over seeds; bold = best)\n\n"
                    + table(head, per.reset_index().values.tolist())
                )
    return out


def markdown(state: dict) -> str:
    """GATE vs every baseline with intervals, per group and test part, then provenance."""
    grid, ref, p = state["grid"], state.get("reference", {}), state.get("pretrain")
    check, rows = ref.get("split_check", {}), state["rows"]
    devices = sorted({f"{r['device']} on {r.get('host')}" for r in rows if r.get("device")})
    files = [
        f"`{Path(f['path']).name}` ({f.get('date_utc')})"
        if f.get("available")
        else f"`{f['path']}`: {f.get('note')}"
        for f in ref.get("files", [])
    ]
    text = [
        f"# chemprop v2 and CheMeleon-style baselines vs GATE (same scaffold splits)\n\n"
        f"Status: **{state['status']}**: {len(grid['ran']) + len(grid['resumed'])} cells ran or resumed (targets "
        f"{', '.join(grid['targets'])}; n ∈ {{{', '.join(map(str, grid['sizes']))}}}; seeds "
        f"{', '.join(map(str, grid['seeds']))}). chemprop ran on: {'; '.join(devices) or '—'}. "
        f"The verdict is on GATE uniform λ (the app's default), else learned λ, against the best of "
        f"{', '.join(map(label, BASELINES))}; *all* = both target groups, with the methods run on every target.",
        *(
            headline_tables(state["comparison"], grid["sizes"])
            or ["No complete cells yet: no comparison."]
        ),
        f"GATE, probe, fine-tuned backbone, RF and LightGBM rows: {'; '.join(files) or '—'} (backbone "
        f"`{ref.get('backbone_id')}`); test sets checked equal on {check.get('checked', 0)} (target, seed) pairs, "
        f"{len(check.get('mismatched', []))} mismatched. chemprop settings: "
        + ", ".join(f"{k} {v}" for k, v in state["settings"].items())
        + ".",
    ]
    if p:  # chemprop multi-task on the backbone's own table and scaffold split (CheMeleon-style)
        names = PRETRAIN_ROWS.split(" | ")
        values = cells(p | {"label_columns": len(p.get("tasks") or [])}, PRETRAIN_KEYS)
        text.append(table("pre-training (CheMeleon-style) | value", list(zip(names, values))))
    failed = [
        f"{r['target']}/{r['seed']}/{r['size']}/{r['method']}: {str(r['error'])[:200]}"
        for r in rows
        if "error" in r
    ]
    return "\n\n".join(text + (["Failed runs: " + "; ".join(failed)] if failed else [])) + "\n"
