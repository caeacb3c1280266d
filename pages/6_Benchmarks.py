"""Benchmarks: what accuracy to expect on data like yours, then any stored result in detail.

Reads ``bench/results/*`` (``GATE_BENCH_RESULTS`` overrides the folder) as data: the JSON for the
summary and the charts, ``<name>.md`` (rendered once by the bench module) for the tables. Runs
nothing and loads no model; machine, code and command sit in a folded expander per result.
"""

from pathlib import Path

import streamlit as st

from gate_app import bench_charts, bench_results, bench_summary

st.set_page_config(page_title="Benchmarks · GATE Studio", layout="wide")
st.title("Benchmarks")
st.caption(
    "How well a task added to the backbone predicts new molecules, against the tools a chemist "
    "would otherwise use, and how fast the app is. `python -m bench report` writes the same "
    "results to `docs/benchmarks.md`."
)


@st.cache_data(max_entries=128, show_spinner=False)
def _read(path: str, mtime_ns: int) -> dict | str | None:
    p = Path(path)
    if p.suffix == ".md":
        return bench_results.read_markdown(p.parent, p.stem)
    return bench_results.read_json(p)


def read(path: Path) -> dict | str | None:
    try:
        return _read(str(path), path.stat().st_mtime_ns)
    except OSError:
        return None


folder = bench_results.results_dir()
names = bench_results.result_names(folder)
results = {n: d for n in names if isinstance(d := read(folder / f"{n}.json"), dict)}
shipped = bench_results.backbone_id()
main_machine = bench_results.main_machine_key(results)

# ---- the summary -------------------------------------------------------------------------------

st.header("What to expect on your data")
st.markdown(bench_summary.EXPLAIN)
summary_rows = bench_summary.expectation_rows(results, shipped)  # the table, and what opens first
if summary_rows:  # a plain table, the same Markdown the report writes
    st.markdown(bench_summary.summary_table(summary_rows))
for gap in bench_summary.gaps(results, shipped):
    st.warning(gap, icon=":material/warning:")

# ---- every result ------------------------------------------------------------------------------

st.header("Details")


def title_and_body(text: str | None, name: str) -> tuple[str, str]:
    """The Markdown's first heading as the title; the rest with headings demoted under it."""
    if not text:
        return name, ""
    lines = text.splitlines()
    title = name
    if lines and lines[0].startswith("# "):
        title, lines = lines[0][2:].strip(), lines[1:]
    return title, "\n".join("###" + ln if ln.startswith("#") else ln for ln in lines).strip()


def display_titles(names: list[str]) -> dict[str, str]:
    """Each result's title; a title two results share says which result it is."""
    titles = {n: title_and_body(read(folder / f"{n}.md"), n)[0] for n in names}
    twice = {t for t in titles.values() if list(titles.values()).count(t) > 1}
    return {n: f"{t} ({n})" if t in twice else t for n, t in titles.items()}


def show_result(name: str, title: str) -> None:
    """One result in full: its notes, charts, tables (folded when there are charts) and provenance."""
    data = results[name]
    _, body = title_and_body(read(folder / f"{name}.md"), name)
    st.subheader(title, anchor=f"bench-{name}")
    where = (
        "; measured on another machine than most results"
        if bench_results.machine_key(data) != main_machine
        else ""
    )
    st.caption(f"`{name}` · measured {bench_results.measured_date(data)}{where}")
    note = bench_results.backbone_note(name, data, shipped)
    if note and "older backbone" in note:
        st.warning(note, icon=":material/history:")
    elif note:
        st.info(note)
    charts = bench_charts.charts_for(name, data)
    columns = st.columns(2) if len(charts) > 1 else [st.container()]
    for i, (key, fig) in enumerate(charts):
        columns[i % len(columns)].plotly_chart(fig, key=key)
    if body:
        with st.expander("Tables", expanded=not charts):
            st.markdown(body)
    with st.expander("Machine, code and command"):
        facts = bench_results.provenance(data).items()
        st.markdown(
            "\n".join(
                f"- **{k}**: `{v}`" if k == "command" else f"- **{k}**: {v}" for k, v in facts
            )
        )


# One result at a time: every stored result's charts on one page took 5.5 s to draw warm
# (bench/results/page_render.md, target 3 s); ?result=<name> links to one.
stored = [n for n in names if n in results]
titles = display_titles(stored)
for name in names:
    if name not in results:
        st.info(
            f"`{name}`: not run yet: `{bench_results.command_for(name)}`.",
            icon=":material/hourglass_empty:",
        )
if stored:
    # opens on the result the summary's first row comes from, unless a link names another
    led = summary_rows[0]["from"].split(" ·")[0] if summary_rows else None
    first = led if led in stored else stored[0]
    asked = st.query_params.get("result", first)
    choice = st.selectbox(
        f"Result ({len(stored)} stored)",
        stored,
        index=stored.index(asked) if asked in stored else stored.index(first),
        format_func=titles.get,
        key="bench_result",
    )
    st.query_params["result"] = choice
    show_result(choice, titles[choice])
