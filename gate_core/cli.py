"""Command line: ``python -m gate_core <verb> …``. Verbs only parse arguments and call the library."""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

from gate_core import limits
from gate_core.paths import DEFAULT_BACKBONE
from gate_core.registries import (
    ALIGNMENT_FORMS,
    AUTO_MODEL,
    CORRECTIONS,
    DEFAULT_RATIO_MODE,
    MODELS,
    RATIO_MODES,
    TASK_TYPES,
)
from gate_core.transfer.options import ENSEMBLE, MAX_STEPS, PINNED_RATIO, TEST_FRACTION


class CLIError(Exception):
    """A user-facing error: printed as one line, exit status 2, no traceback."""


def _cmd_pretrain(args: argparse.Namespace) -> None:
    from gate_core.training.objective import LossWeights
    from gate_core.training.pretrain import PretrainConfig, pretrain

    config = (
        PretrainConfig.from_dict(json.loads(Path(args.config).read_text()))
        if args.config
        else PretrainConfig()
    )
    overrides = {
        k: v
        for k, v in {
            "table": args.table,
            "epochs": args.epochs,
            "max_molecules": args.max_molecules,
            "seed": args.seed,
            "device": args.device,
            "threads": args.threads,
            "max_minutes": args.max_minutes,
            "alignment_form": args.alignment_form,
            "batch_size": args.batch_size,
            "corpus": args.corpus,
            "graph_store": args.graph_store,
            "loader_workers": args.loader_workers,
        }.items()
        if v is not None
    }
    for key, value in overrides.items():
        setattr(config, key, value)
    if args.tasks:
        config.tasks = args.tasks.split(",")
    if args.no_alignment:
        config.weights = LossWeights(auto=0, cons=0, map=0, dis=0)
    if args.no_descriptors:
        config.descriptors = False
    if args.families:
        config.families = args.families.split(",")
    if args.no_corpus:
        config.corpus, config.families = None, None
    if config.corpus and not (Path(config.corpus) / "manifest.json").is_file():
        raise CLIError(f"corpus not found: {config.corpus} (build it with `make data`)")
    if not Path(config.table).is_file():
        raise CLIError(
            f"table not found: {config.table} (build it with `python -m gate_core.data.builders`)"
        )
    result = pretrain(config, out_dir=args.out, log_path=args.log, progress=not args.quiet)
    keys = (
        "n_molecules",
        "n_labels",
        "best_epoch",
        "epochs_run",
        "stopped_by",
        "wall_seconds",
        "test_metrics",
        "family_test_metrics",
    )
    print(json.dumps({k: getattr(result, k) for k in keys}, indent=1))


def _cmd_evaluate(args: argparse.Namespace) -> None:
    from gate_core.data.table import MultiTaskTable
    from gate_core.models.checkpoint import load_checkpoint
    from gate_core.training.backbone_split import backbone_split, resolve_table_path
    from gate_core.training.evaluate import evaluate_table

    model, meta = load_checkpoint(args.checkpoint)
    table_path = args.table or meta.get("pretraining", {}).get("config", {}).get("table")
    if not table_path or not Path(resolve_table_path(table_path)).is_file():
        raise CLIError(f"table not found: {table_path}")
    table_path = resolve_table_path(table_path)
    if args.subset == "all":
        table = MultiTaskTable.read_long(table_path, model.property_names)
    else:
        # the run's own split, rebuilt where its data hash and fold sizes are checked
        table, train, val, test = backbone_split(meta, model.property_names, table_path)
        table = table.subset({"train": train, "val": val, "test": test}[args.subset])
    metrics = evaluate_table(model, table)
    if args.out:
        Path(args.out).write_text(json.dumps(metrics, indent=1))
    width = max(len(t) for t in metrics) if metrics else 4
    print(f"{'task':<{width}}  {'n':>6}  {'rmse':>10}  {'mae':>10}  {'r2':>6}")
    for task, m in metrics.items():
        print(
            f"{task:<{width}}  {m['n']:>6}  {m.get('rmse', float('nan')):>10.4g}  {m.get('mae', float('nan')):>10.4g}  {m.get('r2', float('nan')):>6.3f}"
        )


def _studio(args: argparse.Namespace):
    from gate_core.api import GateStudio

    return GateStudio(
        args.backbone,
        args.data_dir,
        args.device,
        relational_path=getattr(args, "relational_head", None),
    )


def _parse_pins(items: list[str]) -> dict[str, float]:
    pins = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            pins[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep:
            raise CLIError(f"--pin expects SOURCE=λ (e.g. Tb_K=0.5), got {item!r}")
    return pins


def _cmd_add_task(args: argparse.Namespace) -> None:
    from tqdm.auto import tqdm

    from gate_core.api import config_from_options
    from gate_core.data.columns import name_column
    from gate_core.data.io import read_table
    from gate_core.transfer.upload import task_name_and_unit

    frame = read_table(args.data, sheet=args.sheet)
    for col in (args.smiles_col, args.target_col):
        if col not in frame.columns:
            raise CLIError(
                f"column '{col}' not found in {args.data}; it has: {', '.join(map(str, frame.columns))}"
            )
    name, unit = task_name_and_unit(args.target_col, str(args.data))
    derived = []
    if args.name is None:
        args.name = name
        derived.append(f"task name {name!r}")
    if args.unit is None:
        args.unit = unit
        derived += [f"unit {unit!r}"] if unit else []
    if derived:
        print(f"{', '.join(derived)} (from column {args.target_col!r})", file=sys.stderr)
    config = config_from_options(  # refuses a bad option before the backbone loads
        {
            "ratios": args.ratios,
            "pinned": _parse_pins(args.pin),
            "excluded": args.exclude,
            "ensemble": args.ensemble,
            "max_steps": args.max_steps,
            "task_type": args.task_type,
            "test_fraction": args.test_fraction,
            "train_baseline": True,
            "seed": args.seed,
        }
    )
    studio = _studio(args)
    bar = tqdm(total=100, desc=f"adding {args.name}", unit="%", disable=args.quiet)

    def progress(event: dict) -> None:
        bar.n = int(100 * event.get("fraction", 0.0))
        bar.set_postfix_str(event.get("message", ""))
        bar.refresh()

    try:
        record, result = studio.add_task(
            frame,
            args.smiles_col,
            args.target_col,
            args.name,
            args.unit,
            args.description,
            config,
            args.replace,
            progress,
            args.model,
            # as the page: the column naming the molecules is kept with the dataset (maps show it)
            name_column=name_column(frame, args.smiles_col, args.target_col),
        )
    finally:
        bar.close()
    for row in result.invalid:
        print(f"row {row.row}: skipped ({row.reason})", file=sys.stderr)
    metrics = record.metrics
    level = round(100 * metrics["interval_level"])
    print(
        json.dumps(
            {
                "task": record.name,
                "type": record.task_type,
                "sizes": record.sizes,
                "out_of_fold_metrics": metrics["comparison"],
                "recommended": metrics["recommended"],
                "model": metrics["model"],
                "interval": f"{level} % prediction interval: columns <task>_lo{level} / <task>_hi{level} of `predict`",
                "test_metrics": result.test_metrics,
                "baseline_test_metrics": result.baseline_test_metrics,
                "timings": result.timings,
            },
            indent=1,
        )
    )
    if metrics["model"] != metrics["recommended"]:
        print(
            f"note: '{metrics['recommended']}' scored best out of fold; switch with `python -m gate_core choose-model {record.name} {metrics['recommended']}`",
            file=sys.stderr,
        )


def _cmd_choose_model(args: argparse.Namespace) -> None:
    record = _studio(args).choose_model(args.name, args.model)
    oof = (record.metrics or {}).get("oof") or {}
    score = ", ".join(f"{k}={v:.4g}" for k, v in oof.items() if k != "n")
    print(
        f"{record.name} now predicts with '{args.model}'"
        + (f" (out of fold: {score})" if score else "")
    )


def _task_names(studio) -> list[str]:
    """Every task a prediction can ask for: the backbone's properties, then the added tasks."""
    return [*studio.backbone.property_names, *(r.name for r in studio.added_tasks())]


def _predicted(tasks: list[str] | None, names: list[str], fixed: dict[str, str]) -> list[str]:
    """The tasks being predicted: ``--tasks``, else every task not given by ``--known``."""
    return tasks or [t for t in names if t not in fixed]


def _say_known_columns(columns: list[str], data: str, fixed: dict[str, str]) -> None:
    """Refuse a task given both by ``--known`` and by a column; say which columns are used."""
    both = [c for c in columns if c in fixed]
    if both:
        raise CLIError(
            f"{', '.join(both)} is given both by --known and by a column of {data}; give it once"
        )
    if columns:
        print(f"using known values from column(s) {', '.join(columns)} of {data}", file=sys.stderr)


def _say_comparison(task: str, metrics: dict[str, float] | str, data: str) -> None:
    """One stderr line: a predicted task against the file's column of the same name.

    ``metrics``: a comparison's (:meth:`~gate_core.predictions.Comparison.metrics`; its keys
    tell a classification task from a regression one), or why the task was not compared.
    """
    head = f"{task} predicted vs column {task} of {data}: "
    if isinstance(metrics, str):
        line = f"not compared: {metrics}"
    elif (n := int(metrics["n"])) == 0:
        line = "no row has both numbers"
    elif "roc_auc" in metrics:
        auc = {
            k: "n/a (one class only)" if metrics[k] != metrics[k] else f"{metrics[k]:.3f}"
            for k in ("roc_auc", "pr_auc")
        }
        line = (
            f"{n} rows with both numbers, ROC-AUC {auc['roc_auc']}, PR-AUC {auc['pr_auc']}, "
            f"accuracy {metrics['accuracy']:.3f}"
        )
    else:
        line = (
            f"{n} rows with both numbers, RMSE {metrics['rmse']:.4g}, MAE {metrics['mae']:.4g}, "
            f"R² {metrics['r2']:.3f}"
        )
    print(head + line, file=sys.stderr)


def _scored(result) -> dict[str, float] | str:
    """A comparison's metrics, or why it has none (a classification column not of 0/1)."""
    try:
        return result.metrics()
    except ValueError as exc:
        return str(exc)


def _skipped(studio, task: str) -> str:
    """Why a compared task has no prediction: an added task that failed to load (the
    prediction skipped it with a warning; the comparison line says so too, not "no row")."""
    from gate_core.registry import RegistryError
    from gate_core.transfer.added_task import AddedTaskError

    try:
        studio.load_task(task)
    except (AddedTaskError, RegistryError) as exc:
        return f"the task was skipped ({exc})"
    return "the task was skipped"


def _cmd_predict(args: argparse.Namespace) -> None:
    import warnings

    from gate_core.data.io import detect_smiles_column, read_table
    from gate_core.predictions import compare, with_input_columns
    from gate_core.relational.known import (
        known_from_columns,
        known_value_columns,
        parse_known_text,
        task_columns,
    )

    if args.data and args.out and not args.smiles:
        return _predict_stream(args)
    if args.shard:
        raise CLIError("--shard needs --data and --out (each shard writes its own file)")
    if args.smiles:
        smiles = list(args.smiles)
        limits.check_typed_entries(len(smiles))
        frame = None
    else:
        if not args.data:
            raise CLIError("give --data FILE or --smiles SMILES ...")
        frame = read_table(args.data, sheet=args.sheet)
        column = args.smiles_col or detect_smiles_column(frame)
        if column is None or column not in frame.columns:
            raise CLIError(f"no SMILES column found in {args.data}; name it with --smiles-col")
        smiles = frame[column].tolist()
    fixed = parse_known_text(args.known)
    studio = _studio(args)
    tasks = [t for t in args.tasks.split(",") if t] if args.tasks else None
    known = None
    compared: list[str] = []
    if frame is not None:
        # a column named like a task not predicted holds that row's measured value of it
        # (blank: not measured); one named like a predicted task is compared with the prediction
        names = _task_names(studio)
        predicted = _predicted(tasks, names, fixed)
        columns = known_value_columns(frame, column, names, predicted)
        compared = task_columns(frame.columns, column, names, predicted).compared
        _say_known_columns(columns, args.data, fixed)
        if columns:
            known = [{**fixed, **row} for row in known_from_columns(frame, columns)]
    if known is None and fixed:
        known = fixed
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        predictions = studio.predict(
            smiles, tasks, known=known, use_table_labels=args.use_table_labels
        )
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    types = studio.task_types()
    for task in compared:
        if task not in predictions.columns:  # an added task that failed to load
            _say_comparison(task, _skipped(studio, task), args.data)
        else:
            classification = types.get(task) == "classification"
            result = compare(predictions, frame, task, task, classification)
            _say_comparison(task, _scored(result), args.data)
    if args.out:
        from gate_core.streaming import write_frame

        write_frame(predictions, args.out)
        n_bad = int(predictions["error"].notna().sum())
        print(
            f"wrote {len(predictions)} rows to {args.out}"
            + (f" ({n_bad} invalid, kept with their reason in 'error')" if n_bad else "")
        )
    elif frame is not None:  # the file's own columns first, as a streamed run writes them
        print(with_input_columns(predictions, frame, column).to_string(index=False))
    else:
        print(predictions.to_string(index=False))


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[None]:
    """SIGTERM leaves by an exception while the block runs: a scheduler stops a job so (Slurm
    at its time limit), and the exception removes the half-written ``OUT.part`` and shuts the
    workers down, as any error does. The previous handler is restored after."""

    def leave(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, leave)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _predict_stream(args: argparse.Namespace) -> None:
    """``--data`` with ``--out``: read, featurise (worker processes), predict and write chunk by
    chunk, so a file of any size takes constant memory (:mod:`gate_core.streaming`)."""
    from gate_core.data.sources import Shard, open_source
    from gate_core.relational.known import parse_known_text, task_columns
    from gate_core.streaming import DEFAULT_CHUNK_ROWS, predict_file

    shard = Shard.parse(args.shard) if args.shard else Shard()
    source = open_source(args.data, args.smiles_col, args.sheet)
    fixed = parse_known_text(args.known)
    studio = _studio(args)
    tasks = [t for t in args.tasks.split(",") if t] if args.tasks else None
    # as the in-memory path (_cmd_predict): known values from columns named like a task not
    # predicted (the empty ones left out), a comparison for those named like a predicted task
    names = _task_names(studio)
    chosen = task_columns(
        source.names, source.smiles_column, names, _predicted(tasks, names, fixed)
    )
    columns = source.filled(chosen.known)
    _say_known_columns(columns, args.data, fixed)
    with _sigterm_raises():
        summary = predict_file(
            studio,
            source,
            args.out,
            tasks=tasks,
            known=fixed,
            known_columns=columns,
            compared=chosen.compared,
            use_table_labels=args.use_table_labels,
            chunk_rows=DEFAULT_CHUNK_ROWS if args.chunk_rows is None else args.chunk_rows,
            workers=args.workers,
            shard=shard,
            log=lambda line: print(line, file=sys.stderr),
        )
    for message in summary.warnings:
        print(f"warning: {message}", file=sys.stderr)
    for task, running in summary.comparisons.items():
        scored = _skipped(studio, task) if task in summary.skipped else _scored(running)
        _say_comparison(task, scored, args.data)
    n_bad = summary.invalid
    print(
        f"wrote {summary.rows} rows to {args.out}"
        + (f" ({n_bad} invalid, kept with their reason in 'error')" if n_bad else "")
    )


def _cmd_pretrain_relational(args: argparse.Namespace) -> None:
    from gate_core.relational.train import RelationalTrainConfig, pretrain_relational

    config = RelationalTrainConfig()
    for key in (
        "epochs",
        "max_minutes",
        "seed",
        "threads",
        "hidden",
        "layers",
        "max_molecules",
        "batch_size",
        "correction",
    ):
        value = getattr(args, key)
        if value is not None:
            setattr(config, key, value)
    out = args.out or str(Path(args.backbone).with_name(Path(args.backbone).name + "_relational"))
    result = pretrain_relational(args.backbone, out, config, progress=not args.quiet)
    val = result.val or {}
    print(
        json.dumps(
            {
                "out": out,
                "backbone_id": result.backbone_id,
                "best_epoch": result.best_epoch,
                "epochs_run": result.epochs_run,
                "stopped_by": result.stopped_by,
                "val_hidden_mse": {
                    "relational": val.get("val_relational_mse"),
                    "plain": val.get("val_plain_mse"),
                },
                "wall_seconds": result.wall_seconds,
            },
            indent=1,
        )
    )


def _cmd_list(args: argparse.Namespace) -> None:
    studio = _studio(args)
    print(
        "backbone properties: "
        + ", ".join(f"{t.name} ({t.unit})" if t.unit else t.name for t in studio.source_tasks)
    )
    tasks = studio.added_tasks()
    if not tasks:
        print("no added tasks yet (python -m gate_core add-task --help)")
    for record in tasks:
        test = (
            (record.metrics or {}).get("test") or (record.metrics or {}).get("oof") or {}
        )  # held-out test set, else out of fold
        score = " ".join(
            f"{k}={v:.4g}"
            for k in ("rmse", "r2", "roc_auc")
            if isinstance(v := test.get(k), (int, float))
        )
        print(f"{record.name}\t{record.task_type}\t{record.unit}\t{record.status}\t{score}")
    for name, problem in studio.unusable_tasks().items():
        print(f"{name}\tunusable: {problem} (remove it with `python -m gate_core remove {name}`)")


def _cmd_show(args: argparse.Namespace) -> None:
    studio = _studio(args)
    record = studio.registry.get_task(args.name)
    print(json.dumps(record.describe(), indent=1, default=str))


def _cmd_remove(args: argparse.Namespace) -> None:
    _studio(args).registry.remove_task(args.name)
    print(f"removed {args.name}")


def _cmd_export(args: argparse.Namespace) -> None:
    _studio(args).export_task(args.name, args.out)
    print(f"exported {args.name} to {args.out} (model card inside: model_card.md, model_card.html)")


def _cmd_card(args: argparse.Namespace) -> None:
    card = _studio(args).model_card(args.name)
    text = card.html() if args.html else card.markdown()
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"wrote the model card of {args.name} to {args.out}")
    else:
        print(text)


def _cmd_import(args: argparse.Namespace) -> None:
    studio = _studio(args)
    record = studio.import_task(args.file, name=args.name, replace=args.replace)
    print(f"imported {record.name}")


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--backbone", default=str(DEFAULT_BACKBONE), help="backbone checkpoint directory"
    )
    p.add_argument("--data-dir", help="registry directory (default $GATE_DATA_DIR or ./gate_data)")
    p.add_argument("--device", help="cpu | cuda (default: cuda when available)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m gate_core",
        description="GATE Studio: multi-task GATE models for small molecular datasets.",
    )
    verbs = parser.add_subparsers(dest="verb", required=True)

    p = verbs.add_parser(
        "pretrain", help="pre-train a multi-task GATE backbone on a sparse label table"
    )
    p.add_argument(
        "--config", help="JSON file with PretrainConfig fields (e.g. assets/backbone_config.json)"
    )
    p.add_argument(
        "--table",
        help="long-format table (smiles,task,value[,source]); default: the chemicals table",
    )
    p.add_argument(
        "--tasks", help="comma-separated task names (default: the 16 pre-training properties)"
    )
    p.add_argument("--out", required=True, help="checkpoint directory to write")
    p.add_argument("--log", help="append one JSON line per epoch with every loss term to this file")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--max-molecules", type=int, help="deterministic subsample, for quick runs")
    p.add_argument(
        "--max-minutes", type=float, help="stop after this many minutes (best epoch kept)"
    )
    p.add_argument("--seed", type=int)
    p.add_argument("--device", help="cpu | cuda (default: cuda when available)")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument(
        "--alignment-form",
        choices=ALIGNMENT_FORMS.names,
        help="scalable (mean chart) or exact pairwise alignment",
    )
    p.add_argument(
        "--no-alignment", action="store_true", help="plain multi-task baseline: l_reg only"
    )
    p.add_argument(
        "--no-descriptors",
        action="store_true",
        help="graph encoder only, no RDKit descriptors in h",
    )
    p.add_argument(
        "--corpus",
        help="backbone-v2 corpus folder: its descriptor families become computed source tasks",
    )
    p.add_argument(
        "--families", help="comma-separated descriptor families of the corpus (default: all)"
    )
    p.add_argument(
        "--no-corpus", action="store_true", help="measured tasks only (a v1-style backbone)"
    )
    p.add_argument(
        "--graph-store",
        help="memory-mapped featurised graphs (built on first use): large corpora, GPU runs",
    )
    p.add_argument(
        "--loader-workers",
        type=int,
        help="data-loader worker processes (GPU runs; also featurise the graph store)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_pretrain)

    p = verbs.add_parser("evaluate", help="per-task RMSE/MAE/R² of a checkpoint on a table")
    p.add_argument("--checkpoint", default=str(DEFAULT_BACKBONE))
    p.add_argument(
        "--table", help="long-format table (default: the checkpoint's pre-training table)"
    )
    p.add_argument(
        "--subset",
        choices=["all", "train", "val", "test"],
        default="test",
        help="split of the checkpoint's own run",
    )
    p.add_argument("--out", help="write the metrics JSON here")
    p.set_defaults(func=_cmd_evaluate)

    p = verbs.add_parser(
        "add-task", help="add a new task from a table of SMILES + values (backbone stays frozen)"
    )
    p.add_argument(
        "--data",
        required=True,
        help="CSV/TSV/Excel/SDF file; a column headed like a name or an ID (name, compound, ID, CAS, …) is kept "
        "with the task's dataset to name its molecules, as the app does",
    )
    p.add_argument("--sheet", help="Excel sheet name (default: the first sheet)")
    p.add_argument("--smiles-col", required=True)
    p.add_argument("--target-col", required=True)
    p.add_argument(
        "--name",
        help="task name (letters, digits, _ . -); default: from the target column's header, as the "
        "app does ('logS (mol/L)' → logS; a header like 'value' → the file's name)",
    )
    p.add_argument("--unit", help="default: the unit in the target column's header, e.g. mol/L")
    p.add_argument("--description", default="")
    p.add_argument(
        "--task-type", choices=TASK_TYPES.names, help="default: detected from the labels"
    )
    p.add_argument(
        "--ratios",
        choices=RATIO_MODES.names,
        default=DEFAULT_RATIO_MODE,
        help=f"transfer-ratio mode (default {DEFAULT_RATIO_MODE}: learned ratios did not beat it on the benchmark)",
    )
    p.add_argument(
        "--pin",
        action="append",
        default=[],
        metavar="SRC=λ",
        help=f"fix one source's ratio, λ from {PINNED_RATIO.low:g} to {PINNED_RATIO.high:g} (repeatable)",
    )
    p.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="SRC",
        help="exclude a source (repeatable)",
    )
    p.add_argument(
        "--ensemble",
        type=int,
        default=ENSEMBLE.default,
        help=f"ensemble size K, {ENSEMBLE.low}–{ENSEMBLE.high} (default {ENSEMBLE.default})",
    )
    p.add_argument(
        "--max-steps",
        type=int,
        default=MAX_STEPS.default,
        help=f"training steps per member at most, {MAX_STEPS.low}–{MAX_STEPS.high} (default {MAX_STEPS.default})",
    )
    p.add_argument(
        "--test-fraction",
        type=float,
        default=TEST_FRACTION.default,
        help=f"scaffold fraction held out as a separate test set, {TEST_FRACTION.low:g}–{TEST_FRACTION.high:g} (default {TEST_FRACTION.default:g}: every molecule trains the model; quality is estimated out of fold)",
    )
    p.add_argument(
        "--model",
        choices=[AUTO_MODEL, *MODELS.names],
        default=AUTO_MODEL,
        help=f"which model answers predictions: {AUTO_MODEL} (best out of fold), "
        + ", ".join(f"{name} ({label})" for name, label in MODELS.items()),
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--replace", action="store_true", help="replace an existing task of that name")
    p.add_argument("--quiet", action="store_true")
    _add_common(p)
    p.set_defaults(func=_cmd_add_task)

    p = verbs.add_parser("predict", help="predict backbone and added tasks for SMILES")
    p.add_argument(
        "--data",
        help="file with a SMILES column; its other columns are kept beside the predictions. A column named exactly "
        "like a task not being predicted gives each row's known value of that task (blank: not measured; relational "
        "head); one named like a predicted task is compared with the prediction (rows with both numbers, RMSE, MAE, "
        "R² on stderr; ROC-AUC, PR-AUC, accuracy for a classification task, whose column holds 0/1)",
    )
    p.add_argument("--smiles-col", help="default: detected")
    p.add_argument("--sheet", help="Excel sheet name of --data (default: the first sheet)")
    p.add_argument("--smiles", nargs="+", help="SMILES given directly instead of --data")
    p.add_argument("--tasks", help="comma-separated task names (default: all)")
    p.add_argument(
        "--out",
        help="file to write: CSV, or Parquet when it ends in .parquet (one row per input row; invalid rows kept with "
        "an error). With --data the file (CSV, TSV, Parquet, SDF; Excel read whole) is streamed in chunks, read and "
        "written: any size, constant memory",
    )
    p.add_argument(
        "--known",
        metavar="TASK=VALUE,...",
        help="measured values applied to every row (e.g. Tb_K=351.4,logKow=-0.31), of tasks not being predicted "
        "(without --tasks every other task is predicted); columns of --data named like a task not predicted give "
        "per-row values. Adds <task>_relational columns (relational head)",
    )
    p.add_argument(
        "--use-table-labels",
        action="store_true",
        help="a molecule found in the backbone's table also uses its recorded labels as known values (listed in known_from_table)",
    )
    p.add_argument(
        "--relational-head", help="relational head directory (default: <backbone>_relational)"
    )
    p.add_argument(
        "--shard",
        metavar="K/N",
        help="with --data and --out: predict only shard K of N (0 <= K < N), whole chunks of rows; the N outputs' rows, "
        "concatenated in order, are those of one run (same --chunk-rows)",
    )
    p.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="with --data and --out: featurisation processes beside the model's (default: one per core, $GATE_WORKERS; 0: none)",
    )
    p.add_argument(
        "--chunk-rows",
        type=int,
        metavar="N",
        help="with --data and --out: rows read, featurised and written at a time "
        "(default: gate_core.streaming.DEFAULT_CHUNK_ROWS)",
    )
    _add_common(p)
    p.set_defaults(func=_cmd_predict)

    p = verbs.add_parser(
        "pretrain-relational",
        help="train the relational head (known labels → other labels) on the backbone's own table",
    )
    p.add_argument(
        "--backbone", default=str(DEFAULT_BACKBONE), help="backbone checkpoint directory"
    )
    p.add_argument(
        "--out",
        help="directory to write (default: <backbone>_relational, e.g. assets/backbone_relational)",
    )
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument(
        "--max-minutes",
        type=float,
        help="stop after this many minutes (best epoch kept; default 4)",
    )
    p.add_argument(
        "--max-molecules",
        type=int,
        help="deterministic subsample of the training fold, for quick runs",
    )
    p.add_argument("--hidden", type=int, help="node state size (default 64)")
    p.add_argument("--layers", type=int, help="message-passing layers (default 2)")
    p.add_argument(
        "--correction",
        choices=CORRECTIONS.names,
        help="how known values may move predictions (default odd: in the direction of the surprise)",
    )
    p.add_argument("--seed", type=int)
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    p.set_defaults(func=_cmd_pretrain_relational)

    p = verbs.add_parser("list", help="list backbone properties and added tasks")
    _add_common(p)
    p.set_defaults(func=_cmd_list)
    for verb, helptext, fn in (
        ("show", "show one added task", _cmd_show),
        ("remove", "remove an added task", _cmd_remove),
    ):
        p = verbs.add_parser(verb, help=helptext)
        p.add_argument("name")
        _add_common(p)
        p.set_defaults(func=fn)
    p = verbs.add_parser(
        "choose-model",
        help="choose which model answers an added task's predictions (compare them with `show`: metrics.comparison)",
    )
    p.add_argument("name")
    p.add_argument("model", choices=MODELS.names)
    _add_common(p)
    p.set_defaults(func=_cmd_choose_model)
    p = verbs.add_parser("export", help="export an added task to one file (its model card inside)")
    p.add_argument("name")
    p.add_argument("--out", required=True)
    _add_common(p)
    p.set_defaults(func=_cmd_export)
    p = verbs.add_parser(
        "card",
        help="an added task's model card: data, split, quality with intervals, domain, ratios, versions",
    )
    p.add_argument("name")
    p.add_argument("--html", action="store_true", help="HTML instead of Markdown")
    p.add_argument("--out", help="write to this file instead of printing")
    _add_common(p)
    p.set_defaults(func=_cmd_card)
    p = verbs.add_parser(
        "import", help="import a task file exported elsewhere (validated against this backbone)"
    )
    p.add_argument("file")
    p.add_argument("--name", help="register under another name")
    p.add_argument("--replace", action="store_true")
    _add_common(p)
    p.set_defaults(func=_cmd_import)
    return parser


def main(argv: list[str] | None = None) -> int:
    from gate_core.models.checkpoint import CheckpointError
    from gate_core.registry import RegistryError
    from gate_core.relational.io import RelationalHeadError
    from gate_core.threads import configure_threads
    from gate_core.transfer.added_task import AddedTaskError

    args = build_parser().parse_args(argv)
    configure_threads()  # several GATE processes share the machine instead of oversubscribing it
    try:
        args.func(args)
    except (
        CLIError,
        CheckpointError,
        RegistryError,
        AddedTaskError,
        RelationalHeadError,
        FileNotFoundError,
        ValueError,
    ) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
