"""Benchmarks: the stored results of ``python -m bench <name>`` as charts, each with its machine and date.

Reads ``bench/results/<name>.json`` (``GATE_BENCH_RESULTS`` overrides the folder); runs nothing and
loads no model. A result that is absent shows the command that makes it.
"""

from pathlib import Path

import pandas as pd
import streamlit as st

from gate_app import bench_charts as bc

ALL_TARGETS = "all targets (mean)"

st.set_page_config(page_title="Benchmarks · GATE Studio", layout="wide")
st.title("Benchmarks")
folder = bc.results_dir()
st.caption(
    f"Stored results of `python -m bench <name>` in `{folder}`; every section says when and on which machine it was measured. "
    "`python -m bench report` writes the same results, with PNG plots, to `docs/benchmarks.md`."
)


@st.cache_data(max_entries=64, show_spinner=False)
def _read(path: str, mtime_ns: int) -> dict | None:
    return bc.read_result(Path(path))


def load(folder: Path) -> dict[str, dict]:
    out = {}
    for name in bc.COMMANDS:
        path = folder / f"{name}.json"
        try:
            stamp = path.stat().st_mtime_ns
        except OSError:
            continue
        data = _read(str(path), stamp)
        if data is not None:
            out[name] = data
    return out


results = load(folder)
main = bc.main_machine_key(results)


def missing(name: str) -> None:
    st.info(f"{name}: not run yet: `{bc.COMMANDS[name]}`.", icon=":material/hourglass_empty:")


def provenance(name: str) -> None:
    st.caption(bc.machine_line(results[name], main))


def available(name: str) -> dict | None:
    """The stored result ``name`` with its provenance caption, or None after a "not run yet" note."""
    data = results.get(name)
    if data is None:
        missing(name)
    else:
        provenance(name)
    return data


def fmt(x, spec: str = "{:.3f}") -> str:
    v = bc.num(x)
    return "–" if v is None else spec.format(v)


# ---- accuracy vs n -----------------------------------------------------------------------------

st.header("Task addition: accuracy vs training-set size")
data = available("task_addition")
if data is not None:
    summary = data.get("summary") or {}
    methods = summary.get("methods") or (data.get("grid") or {}).get("methods") or []
    targets = sorted(set(bc.task_addition_rows(data)["target"]))
    choice = st.selectbox("Target", [ALL_TARGETS, *targets], key="bench_target")
    if choice == ALL_TARGETS:
        frame = bc.accuracy_vs_n(data)
        title = f"Mean normalised RMSE over {summary.get('n_targets', '?')} targets ({summary.get('n_complete_cells', '?')} complete cells)"
    else:
        frame = bc.accuracy_vs_n(data, choice)
        title = f"{choice}: normalised RMSE, mean over seeds"
    if len(frame):
        st.plotly_chart(bc.accuracy_figure(frame, title, methods), key="bench_accuracy")
    else:
        st.info(f"No finished cells for {choice}.")
    by_size = summary.get("by_size") or {}
    table = pd.DataFrame(
        [{"method": bc.label(m), f"mean nRMSE, n ≤ {summary.get('max_n', '?')}": bc.num((summary.get("overall") or {}).get(m)),
          **{f"n = {s}": bc.num((by_size[s] or {}).get(m)) for s in by_size}, "cells won": (summary.get("wins") or {}).get(m)} for m in methods]
    )
    if len(table):
        st.dataframe(table, hide_index=True, width="stretch", column_config={c: st.column_config.NumberColumn(format="%.3f") for c in table.columns[1:-1]}, key="bench_accuracy_table")
    st.caption("nRMSE = test RMSE / the test set's standard deviation; each target weighs the same.")

# ---- chemprop ----------------------------------------------------------------------------------

st.header("GATE vs chemprop")
data = available("chemprop_compare")
if data is not None:
    c = data.get("comparison") or {}
    ratio, target = bc.num(c.get("ratio_gate_to_best")), bc.num(c.get("target_ratio"))
    cols = st.columns(3)
    cols[0].metric(f"GATE / best baseline ({bc.label(str(c.get('best_baseline')))})", fmt(ratio))
    cols[1].metric("target", f"≤ {fmt(target, '{:.2f}')}")
    cols[2].metric("complete cells", c.get("n_complete_cells", "–"))
    if c.get("passes") is True:
        st.success(f"Target met: GATE's mean nRMSE at n ≤ {c.get('max_n', '?')} is {fmt(ratio)} × the best chemprop baseline's.", icon=":material/check_circle:")
    elif c.get("passes") is False:
        st.warning(f"Target missed: GATE's mean nRMSE at n ≤ {c.get('max_n', '?')} is {fmt(ratio)} × the best chemprop baseline's (target ≤ {fmt(target, '{:.2f}')}).", icon=":material/warning:")
    devices = sorted({str(r.get("device")) for r in data.get("rows") or [] if isinstance(r, dict) and r.get("device")})
    if any(d.startswith("cuda") for d in devices):
        st.caption(f"chemprop rows trained on: {', '.join(devices)} — their wall times are not comparable with CPU timings; the errors are.")
    left, right = st.columns(2)
    if c.get("ratio_gate_to"):
        left.plotly_chart(bc.ratio_figure(c["ratio_gate_to"], target, c.get("max_n")), key="bench_chemprop_ratio")
    sizes = bc.by_size_frame(c.get("mean_nrmse_by_size") or {})
    if len(sizes):
        right.plotly_chart(bc.accuracy_figure(sizes, "Mean normalised RMSE vs n"), key="bench_chemprop_accuracy")

# ---- scaling -----------------------------------------------------------------------------------

st.header("Scaling")
runs = [name for name in ("scaling", "scaling_cuda") if name in results]
if not runs:
    missing("scaling")
else:
    run = runs[0]
    if len(runs) > 1:
        run = st.radio("Run", runs, horizontal=True, key="bench_scaling_run", format_func=lambda n: f"{n} (device {results[n].get('device', '?')})")
    provenance(run)
    curves = results[run].get("curves") or {}
    present = [spec for spec in bc.SCALING_CURVES if curves.get(spec[0])]
    columns = st.columns(2)
    for i, (key, x, ys, xlabel, ylabel, title, logx) in enumerate(present):
        columns[i % 2].plotly_chart(bc.scaling_figure(curves[key], x, ys, xlabel, ylabel, title, logx), key=f"bench_scaling_{key}")
    if not present:
        st.info(f"{run}.json has no curves.")
    checks = {k: results[run][k] for k in ("flat_check", "loglog_exponents") if isinstance(results[run].get(k), dict) and results[run][k]}
    if checks:
        rows = pd.json_normalize(checks, sep=".").T.reset_index()
        rows.columns = ["check", "value"]
        st.markdown("**Flat check and log–log exponents**")
        st.dataframe(rows.astype(str), hide_index=True, width="stretch", key="bench_flat_check")

# ---- speed against targets ---------------------------------------------------------------------

st.header("Speed against the targets")
st.subheader("Featurisation")
data = available("featurization")
if data is not None:
    stages = []
    for stage, s in (data.get("stages") or {}).items():
        leaves = [(stage, s)] if isinstance(s, dict) and "per_second" in s else [(f"{stage}/{k}", v) for k, v in (s or {}).items() if isinstance(v, dict)]
        stages += [(name, bc.num(leaf.get("per_second"))) for name, leaf in leaves]
    t = data.get("target") or {}
    st.plotly_chart(bc.target_bars([n for n, _ in stages], [v for _, v in stages], bc.num(t.get("mol_per_s")), "mol/s",
                                   f"Molecules/s on one core (target applies to {t.get('stage', 'graph_from_mol')})", log=True, judge=False), key="bench_featurization")

st.subheader("Adding a task and predicting")
data = results.get("task_addition")
speed = (data or {}).get("speed") or {}
if data is None:
    missing("task_addition")
elif not speed:
    st.info("task_addition: speed not measured in this run (`--skip-speed`).")
else:
    provenance("task_addition")
    a, t = speed.get("add_task") or {}, speed.get("throughput") or {}
    left, right = st.columns(2)
    if a:
        left.plotly_chart(bc.target_bars([f"add a {a.get('molecules')}-molecule task"], [bc.num(a.get("median_wall_seconds"))], bc.num(a.get("target_seconds")), "s",
                                         f"Add-task time ({speed.get('device', '?')}, {speed.get('torch_threads', '?')} thread(s))", higher_is_better=False), key="bench_add_task_speed")
    if t:
        right.plotly_chart(bc.target_bars(["predict, cold caches", "predict, warm caches", "featurise only, cold"],
                                          [bc.num(t.get("cold_per_second")), bc.num(t.get("warm_per_second")), bc.num(t.get("featurize_only_cold_per_second"))],
                                          bc.num(t.get("target_per_second")), "mol/s", f"Batch prediction throughput ({t.get('molecules', '?')} molecules)"), key="bench_predict_speed")

st.subheader("Pre-training step")
data = available("pretraining_quick")
if data is not None:
    forms = data.get("forms") or {}
    settings = data.get("settings") or {}
    st.plotly_chart(bc.target_bars(list(forms), [1000 * (bc.num(f.get("step_seconds_median")) or 0.0) for f in forms.values()], None, "ms per step",
                                   f"Median optimiser step, {settings.get('tasks', '?')} tasks, batch {settings.get('batch_size', '?')} (none = l_reg only)"), key="bench_pretraining_step")
    st.caption("Step time against the number of tasks (pairwise vs mean) is in Scaling above.")

st.subheader("Page render")
data = available("page_render")
if data is not None:
    pages = data.get("pages") or {}
    st.plotly_chart(bc.target_bars(list(pages), [bc.num(p.get("warm_median_seconds")) for p in pages.values()], bc.num(data.get("target_seconds")), "s",
                                   "Warm browser render time per page (median visit)", higher_is_better=False), key="bench_page_render")

# ---- model quality -----------------------------------------------------------------------------

st.header("Backbone quality")
data = available("backbone_quality")
if data is not None:
    fig = bc.rmse_vs_gate_figure(data)
    if fig is not None:
        st.plotly_chart(fig, key="bench_backbone_quality")
    names = data.get("methods") or {}
    table = pd.DataFrame([{"property": prop, "n test": p.get("n_test"), **{names.get(m, m): bc.num((p.get("methods") or {}).get(m, {}).get("rmse")) for m in names},
                           "winner": names.get(p.get("winner"), p.get("winner"))} for prop, p in (data.get("properties") or {}).items()])
    if len(table):
        st.dataframe(table, hide_index=True, width="stretch", column_config={names.get(m, m): st.column_config.NumberColumn(format="%.4g") for m in names}, key="bench_backbone_table")
        st.caption("Test RMSE in each property's units on the backbone's scaffold test fold.")

st.header("Relational head")
data = available("relational")
if data is not None:
    reveals = (data.get("known_labels") or {}).get("reveals") or {}
    if reveals:
        st.plotly_chart(bc.relational_figure(reveals), key="bench_relational")
    t = data.get("time_to_first_preview") or {}
    if t:
        st.metric(f"time to first preview (target ≤ {fmt(t.get('target_seconds'), '{:.0f}')} s)", f"{fmt(t.get('total_seconds'), '{:.2f}')} s",
                  help="Load the relational head, then preview a new task from raw SMILES with cold featurisation caches.")
