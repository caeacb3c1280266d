"""``python -m bench <name> [options]`` runs one benchmark; ``python -m bench all`` the foundation set.

Each benchmark module defines ``DESCRIPTION``, ``add_arguments(parser)``, ``run(args)`` and
``markdown(result) -> str``, its result's one renderer; ``run`` writes
``<results-dir>/<name>.json`` and ``.md`` (:func:`bench.common.write_results`) and returns their
paths. A new benchmark registers here.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from bench.common import RESULTS_DIR, stopwatch

#: name -> module; ``report`` runs nothing: every <name>.md and docs/benchmarks.md from the JSON
BENCHMARKS = {
    name: f"bench.{name}"
    for name in (
        "featurization backbone_quality backbone_v2 task_addition relational page_render"
        " gpu_figures preview_time chemprop_compare scaling trust concurrency screening report"
    ).split()
}
FOUNDATION = ("featurization", "backbone_quality")


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The ``python -m bench`` parser and each benchmark's subparser (every one takes
    ``--results-dir``)."""
    parser = argparse.ArgumentParser(
        prog="python -m bench", description="GATE Studio benchmarks (see bench/README.md)."
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--results-dir", default=str(RESULTS_DIR), help="where <name>.json/.md go (bench/results)"
    )
    names = parser.add_subparsers(dest="name", metavar="{" + ",".join([*BENCHMARKS, "all"]) + "}")
    subs = {}
    for name, module_name in BENCHMARKS.items():
        module = importlib.import_module(module_name)
        help_text = module.DESCRIPTION.replace("%", "%%")  # argparse %-formats help strings
        subs[name] = names.add_parser(
            name, parents=[common], help=help_text, description=module.DESCRIPTION
        )
        module.add_arguments(subs[name])
    names.add_parser("all", parents=[common], help=f"run {', '.join(FOUNDATION)} with defaults")
    return parser, subs


def run_one(name: str, args: argparse.Namespace) -> None:
    elapsed = stopwatch()
    paths = importlib.import_module(BENCHMARKS[name]).run(args)
    print(f"[bench] {name}: {elapsed():.1f} s -> " + ", ".join(map(str, paths)), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser, subs = build_parser()
    args = parser.parse_args(argv)
    if args.name is None:
        parser.print_help()
        return 2
    if args.name != "all":
        run_one(args.name, args)
        return 0
    failed = False
    for name in FOUNDATION:  # each with its defaults; a failure is reported, the next one runs
        try:
            run_one(name, subs[name].parse_args(["--results-dir", args.results_dir]))
        except Exception as exc:  # noqa: BLE001 - report and go on with the next benchmark
            print(
                f"[bench] {name} FAILED: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True
            )
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
