"""``python -m bench report``: ``docs/benchmarks.md`` (tables + PNG plots) from the stored results.

Runs no benchmark: it only reads ``<results-dir>/<name>.json`` (default ``bench/results``), writes
the Markdown file and one PNG per plot (matplotlib, Agg backend) into ``docs/benchmarks/``, and
exports ``<name>.csv`` beside any result JSON that has none (:func:`bench.common.csv_rows`).
Every figure is stated with the date and machine of the run it comes from; a result measured on
another machine than most of the others (e.g. a GPU machine) is flagged. A result file that is
absent is reported as "not run yet". The same inputs give the same bytes (no timestamps other
than those inside the results; PNGs without a software tag).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from bench.common import REPO_ROOT, RESULTS_DIR, csv_rows, md_table, write_csv
from bench.labels import METHOD_COLOURS, METHOD_LABELS, RESULTS, SCALING_CURVES, size_sort_key
from bench.labels import finite_number as _num

NAME = "report"
DESCRIPTION = "runs no benchmark: regenerate docs/benchmarks.md and its PNG plots from the stored results (and write any missing CSV)"
DOC = REPO_ROOT / "docs" / "benchmarks.md"

#: Result files the report reads, in the order of the document, with the command that makes each.
#: Every PNG the report can write; one of these not written by a run is stale and removed.
FIGURE_NAMES = frozenset({
    "featurization", "pretraining_step", "pretraining_step_vs_tasks", "backbone_quality", "task_addition_nrmse_vs_n", "task_addition_by_target",
    "chemprop_ratio", "relational_known_labels", "page_render", "scaling_add_task_vs_sources", "scaling_add_task_vs_n", "scaling_add_task_vs_existing",
    "scaling_predict_vs_batch", "scaling_featurize_vs_batch",
})
#: Where a command must run to make its result, when that is not "here".
RESULT_NOTES = {"scaling_cuda": "on a CUDA machine", "gpu_figures": "from runs on a CUDA machine"}



def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default=str(DOC), help="the Markdown file to write (default: docs/benchmarks.md)")
    parser.add_argument("--figures-dir", default=None, help="where the PNGs go (default: the --out path without .md, i.e. docs/benchmarks/)")
    parser.add_argument("--no-csv", action="store_true", help="do not write the CSV of a result JSON that has none")


def run(args: argparse.Namespace) -> list[Path]:
    return generate(args.results_dir, args.out, args.figures_dir, write_missing_csv=not args.no_csv)


# ------------------------------------------------------------------------------------- loading


def load_results(results_dir: str | Path) -> tuple[dict[str, dict], dict[str, str]]:
    """``{name: parsed JSON}`` of the :data:`RESULTS` files present, and ``{name: error}`` for unreadable ones."""
    results, errors = {}, {}
    for name in RESULTS:
        path = Path(results_dir) / f"{name}.json"
        if not path.is_file():
            continue
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            errors[name] = f"{type(exc).__name__}: {exc}"
            continue
        if isinstance(data, dict):
            results[name] = data
        else:
            errors[name] = "not a JSON object"
    return results, errors


def export_missing_csv(results_dir: str | Path) -> list[Path]:
    """Write ``<name>.csv`` for every ``<name>.json`` in ``results_dir`` that has no CSV yet (and has rows)."""
    written = []
    for path in sorted(Path(results_dir).glob("*.json")):
        csv_path = path.with_suffix(".csv")
        if csv_path.exists():
            continue
        try:
            data = json.loads(path.read_text())
            rows = csv_rows(path.stem, data) if isinstance(data, dict) else []
        except Exception as exc:  # noqa: BLE001 - one bad file must not stop the report
            print(f"[report] no CSV for {path.name}: {type(exc).__name__}: {exc}", file=sys.stderr)
            continue
        if rows:
            written.append(write_csv(rows, csv_path))
    return written


# ------------------------------------------------------------------------------------- helpers




def _f(x: Any, fmt: str = "{:.3g}") -> str:
    v = _num(x)
    return "n/a" if v is None else fmt.format(v)


def _pass(flag: Any) -> str:
    return "n/a" if flag is None else ("**PASS**" if flag else "**FAIL**")




def _mean(values: Iterable[Any]) -> float | None:
    vals = [v for v in (_num(x) for x in values) if v is not None]
    return sum(vals) / len(vals) if vals else None


def _bold_min(values: Sequence[Any], fmt: str = "{:.3f}") -> list[str]:
    nums = [_num(v) for v in values]
    finite = [v for v in nums if v is not None]
    best = min(finite) if finite else None
    return ["n/a" if v is None else (f"**{fmt.format(v)}**" if v == best else fmt.format(v)) for v in nums]


def _label(method: str) -> str:
    return METHOD_LABELS.get(method, method)


def _flatten(record: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(record, dict):
        out = []
        for key, value in record.items():
            out += _flatten(value, f"{prefix}{key}.")
        return out
    return [(prefix.rstrip("."), record)]


def _value_text(v: Any) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return _f(v, "{:,.0f}" if abs(v) >= 1000 else "{:.4g}")
    if isinstance(v, list):
        return json.dumps(v if len(v) <= 8 else v[:8] + ["…"])
    return "n/a" if v is None else str(v)


def machine_key(machine: dict) -> tuple:
    return (machine.get("cpu_model"), machine.get("cpu_count"), machine.get("gpu"))


def machine_text(machine: dict) -> str:
    """'AMD EPYC, 2 cores, 24 GB RAM, no GPU, torch 2.13.0+cpu'."""
    mem = _num(machine.get("memory_total_mb"))
    parts = [str(machine.get("cpu_model") or "unknown CPU"), f"{machine.get('cpu_count', '?')} cores"]
    if mem:
        parts.append(f"{mem / 1024:.0f} GB RAM")
    parts.append(f"GPU {machine['gpu']}" if machine.get("gpu") else "no GPU")
    if machine.get("torch"):
        parts.append(f"torch {machine['torch']}")
    return ", ".join(parts)


def _date(machine: dict) -> str:
    """'2026-11-23 01:36 UTC' from the ISO date in a machine block."""
    d = str(machine.get("date_utc") or "")
    if len(d) >= 16 and d[10] == "T":
        return d[:10] + " " + d[11:16] + (" UTC" if d.endswith(("+00:00", "Z")) else "")
    return d or "date unknown"


# --------------------------------------------------------------------------------------- figures


class Figures:
    """Writes PNGs into one folder (matplotlib's Agg backend, imported on first use)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.written: list[Path] = []
        self._plt = None

    @property
    def plt(self):
        if self._plt is None:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt

            plt.rcParams.update({"figure.dpi": 100, "axes.grid": True, "grid.alpha": 0.3, "axes.spines.top": False, "axes.spines.right": False,
                                 "font.size": 9, "legend.fontsize": 8, "legend.frameon": False})
            self._plt = plt
        return self._plt

    def new(self, width: float = 6.4, height: float = 3.8, ncols: int = 1, nrows: int = 1, **kwargs):
        return self.plt.subplots(nrows, ncols, figsize=(width, height), squeeze=False, **kwargs)

    def save(self, fig, name: str, tight: bool = True) -> Path:
        assert name in FIGURE_NAMES, name
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{name}.png"
        if tight:
            fig.tight_layout()
        fig.savefig(path, format="png", metadata={"Software": None}, bbox_inches="tight", pad_inches=0.1)
        self.plt.close(fig)
        self.written.append(path)
        return path


# ------------------------------------------------------------------------------------- document


class Report:
    """Builds the Markdown text section by section; figures go through :class:`Figures`."""

    def __init__(self, results: dict[str, dict], errors: dict[str, str], results_dir: Path, out: Path, figures: Figures):
        self.results, self.errors = results, errors
        self.results_dir, self.out, self.figures = results_dir, out, figures
        self.lines: list[str] = []
        keys = Counter(machine_key(r.get("machine") or {}) for r in results.values())
        self.main_key = keys.most_common(1)[0][0] if keys else None
        self.main_machine = next((r.get("machine") or {} for r in results.values() if machine_key(r.get("machine") or {}) == self.main_key), {})

    # -- plumbing
    def add(self, *text: str) -> None:
        self.lines.extend(text)

    def rel(self, path: Path) -> str:
        return Path(os.path.relpath(path, self.out.parent)).as_posix()

    def figure(self, fig, name: str, alt: str, tight: bool = True) -> None:
        path = self.figures.save(fig, name, tight)
        self.add(f"![{alt}]({self.rel(path)})", "")

    def table(self, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        self.add(md_table(header, rows), "")

    def other_machine(self, name: str) -> bool:
        return name in self.results and machine_key(self.results[name].get("machine") or {}) != self.main_key

    def provenance(self, name: str) -> None:
        """One line: when, where, from which code and command; raw JSON/CSV links; a warning for another machine."""
        data = self.results[name]
        m = data.get("machine") or {}
        commit = str(m.get("git_commit") or "unknown")[:10] + (" with uncommitted changes" if m.get("git_dirty") else "")
        load = m.get("load_average_1_5_15") or []
        links = [f"[{name}.json]({self.rel(self.results_dir / f'{name}.json')})"]
        if (self.results_dir / f"{name}.csv").exists():
            links.append(f"[{name}.csv]({self.rel(self.results_dir / f'{name}.csv')})")
        text = (f"Measured {_date(m)} on {machine_text(m)}; code `{commit}`"
                + (f"; 1-min load average {_f(load[0], '{:.2f}')} at the end" if load else "")
                + f"; command `{data.get('command', RESULTS.get(name, name))}`. Raw numbers: {', '.join(links)}."
                + (f" Run status: {str(data['status']).rstrip('.')}." if data.get("status") else ""))
        if self.other_machine(name):
            text = f"**⚠ Other machine: not the machine of most results on this page ({machine_text(self.main_machine)}).** " + text
        self.add(f"> {text}", "")

    def missing(self, name: str) -> None:
        why = f"unreadable ({self.errors[name]})" if name in self.errors else "not run yet"
        where = f" {RESULT_NOTES[name]}" if name in RESULT_NOTES else ""
        self.add(f"_{why[0].upper() + why[1:]}: `{RESULTS[name]}`{where} writes `bench/results/{name}.json`._", "")

    def section(self, title: str, names: Sequence[str], body: Callable[[], None], also: Sequence[str] = ()) -> None:
        """``## title``, "not run yet" for each of ``names`` absent, then ``body()`` if any of ``names`` or ``also`` is present."""
        self.add(f"## {title}", "")
        present = [n for n in (*names, *also) if n in self.results]
        for n in names:
            if n not in self.results:
                self.missing(n)
        if not present:
            return
        start = len(self.lines)
        try:
            body()
        except Exception as exc:  # noqa: BLE001 - a changed schema must not stop the whole report
            del self.lines[start:]
            if self.figures._plt is not None:
                self.figures.plt.close("all")
            print(f"[report] section {title!r}: {type(exc).__name__}: {exc}", file=sys.stderr)
            self.add(f"_Could not render this section from {', '.join(f'`{n}.json`' for n in present)}: {type(exc).__name__}: {exc}._", "")

    # -- the document
    def build(self) -> str:
        self.add(
            "# Benchmarks",
            "",
            "Generated by `python -m bench report` from the result files in `bench/results/` (every number, with the "
            "machine it was measured on, is in each `<name>.json`; the main per-item table of each is in `<name>.csv`). "
            "Do not edit by hand: re-run a benchmark (`python -m bench <name>`, see `bench/README.md`), then `python -m bench report`. "
            "The same tables and charts, interactive, are on the app's **Benchmarks** page.",
            "",
        )
        self.machines()
        self.targets()
        self.section("Featurisation", ["featurization"], self.featurization)
        self.section("Pre-training", ["pretraining", "pretraining_quick"], self.pretraining, also=["scaling", "scaling_cuda"])
        self.section("Backbone quality", ["backbone_quality"], self.backbone_quality)
        self.section("Task addition, benchmark v2: drug-like and physchem targets, seen vs unseen test molecules", ["task_addition_v1", "task_addition_v2"],
                     self.benchmark_v2, also=["task_addition"])
        self.section("Task addition: accuracy vs training-set size", ["task_addition"], self.task_addition)
        self.section("Comparison with chemprop", ["chemprop_compare"], self.chemprop)
        self.section("Scaling", ["scaling", "scaling_cuda"], self.scaling)
        self.section("Relational head", ["relational"], self.relational)
        self.section("Page render time", ["page_render"], self.page_render)
        self.section("Upload to first preview", ["preview_time"], self.preview_time)
        self.section("GPU figures", ["gpu_figures"], self.gpu_figures)
        return "\n".join(self.lines).rstrip() + "\n"

    def machines(self) -> None:
        self.add("## Where and when", "")
        if self.main_key is not None:
            self.add(f"Most results come from **{machine_text(self.main_machine)}**; a section measured elsewhere says so (⚠).", "")
        rows = []
        for name in RESULTS:
            if name in self.results:
                m = self.results[name].get("machine") or {}
                rows.append([f"`{name}`", _date(m), machine_text(m) + (" ⚠" if self.other_machine(name) else ""), str(m.get("git_commit") or "")[:10]])
            else:
                rows.append([f"`{name}`", "unreadable" if name in self.errors else "not run yet", "", ""])
        self.table(["result", "date", "machine", "code"], rows)

    def targets(self) -> None:
        """The pass/fail targets of every benchmark that has one, in one table."""
        rows = []
        r = self.results
        if "featurization" in r and r["featurization"].get("target"):
            t = r["featurization"]["target"]
            rows.append(["graph featurisation, one core", f"≥ {_f(t.get('mol_per_s'), '{:,.0f}')} mol/s", f"{_f(t.get('measured'), '{:,.0f}')} mol/s", _pass(t.get("passed"))])
        speed = (r.get("task_addition") or {}).get("speed") or {}
        if speed.get("add_task"):
            a = speed["add_task"]
            rows.append([f"add a {a.get('molecules')}-molecule task", f"≤ {_f(a.get('target_seconds'), '{:.0f}')} s", f"{_f(a.get('median_wall_seconds'), '{:.1f}')} s", _pass(a.get("passes"))])
        if speed.get("throughput"):
            t = speed["throughput"]
            rows.append(["batch prediction, cold caches", f"≥ {_f(t.get('target_per_second'), '{:,.0f}')} mol/s", f"{_f(t.get('cold_per_second'), '{:,.0f}')} mol/s", _pass(t.get("cold_passes"))])
            rows.append(["batch prediction, warm caches", f"≥ {_f(t.get('target_per_second'), '{:,.0f}')} mol/s", f"{_f(t.get('warm_per_second'), '{:,.0f}')} mol/s", _pass(t.get("warm_passes"))])
        comp = (r.get("chemprop_compare") or {}).get("comparison") or {}
        if comp:
            rows.append([f"GATE / best chemprop baseline, mean nRMSE at n ≤ {comp.get('max_n', '?')}", f"≤ {_f(comp.get('target_ratio'), '{:.2f}')}",
                         f"{_f(comp.get('ratio_gate_to_best'), '{:.3f}')} (vs {_label(str(comp.get('best_baseline')))})", _pass(comp.get("passes"))])
        rel = r.get("relational") or {}
        for reveal, block in ((rel.get("known_labels") or {}).get("reveals") or {}).items():
            rows.append([f"relational, {reveal} known label(s): RMSE vs plain", str(block.get("target", "")), f"{_f(100 * (_num(block.get('change')) or 0), '{:+.1f}')} %" if _num(block.get("change")) is not None else "n/a", _pass(block.get("reached"))])
        if rel.get("time_to_first_preview"):
            t = rel["time_to_first_preview"]
            rows.append(["time to first relational preview", f"≤ {_f(t.get('target_seconds'), '{:.0f}')} s", f"{_f(t.get('total_seconds'), '{:.2f}')} s", _pass(t.get("reached"))])
        if "page_render" in r:
            p = r["page_render"]
            worst = max(((_num(v.get("warm_max_seconds")) or 0.0, k) for k, v in (p.get("pages") or {}).items()), default=(None, ""))
            rows.append(["every app page, warm render (max visit)", f"< {_f(p.get('target_seconds'), '{:.0f}')} s", f"{_f(worst[0], '{:.2f}')} s ({worst[1]})", _pass(p.get("target_met_max"))])
        if rows:
            self.add("## Targets at a glance", "")
            self.table(["target", "goal", "measured", "result"], rows)

    # -- sections
    def featurization(self) -> None:
        d = self.results["featurization"]
        self.provenance("featurization")
        inp = d.get("input") or {}
        settings = d.get("settings") or {}
        self.add(f"{inp.get('unique_smiles', '?'):,} unique SMILES, {settings.get('threads', 1)} thread, median of {settings.get('repeats', '?')} repeat(s), wall clock." if isinstance(inp.get("unique_smiles"), int) else "Molecules/s, wall clock.", "")
        rows = csv_rows("featurization", d)
        self.table(["stage", "mol/s", "mol per CPU-second", "CPU share"],
                   [[f"`{r['stage']}`", _f(r.get("per_second"), "{:,.0f}"), _f(r.get("per_cpu_second"), "{:,.0f}"), _f(r.get("cpu_share"), "{:.2f}")] for r in rows])
        target = d.get("target") or {}
        if target:
            self.add(f"Target: `{target.get('stage')}` ≥ {_f(target.get('mol_per_s'), '{:,.0f}')} mol/s — measured {_f(target.get('measured'), '{:,.0f}')}: {_pass(target.get('passed'))}."
                     + (f" Speed-up over the naive per-atom loop: {_f(d.get('speedup_graph_vs_naive'), '{:.1f}')}×." if _num(d.get("speedup_graph_vs_naive")) else ""), "")
        if rows:
            fig, ax = self.figures.new(6.4, 0.45 * len(rows) + 1.2)
            ax = ax[0][0]
            names = [r["stage"] for r in rows][::-1]
            vals = [_num(r.get("per_second")) or 0.0 for r in rows][::-1]
            ax.barh(names, vals, color="#2f6f8f")
            if _num(target.get("mol_per_s")):
                ax.axvline(target["mol_per_s"], color="#b2182b", ls="--", label=f"target {target['mol_per_s']:,.0f} mol/s")
                ax.legend(loc="lower right")
            ax.set_xscale("log")
            ax.set_xlabel("molecules / s (log scale)")
            ax.set_title(f"Featurisation throughput — {_date(d.get('machine') or {})}")
            self.figure(fig, "featurization", "featurisation throughput per stage")

    def pretraining(self) -> None:
        if "pretraining" in self.results:
            d = self.results["pretraining"]
            self.add("### The shipped backbone's build", "")
            self.provenance("pretraining")
            self.table(["checkpoint", "alignment", "device", "molecules", "epochs", "train mol/s (median epoch)", "featurise s", "train min", "total min", "peak MB"],
                       [[f"`{r['checkpoint']}`", r.get("alignment"), f"{r.get('device')} ×{r.get('world_size')}, {r.get('threads')} thread(s)", r.get("n_molecules"), r.get("epochs_run"),
                         _f(r.get("train_molecules_per_second_median"), "{:,.0f}"), _f(r.get("featurize_seconds"), "{:.0f}"),
                         _f((_num(r.get("train_seconds")) or math.nan) / 60, "{:.1f}"), _f((_num(r.get("wall_seconds")) or math.nan) / 60, "{:.1f}"),
                         _f(r.get("peak_memory_mb"), "{:,.0f}")] for r in csv_rows("pretraining", d)])
        if "pretraining_quick" in self.results:
            d = self.results["pretraining_quick"]
            rows = csv_rows("pretraining_quick", d)
            self.add("### Step time: mean vs pairwise alignment", "")
            self.provenance("pretraining_quick")
            none = next((_num(r["step_ms_median"]) for r in rows if r["form"] == "none"), None)
            self.table(["alignment", "tasks", "ms/step (median)", "p10–p90 ms", "mol/s", "vs l_reg only"],
                       [[r["form"], r.get("tasks"), _f(r.get("step_ms_median"), "{:.1f}"), f"{_f(r.get('step_ms_p10'), '{:.0f}')}–{_f(r.get('step_ms_p90'), '{:.0f}')}",
                         _f(r.get("molecules_per_second"), "{:,.0f}"), f"{_f((_num(r.get('step_ms_median')) or math.nan) / none, '{:.2f}')}×" if none else "n/a"] for r in rows])
            if rows:
                fig, ax = self.figures.new(5.2, 3.2)
                ax = ax[0][0]
                ax.bar([r["form"] for r in rows], [_num(r.get("step_ms_median")) or 0 for r in rows], color=["#2f6f8f", "#c77c2e", "#969696", "#41ab5d"][: len(rows)])
                ax.set_ylabel("ms per optimiser step (median)")
                ax.set_title(f"Pre-training step, {rows[0].get('tasks')} tasks, batch {rows[0].get('batch_size')} — {_date(d.get('machine') or {})}")
                self.figure(fig, "pretraining_step", "pre-training step time per alignment form")
        curves = self._scaling_curves("pretrain_step_vs_tasks")
        self.add("### Step time vs number of tasks", "")
        if not curves:
            self.add("_Not run yet: `python -m bench scaling` (curve `pretrain_step_vs_tasks`)._", "")
            return
        self.add("From the scaling benchmark: one optimiser step, pairwise alignment (O(T²) task pairs) vs the mean form, as the number of tasks grows. Measured:", "")
        self._provenance_short(["scaling", "scaling_cuda"])

        def by_form(points: list[dict]) -> list[tuple[str, list, list]]:
            forms = sorted({str(p.get("alignment")) for p in points})
            return [(form, [p.get("n_tasks") for p in points if str(p.get("alignment")) == form],
                     [_num(p.get("step_ms")) for p in points if str(p.get("alignment")) == form]) for form in forms]

        self._curve_panels(curves, "n_tasks", by_form, "tasks", "ms per step", "Pre-training step time vs number of tasks", False, "pretraining_step_vs_tasks")
        self.table(["device", "alignment", "tasks", "ms/step", "peak MB"],
                   [[device, p.get("alignment"), p.get("n_tasks"), _f(p.get("step_ms"), "{:.1f}"), _f(p.get("peak_memory_mb"), "{:,.0f}")]
                    for device, points in curves for p in sorted(points, key=lambda p: (str(p.get("alignment")), _num(p.get("n_tasks")) or 0))])

    def backbone_quality(self) -> None:
        d = self.results["backbone_quality"]
        self.provenance("backbone_quality")
        methods = list((d.get("methods") or {}).keys()) or ["gate", "multitask", "single_task", "rf"]
        names = d.get("methods") or {}
        self.add("Test RMSE in each property's units on the backbone's scaffold test fold (bold = lowest); the winner is "
                 "\"within noise\" when the paired-bootstrap 95 % interval of its RMSE gap to the runner-up includes 0.", "")
        rows, ratios = [], {}
        for prop, p in (d.get("properties") or {}).items():
            ms = p.get("methods") or {}
            rows.append([prop, p.get("n_test"), *_bold_min([(ms.get(m) or {}).get("rmse") for m in methods], "{:.4g}"),
                         f"{names.get(p.get('winner'), p.get('winner'))}{'' if p.get('winner_distinguishable') else ' (within noise)'}"])
            gate = _num((ms.get("gate") or {}).get("rmse"))
            if gate:
                ratios[prop] = {m: (_num((ms.get(m) or {}).get("rmse")) or math.nan) / gate for m in methods if m != "gate"}
        self.table(["property", "n test", *[names.get(m, m) for m in methods], "winner"], rows)
        if ratios:
            props = list(ratios)
            others = [m for m in methods if m != "gate"]
            fig, ax = self.figures.new(7.0, 0.38 * len(props) + 1.4)
            ax = ax[0][0]
            h = 0.8 / max(1, len(others))
            for i, m in enumerate(others):
                ys = [j + (i - (len(others) - 1) / 2) * h for j in range(len(props))]
                vals = [ratios[p].get(m, math.nan) for p in props]
                ax.barh(ys, vals, height=h, label=names.get(m, m), color=METHOD_COLOURS.get(m))
            ax.axvline(1.0, color="black", lw=1, label="GATE backbone")
            ax.set_yticks(range(len(props)), props)
            ax.invert_yaxis()
            ax.set_xlabel("test RMSE / GATE backbone's test RMSE  (< 1: better than GATE)")
            ax.set_title(f"Backbone quality per property — {_date(d.get('machine') or {})}")
            ax.legend(loc="lower right")
            self.figure(fig, "backbone_quality", "test RMSE of each method relative to the GATE backbone, per property")

    def task_addition(self) -> None:
        d = self.results["task_addition"]
        self.provenance("task_addition")
        s = d.get("summary") or {}
        methods = s.get("methods") or (d.get("grid") or {}).get("methods") or []
        by_size = s.get("by_size") or {}
        sizes = sorted(by_size, key=size_sort_key)
        devices = sorted({str(r.get("device")) for r in d.get("rows") or [] if r.get("device")})
        self.add(
            f"Normalised test RMSE (RMSE / test-set std; lower is better) of a new task trained on n molecules, {s.get('n_targets', '?')} targets, "
            f"{s.get('n_complete_cells', '?')} complete (target, seed, n) cells where every method has a result; each target weighs the same. "
            + (f"Per-row device: {', '.join(devices)}." if devices else ""),
            "",
        )
        self.table(["method", f"mean nRMSE, n ≤ {s.get('max_n', '?')}", *[f"n = {n}" for n in sizes], "cells won"],
                   [[_label(m), _f((s.get("overall") or {}).get(m), "{:.3f}"), *[_f((by_size[n] or {}).get(m), "{:.3f}") for n in sizes], (s.get("wins") or {}).get(m, "n/a")] for m in methods])
        if sizes and methods:
            fig, ax = self.figures.new(8.4, 4.0)
            ax = ax[0][0]
            xs = [_num(n) if _num(n) is not None else float(n) for n in sizes]
            for m in methods:
                ax.plot(xs, [_num((by_size[n] or {}).get(m)) for n in sizes], marker="o", label=_label(m), color=METHOD_COLOURS.get(m), lw=2.5 if m == "learned" else 1.5)
            ax.set_xscale("log")
            ax.set_xticks(xs, [str(n) for n in sizes])
            ax.minorticks_off()
            ax.set_xlabel("training molecules n")
            ax.set_ylabel("mean normalised test RMSE")
            ax.set_title(f"Accuracy vs n per method — {_date(d.get('machine') or {})}")
            ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5))
            self.figure(fig, "task_addition_nrmse_vs_n", "mean normalised RMSE vs training-set size per method")
        by_target = s.get("by_target") or {}
        if by_target:
            self.add(f"Per target: mean nRMSE over its seeds and sizes n ≤ {s.get('max_n', '?')} (bold = lowest).", "")
            self.table(["target", *[_label(m) for m in methods]], [[t, *_bold_min([v.get(m) for m in methods])] for t, v in sorted(by_target.items())])
            self._task_addition_small_multiples(d, methods)
        speed = d.get("speed") or {}
        if speed:
            self.add("### Speed", "")
            a, t = speed.get("add_task") or {}, speed.get("throughput") or {}
            if a:
                self.add(f"- Adding a {a.get('molecules')}-molecule task ({a.get('target')}, {a.get('ratios')} λ, K = {a.get('ensemble')}, cold featurisation caches, "
                         f"{speed.get('device', '?')} with {speed.get('torch_threads', '?')} thread(s)): **{_f(a.get('median_wall_seconds'), '{:.1f}')} s** "
                         f"against the {_f(a.get('target_seconds'), '{:.0f}')} s target: {_pass(a.get('passes'))}.")
            if t:
                self.add(f"- Batch prediction on {t.get('molecules')} molecules: cold caches **{_f(t.get('cold_per_second'), '{:,.0f}')} mol/s**, warm "
                         f"**{_f(t.get('warm_per_second'), '{:,.0f}')} mol/s**, featurisation alone {_f(t.get('featurize_only_cold_per_second'), '{:,.0f}')} mol/s, "
                         f"against the {_f(t.get('target_per_second'), '{:,.0f}')} mol/s target: cold {_pass(t.get('cold_passes'))}, warm {_pass(t.get('warm_passes'))}.")
            self.add("")

    def benchmark_v2(self) -> None:
        """Issue 11's headline of every task-addition result that has one (one backbone each)."""
        from bench.task_addition import headline_markdown

        for name in ("task_addition", "task_addition_v1", "task_addition_v2"):
            d = self.results.get(name) or {}
            if "headline" not in d:
                continue
            grid = d.get("grid") or {}
            self.add(f"### `{name}`: backbone `{d.get('backbone')}` (fingerprint `{d.get('backbone_id')}`)", "")
            self.provenance(name)
            self.add(f"Targets {', '.join(grid.get('targets') or [])}; n ∈ {{{', '.join(map(str, grid.get('sizes') or []))}}}; "
                     f"seeds {', '.join(map(str, grid.get('seeds') or []))}; {len(grid.get('ran') or []) + len(grid.get('resumed') or [])} cells ran, "
                     f"{len(grid.get('skipped') or [])} skipped (pool smaller than n), {len(grid.get('not_started') or [])} not started.", "")
            self.add(headline_markdown(d["headline"]))

    def _task_addition_small_multiples(self, d: dict, methods: list[str]) -> None:
        """One panel per target: nRMSE vs n per method (mean over seeds)."""
        cells: dict[tuple[str, str, Any], list[float]] = {}
        for r in d.get("rows") or []:
            v = _num(r.get("nrmse"))
            if v is not None and _num(r.get("size")) is not None:
                cells.setdefault((str(r.get("target")), str(r.get("method")), r.get("size")), []).append(v)
        targets = sorted({k[0] for k in cells})
        all_sizes = sorted({k[2] for k in cells}, key=size_sort_key)
        if not targets:
            return
        ncols = 4
        nrows = math.ceil(len(targets) / ncols)
        fig, axes = self.figures.new(11.0, 2.3 * nrows + 0.6, ncols=ncols, nrows=nrows)
        for i, target in enumerate(targets):
            ax = axes[i // ncols][i % ncols]
            for m in methods:
                sizes = sorted({k[2] for k in cells if k[0] == target and k[1] == m}, key=size_sort_key)
                ax.plot(sizes, [_mean(cells[(target, m, n)]) for n in sizes], marker=".", color=METHOD_COLOURS.get(m), label=_label(m), lw=2 if m == "learned" else 1)
            ax.set_title(target, fontsize=9)
            if i % ncols == 0:
                ax.set_ylabel("nRMSE, mean over seeds")
            ax.set_xscale("log")
            ax.set_xticks(all_sizes, [str(n) for n in all_sizes])
            ax.minorticks_off()
        for j in range(len(targets), nrows * ncols):
            axes[j // ncols][j % ncols].set_visible(False)
        handles, labels = axes[0][0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="upper center", ncol=3)
        fig.supxlabel("training molecules n")
        fig.tight_layout(rect=(0, 0, 1, 1 - 0.5 / (2.3 * nrows + 0.6)))
        self.figure(fig, "task_addition_by_target", "normalised RMSE vs n per method, one panel per target", tight=False)

    def chemprop(self) -> None:
        d = self.results["chemprop_compare"]
        self.provenance("chemprop_compare")
        c = d.get("comparison") or {}
        rows = d.get("rows") or []
        hosts = sorted({f"{r.get('device')} on {r.get('host')}" if r.get("host") else str(r.get("device")) for r in rows if r.get("device")})
        if hosts:
            gpu = any(str(r.get("device", "")).startswith("cuda") for r in rows)
            self.add(("**⚠ The chemprop rows were trained on a GPU machine:** " if gpu else "chemprop rows trained on: ") + ", ".join(hosts) + ". Their wall times are not comparable with the CPU timings above; the errors are.", "")
        ratio_best = _num(c.get("ratio_gate_to_best"))
        self.add(
            f"GATE task addition's mean nRMSE divided by the best chemprop baseline's (**{_label(str(c.get('best_baseline')))}**), at n ≤ {c.get('max_n', '?')} "
            f"over {c.get('n_complete_cells', '?')} complete cells: **{_f(ratio_best, '{:.3f}')}** against the target ≤ {_f(c.get('target_ratio'), '{:.2f}')}: {_pass(c.get('passes'))}.",
            "",
        )
        methods = list(c.get("methods") or (c.get("mean_nrmse") or {}).keys())
        ratio_to = c.get("ratio_gate_to") or {}
        self.table(["method", f"mean nRMSE, n ≤ {c.get('max_n', '?')}", "GATE / this method"],
                   [[_label(m), _f((c.get("mean_nrmse") or {}).get(m), "{:.3f}"), _f(ratio_to.get(m), "{:.3f}")] for m in methods])
        by_size = c.get("mean_nrmse_by_size") or {}
        sizes = sorted(by_size, key=size_sort_key)
        if sizes:
            size_methods = list(dict.fromkeys(m for n in sizes for m in (by_size[n] or {})))
            self.table(["method", *[f"n = {n}" for n in sizes]], [[_label(m), *[_f((by_size[n] or {}).get(m), "{:.3f}") for n in sizes]] for m in size_methods])
        if ratio_to:
            fig, axs = self.figures.new(10.0, 3.6, ncols=2 if sizes else 1)
            ax = axs[0][0]
            names = list(ratio_to)
            vals = [_num(ratio_to[m]) or 0.0 for m in names]
            ax.bar([_label(m).replace(", ", ",\n").replace(" + ", " +\n") for m in names], vals, color=[METHOD_COLOURS.get(m, "#2f6f8f") for m in names])
            ax.tick_params(axis="x", labelsize=8)
            ax.set_ylim(0, max([1.3, *(1.15 * v for v in vals)]))
            if _num(c.get("target_ratio")):
                ax.axhline(c["target_ratio"], color="#b2182b", ls="--", label=f"target ≤ {c['target_ratio']:.2f}")
            ax.axhline(1.0, color="black", lw=1, label="parity")
            ax.set_ylabel("GATE nRMSE / baseline nRMSE")
            ax.set_title(f"GATE relative to chemprop (n ≤ {c.get('max_n', '?')})")
            ax.legend(loc="upper center", ncol=2)
            if sizes:
                ax2 = axs[0][1]
                xs = [_num(n) if _num(n) is not None else float(n) for n in sizes]
                for m in size_methods:
                    ax2.plot(xs, [_num((by_size[n] or {}).get(m)) for n in sizes], marker="o", label=_label(m), color=METHOD_COLOURS.get(m))
                ax2.set_xscale("log")
                ax2.set_xticks(xs, [str(n) for n in sizes])
                ax2.minorticks_off()
                ax2.set_xlabel("training molecules n")
                ax2.set_ylabel("mean normalised test RMSE")
                ax2.set_title("Accuracy vs n")
                ax2.legend(loc="center left", bbox_to_anchor=(1.0, 0.5))
            self.figure(fig, "chemprop_ratio", "ratio of GATE's normalised RMSE to chemprop's, and accuracy vs n")
        by_target = c.get("mean_nrmse_by_target") or {}
        if isinstance(by_target, dict) and by_target:
            target_methods = list(dict.fromkeys(m for v in by_target.values() for m in (v or {})))
            self.add(f"Per target: mean nRMSE over its complete cells at n ≤ {c.get('max_n', '?')} (bold = lowest).", "")
            self.table(["target", *[_label(m) for m in target_methods]], [[t, *_bold_min([(v or {}).get(m) for m in target_methods])] for t, v in sorted(by_target.items())])
            rows = []  # the per-target table above replaces the one from the rows
        per_target: dict[str, dict[str, list[float]]] = {}
        max_n = _num(c.get("max_n"))
        for r in rows:
            if _num(r.get("nrmse")) is not None and (max_n is None or (_num(r.get("size")) is not None and _num(r.get("size")) <= max_n)):
                per_target.setdefault(str(r.get("target")), {}).setdefault(str(r.get("method")), []).append(r["nrmse"])
        if per_target:
            row_methods = list(dict.fromkeys(m for v in per_target.values() for m in v))
            self.add(f"Per target: mean nRMSE of the chemprop rows over seeds and n ≤ {c.get('max_n', '?')}.", "")
            self.table(["target", *[_label(m) for m in row_methods]], [[t, *_bold_min([_mean(v.get(m, [])) for m in row_methods])] for t, v in sorted(per_target.items())])
        pre = d.get("pretrain")
        if isinstance(pre, dict) and pre:
            self.add("chemprop pre-training (for the fine-tuned baseline):", "")
            self.table(["key", "value"], [[k, _value_text(v)] for k, v in _flatten(pre)])

    def _scaling_curves(self, curve: str) -> list[tuple[str, list[dict]]]:
        """``[(device label, points)]`` of one curve from ``scaling`` and ``scaling_cuda``, where present."""
        out = []
        for name in ("scaling", "scaling_cuda"):
            data = self.results.get(name) or {}
            points = [p for p in (data.get("curves") or {}).get(curve) or [] if isinstance(p, dict)]
            if points:
                m = data.get("machine") or {}
                device = str(data.get("device") or ("cuda" if name.endswith("cuda") else "cpu"))
                where = m.get("gpu") if device.startswith("cuda") and m.get("gpu") else f"{m.get('cpu_model', '?')} ×{m.get('cpu_count', '?')}"
                out.append((f"{device}, {where}", points))
        return out

    def _curve_panels(self, curves: list[tuple[str, list[dict]]], x: str, series: Callable[[list[dict]], list[tuple[str, list, list]]],
                      xlabel: str, ylabel: str, title: str, logx: bool, name: str) -> None:
        """One panel per device (each with its own y scale), lines from ``series(points)``."""
        fig, axes = self.figures.new(5.2 * len(curves), 3.6, ncols=len(curves))
        for ax, (device, points) in zip(axes[0], curves):
            for label, xs, ys in series(sorted(points, key=lambda p: _num(p.get(x)) or 0)):
                ax.plot(xs, ys, marker="o", label=label)
            if logx:
                ax.set_xscale("log")
            ax.set_xlabel(xlabel)
            ax.set_ylabel(ylabel)
            ax.set_title(device, fontsize=9)
            ax.legend()
        fig.suptitle(title)
        self.figure(fig, name, title)

    def _provenance_short(self, names: Sequence[str]) -> None:
        for name in names:
            if name in self.results:
                m = self.results[name].get("machine") or {}
                flag = "⚠ other machine: " if self.other_machine(name) else ""
                self.add(f"- `{name}`: {flag}{_date(m)}, {machine_text(m)}")
        self.add("")

    SCALING = [c for c in SCALING_CURVES if c[0] != "pretrain_step_vs_tasks"]  # that one is in the pre-training section

    def scaling(self) -> None:
        for name in ("scaling", "scaling_cuda"):
            if name in self.results:
                self.add(f"**{name}** (device {self.results[name].get('device', '?')}):", "")
                self.provenance(name)
        self.add("The pre-training step time vs number of tasks is in [Pre-training](#pre-training).", "")
        for curve, x, ys, xlabel, ylabel, title, logx in self.SCALING:
            curves = self._scaling_curves(curve)
            self.add(f"### {title}", "")
            if not curves:
                self.add(f"_Curve `{curve}` not in the results._", "")
                continue
            def lines(points: list[dict], ys: list[str] = ys, x: str = x) -> list[tuple[str, list, list]]:
                return [(y.replace("_", " "), [p.get(x) for p in points], [_num(p.get(y)) for p in points]) for y in ys if any(_num(p.get(y)) is not None for p in points)]

            self._curve_panels(curves, x, lines, xlabel, ylabel, title, logx, f"scaling_{curve}")
            cols = [x, *[k for k in (*ys, "peak_memory_mb") if any(k in p for _, pts in curves for p in pts)]]
            self.table(["device", *cols], [[device, *[_value_text(p.get(k)) for k in cols]] for device, pts in curves for p in sorted(pts, key=lambda p: _num(p.get(x)) or 0)])
        self.add("Every field of every point is in the JSON and CSV of each run.", "")
        for name in ("scaling", "scaling_cuda"):
            data = self.results.get(name) or {}
            checks = [(f"flat_check.{k}", v) for k, v in _flatten(data.get("flat_check") or {})] + [(f"loglog_exponents.{k}", v) for k, v in _flatten(data.get("loglog_exponents") or {})]
            if checks:
                self.add(f"### Flat check and log–log exponents ({name})", "")
                self.table(["check", "value"], [[k, _value_text(v)] for k, v in checks])

    def relational(self) -> None:
        d = self.results["relational"]
        self.provenance("relational")
        reveals = (d.get("known_labels") or {}).get("reveals") or {}
        self.add("Hidden-label RMSE (standardised units, mean over tasks) when 0, 1, 2 or all of a test molecule's other labels are known: relational head vs plain GATE prediction on the same pairs.", "")
        self.table(["labels known", "relational", "plain", "change", "target", "result"],
                   [[k, _f(v.get("mean_rmse_relational"), "{:.4f}"), _f(v.get("mean_rmse_plain"), "{:.4f}"),
                     f"{100 * _num(v.get('change')):+.1f} %" if _num(v.get("change")) is not None else "n/a", v.get("target", ""), _pass(v.get("reached"))] for k, v in reveals.items()])
        if reveals:
            fig, ax = self.figures.new(5.6, 3.4)
            ax = ax[0][0]
            keys = list(reveals)
            ax.bar(keys, [100 * (_num(reveals[k].get("change")) or 0.0) for k in keys], color="#2f6f8f")
            ax.axhline(-15, color="#b2182b", ls="--", label="target with ≥ 1 known: −15 %")
            ax.axhline(0, color="black", lw=1)
            ax.set_xlabel("other labels known")
            ax.set_ylabel("RMSE change vs plain GATE (%)")
            ax.set_title(f"Relational head — {_date(d.get('machine') or {})}")
            ax.legend()
            self.figure(fig, "relational_known_labels", "relational head: RMSE change vs plain by number of known labels")
        pvt = d.get("preview_vs_trained") or []
        if pvt:
            def metric(p: dict) -> str:
                return "ROC-AUC" if "roc_auc" in (p.get("preview") or p.get("trained") or {}) else "RMSE"

            self.add("Zero-training preview vs trained task addition (test RMSE in the target's units, or ROC-AUC for a classification target; seconds from SMILES).", "")
            self.table(["target", "seed", "n train", "metric", "preview", "trained", "preview s", "add-task s"],
                       [[p.get("target"), p.get("seed"), p.get("n_train"), metric(p), *[_f((p.get(v) or {}).get("roc_auc" if metric(p) == "ROC-AUC" else "rmse"), "{:.4g}") for v in ("preview", "trained")],
                         _f(p.get("preview_seconds"), "{:.2f}"), _f(p.get("add_task_seconds"), "{:.1f}")] for p in pvt])
        t = d.get("time_to_first_preview") or {}
        if t:
            self.add(f"Time to first preview (load head + preview {t.get('support')} + {t.get('query')} molecules from raw SMILES): **{_f(t.get('total_seconds'), '{:.2f}')} s** "
                     f"against ≤ {_f(t.get('target_seconds'), '{:.0f}')} s: {_pass(t.get('reached'))}.", "")

    def page_render(self) -> None:
        d = self.results["page_render"]
        self.provenance("page_render")
        rows = csv_rows("page_render", d)
        target = _num(d.get("target_seconds"))
        self.table(["page", "warm median s", "warm max s", "cold s", f"< {_f(target, '{:.0f}')} s"],
                   [[r["page"], _f(r.get("warm_median_seconds"), "{:.2f}"), _f(r.get("warm_max_seconds"), "{:.2f}"), _f(r.get("cold_seconds"), "{:.1f}"), _pass(r.get("max_below_target"))] for r in rows])
        if rows:
            fig, ax = self.figures.new(6.4, 3.4)
            ax = ax[0][0]
            med = [_num(r.get("warm_median_seconds")) or 0 for r in rows]
            top = [max(0.0, (_num(r.get("warm_max_seconds")) or 0) - m) for r, m in zip(rows, med)]
            ax.bar([r["page"] for r in rows], med, yerr=[[0] * len(rows), top], capsize=3, color="#2f6f8f", label="warm median (bar) to max")
            if target:
                ax.axhline(target, color="#b2182b", ls="--", label=f"target < {target:.0f} s")
            ax.set_ylim(0, 1.3 * max([target or 0.0, *(m + t for m, t in zip(med, top))]))
            ax.set_ylabel("seconds")
            ax.set_title(f"Browser render time per page — {_date(d.get('machine') or {})}")
            ax.legend()
            ax.tick_params(axis="x", labelrotation=20)
            self.figure(fig, "page_render", "warm render time per page")


    def preview_time(self) -> None:
        d = self.results["preview_time"]
        self.provenance("preview_time")
        self.add("The Add-a-task page's path from the uploaded file's bytes to the zero-training preview (warm server, cold featurisation caches).", "")
        self.table(["upload", "rows", "previewed", "read s", "check rows s", "preview s", "total s", f"≤ {_f(d.get('target_seconds'), '{:.0f}')} s"],
                   [[u.get("upload"), u.get("rows"), u.get("rows_previewed"), *[_f(u.get(k), "{:.2f}") for k in ("read_seconds", "check_seconds", "preview_seconds", "total_seconds")],
                     _pass(u.get("reached"))] for u in d.get("uploads") or []])

    def gpu_figures(self) -> None:
        d = self.results["gpu_figures"]
        self.provenance("gpu_figures")
        p, t = d["figures"]["pretraining"], d["figures"]["task_addition"]
        mps = p.get("molecules_per_second") or []
        self.table(["figure", "GPU", "CPU (dev machine)"], [
            ["pre-training, molecules/s (16 tasks)", _f(sum(mps) / len(mps), "{:.0f}") if mps else "n/a", _f(p.get("cpu_molecules_per_second"), "{:.0f}")],
            ["pre-training, peak memory MB", _f(p.get("peak_memory_mb"), "{:.0f}"), _f(p.get("cpu_peak_memory_mb"), "{:.0f}")],
            ["add a 500-molecule task, s (target ≤ 20)", _f(t.get("add_500_molecule_task_seconds"), "{:.1f}"), _f(t.get("cpu_add_500_molecule_task_seconds"), "{:.1f}")],
            ["prediction cold, mol/s (target 5,000)", _f(t.get("predict_cold_per_second"), "{:.0f}"), _f(t.get("cpu_predict_cold_per_second"), "{:.0f}")],
            ["prediction warm, mol/s (target 5,000)", _f(t.get("predict_warm_per_second"), "{:.0f}"), _f(t.get("cpu_predict_warm_per_second"), "{:.0f}")],
        ])
        self.add(f"RDKit featurisation on the GPU machine's CPU alone runs at {_f(t.get('featurize_only_cold_per_second'), '{:.0f}')} mol/s, so it bounds cold prediction there too.", "")


def generate(results_dir: str | Path | None = None, out: str | Path | None = None, figures_dir: str | Path | None = None, write_missing_csv: bool = True) -> list[Path]:
    """Write the Markdown report and its PNGs; returns the paths written (Markdown first)."""
    results_dir = Path(results_dir) if results_dir is not None else RESULTS_DIR
    out = Path(out) if out is not None else DOC
    figures_dir = Path(figures_dir) if figures_dir is not None else out.with_suffix("")
    csvs = export_missing_csv(results_dir) if write_missing_csv and results_dir.is_dir() else []
    results, errors = load_results(results_dir)
    figures = Figures(figures_dir)
    text = Report(results, errors, results_dir, out, figures).build()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    for stale in sorted(figures_dir.glob("*.png")) if figures_dir.is_dir() else []:
        if stale.stem in FIGURE_NAMES and stale not in figures.written:
            stale.unlink()
    return [out, *figures.written, *csvs]
