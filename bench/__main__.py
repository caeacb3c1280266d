"""``python -m bench <name> [options]`` runs one benchmark.

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
        "backbone_quality task_addition relational page_render preview_time chemprop_compare"
        " scaling trust concurrency screening report"
    ).split()
}


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m bench`` parser, a subparser per benchmark (each takes ``--results-dir``)."""
    parser = argparse.ArgumentParser(
        prog="python -m bench", description="GATE Studio benchmarks (see bench/README.md)."
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--results-dir", default=str(RESULTS_DIR), help="where <name>.json/.md go (bench/results)"
    )
    names = parser.add_subparsers(dest="name", metavar="{" + ",".join(BENCHMARKS) + "}")
    for name, module_name in BENCHMARKS.items():
        module = importlib.import_module(module_name)
        help_text = module.DESCRIPTION.replace("%", "%%")  # argparse %-formats help strings
        sub = names.add_parser(
            name, parents=[common], help=help_text, description=module.DESCRIPTION
        )
        module.add_arguments(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.name is None:
        parser.print_help()
        return 2
    elapsed = stopwatch()
    paths = importlib.import_module(BENCHMARKS[args.name]).run(args)
    print(f"[bench] {args.name}: {elapsed():.1f} s -> " + ", ".join(map(str, paths)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
