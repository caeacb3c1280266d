"""Command line: ``python -m gate_core <verb> …``. Verbs only parse arguments and call the library."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

DEFAULT_BACKBONE = Path(__file__).resolve().parent.parent / "assets" / "backbone"


class CLIError(Exception):
    """A user-facing error: printed as one line, exit status 2, no traceback."""


def _cmd_pretrain(args: argparse.Namespace) -> None:
    from gate_core.training.objective import LossWeights
    from gate_core.training.pretrain import PretrainConfig, pretrain

    config = PretrainConfig.from_dict(json.loads(Path(args.config).read_text())) if args.config else PretrainConfig()
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
    if not Path(config.table).is_file():
        raise CLIError(f"table not found: {config.table} (build it with `python -m gate_core.data.builders`)")
    summary = pretrain(config, out_dir=args.out, log_path=args.log, progress=not args.quiet)
    summary.pop("model")
    summary.pop("history")
    print(json.dumps({k: summary[k] for k in ("n_molecules", "n_labels", "best_epoch", "epochs_run", "wall_seconds", "test_metrics")}, indent=1))


def _cmd_evaluate(args: argparse.Namespace) -> None:
    from gate_core.data.splits import split
    from gate_core.data.table import MultiTaskTable
    from gate_core.models.checkpoint import load_checkpoint
    from gate_core.training.evaluate import evaluate_table
    from gate_core.training.pretrain import PretrainConfig, load_table

    model, meta = load_checkpoint(args.checkpoint)
    table_path = args.table or meta.get("pretraining", {}).get("config", {}).get("table")
    if not table_path or not Path(table_path).is_file():
        raise CLIError(f"table not found: {table_path}")
    if args.subset == "all":
        table = MultiTaskTable.read_long(table_path, model.task_names)
    else:
        # rebuild the run's own table (its subsample included) so its split is the same split
        cfg = meta.get("pretraining", {}).get("config", {})
        config = PretrainConfig.from_dict({**cfg, "table": table_path, "tasks": model.task_names})
        table = load_table(config)
        train, val, test = split(table.smiles, config.split, config.split_fractions, config.seed)
        table = table.subset({"train": train, "val": val, "test": test}[args.subset])
    metrics = evaluate_table(model, table)
    if args.out:
        Path(args.out).write_text(json.dumps(metrics, indent=1))
    width = max(len(t) for t in metrics) if metrics else 4
    print(f"{'task':<{width}}  {'n':>6}  {'rmse':>10}  {'mae':>10}  {'r2':>6}")
    for task, m in metrics.items():
        print(f"{task:<{width}}  {m['n']:>6}  {m.get('rmse', float('nan')):>10.4g}  {m.get('mae', float('nan')):>10.4g}  {m.get('r2', float('nan')):>6.3f}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m gate_core", description="GATE Studio: multi-task GATE models for small molecular datasets.")
    verbs = parser.add_subparsers(dest="verb", required=True)

    p = verbs.add_parser("pretrain", help="pre-train a multi-task GATE backbone on a sparse label table")
    p.add_argument("--config", help="JSON file with PretrainConfig fields (e.g. assets/backbone_config.json)")
    p.add_argument("--table", help="long-format table (smiles,task,value[,source]); default: the chemicals table")
    p.add_argument("--tasks", help="comma-separated task names (default: the 16 pre-training properties)")
    p.add_argument("--out", required=True, help="checkpoint directory to write")
    p.add_argument("--log", help="append one JSON line per epoch with every loss term to this file")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--max-molecules", type=int, help="deterministic subsample, for quick runs")
    p.add_argument("--max-minutes", type=float, help="stop after this many minutes (best epoch kept)")
    p.add_argument("--seed", type=int)
    p.add_argument("--device", help="cpu | cuda (default: cuda when available)")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--alignment-form", choices=["mean", "pairwise"], help="scalable (mean chart) or exact pairwise alignment")
    p.add_argument("--no-alignment", action="store_true", help="plain multi-task baseline: l_reg only")
    p.add_argument("--no-descriptors", action="store_true", help="graph encoder only, no RDKit descriptors in h")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_pretrain)

    p = verbs.add_parser("evaluate", help="per-task RMSE/MAE/R² of a checkpoint on a table")
    p.add_argument("--checkpoint", default=str(DEFAULT_BACKBONE))
    p.add_argument("--table", help="long-format table (default: the checkpoint's pre-training table)")
    p.add_argument("--subset", choices=["all", "train", "val", "test"], default="test", help="split of the checkpoint's own run")
    p.add_argument("--out", help="write the metrics JSON here")
    p.set_defaults(func=_cmd_evaluate)
    return parser


def main(argv: list[str] | None = None) -> int:
    from gate_core.models.checkpoint import CheckpointError

    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (CLIError, CheckpointError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
