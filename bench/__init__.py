"""GATE Studio benchmarks: ``python -m bench <name> [options]`` (see ``bench/README.md``).

Each benchmark writes ``bench/results/<name>.json`` (machine-readable, with machine info) and
``bench/results/<name>.md`` (a short human summary) through :mod:`bench.common`.
"""
