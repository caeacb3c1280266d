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

BENCHMARKS = {
    "featurization": "bench.featurization",
    "backbone_quality": "bench.backbone_quality",
    "backbone_v2": "bench.backbone_v2",
    "task_addition": "bench.task_addition",
    "relational": "bench.relational",
    "page_render": "bench.page_render",
    "gpu_figures": "bench.gpu_figures",
    "preview_time": "bench.preview_time",
    "chemprop_compare": "bench.chemprop_compare",
    "scaling": "bench.scaling",
    "trust": "bench.trust",
    "concurrency": "bench.concurrency",
    "screening": "bench.screening",
    "report": "bench.report",  # runs nothing: every <name>.md and docs/benchmarks.md from the JSON
}
FOUNDATION = ("featurization", "backbone_quality")


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description="GATE Studio benchmarks (see bench/README.md)."
    )
    names = parser.add_subparsers(dest="name", metavar="{" + ",".join([*BENCHMARKS, "all"]) + "}")
    subs = {}
    for name, module_name in BENCHMARKS.items():
        module = importlib.import_module(module_name)
        sub = names.add_parser(name, help=module.DESCRIPTION, description=module.DESCRIPTION)
        module.add_arguments(sub)
        sub.add_argument(
            "--results-dir",
            default=str(RESULTS_DIR),
            help="where <name>.json/.md go (default: bench/results)",
        )
        subs[name] = sub
    p_all = names.add_parser("all", help=f"run {', '.join(FOUNDATION)} with their defaults")
    p_all.add_argument("--results-dir", default=str(RESULTS_DIR))
    return parser, subs


def run_one(name: str, args: argparse.Namespace) -> None:
    module = importlib.import_module(BENCHMARKS[name])
    elapsed = stopwatch()
    paths = module.run(args)
    print(f"[bench] {name}: {elapsed():.1f} s -> " + ", ".join(map(str, paths)), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser, subs = build_parser()
    args = parser.parse_args(argv)
    if args.name is None:
        parser.print_help()
        return 2
    if args.name == "all":
        failed = []
        for name in FOUNDATION:
            try:
                run_one(name, subs[name].parse_args(["--results-dir", args.results_dir]))
            except Exception as exc:  # noqa: BLE001 - report and go on with the next benchmark
                print(
                    f"[bench] {name} FAILED: {type(exc).__name__}: {exc}",
                    file=sys.stderr,
                    flush=True,
                )
                failed.append(name)
        return 1 if failed else 0
    run_one(args.name, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
