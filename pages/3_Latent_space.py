"""Latent space: a 2-D map (UMAP or PCA) of molecules in the common chart or in one task's latent.

Points are a sample (≤ 5,000, drawn with WebGL) of a task's training set or of the backbone's
table; colour by a measured value (the default), a predicted one or the applicability-domain
flag. Typed molecules are placed on the fitted map with its ``transform`` (the map is not refitted,
so it does not move) and labelled. Two spaces side by side show how two tasks arrange the same
molecules; the selection is linked: molecules selected in one panel are highlighted in both (the
selection is kept as SMILES in the session, so it survives the redraw and a change of set).
Hover shows a molecule's name (from the uploaded file's name or ID column) and its SMILES.

Users' molecules (typed here, or a task's uploaded or imported rows) are parsed and drawn in the
isolated worker (``gate_core.data.untrusted``), as on the other pages: a molecule that crashes
RDKit costs that job, not the server.
"""

import numpy as np
import pandas as pd
import streamlit as st

from gate_app import charts, state, views
from gate_app.projection import Projection, fit_projection
from gate_core import limits
from gate_core.data.untrusted import draw_isolated, parse_isolated
from gate_core.isolation import WorkerCrashed
from gate_core.latent import COMMON_CHART, backbone_sample, latent_points, latent_spaces
from gate_core.text import plain

SELECTED = "latent_selected"  # canonical SMILES of the molecules selected in either panel

st.set_page_config(page_title="Latent space · GATE Studio", layout="wide")
st.title("Latent space")
st.caption(
    "Each point is a molecule. The **common chart** is where every task's latent is mapped by its transfer "
    "(the applicability domain is measured there); a task's own latent shows how that task arranges molecules. "
    "Distances in a 2-D projection are only roughly faithful."
)
studio = state.require_studio()
umap_ready = state.warm_umap()
records = {r.name: r for r in studio.added_tasks()}
spaces = latent_spaces(studio)
version = {
    name: r.model_dir for name, r in records.items()
}  # a replaced task gets a new folder → new cache key


@st.cache_data(max_entries=8, show_spinner=False)
def sample_from_backbone(n: int) -> pd.DataFrame:
    return backbone_sample(n)


@st.cache_data(max_entries=16, show_spinner=False)
def sample_from_task(name: str, model_dir: str, n: int) -> pd.DataFrame:
    """The task's training molecules (one row per molecule, median value; its name when stored)."""
    data = studio.registry.get_dataset(name)  # the user's rows as uploaded: invalid ones included
    data = data.assign(
        smiles=[p.smiles for p in parse_isolated(data["smiles"].tolist())],
        value=pd.to_numeric(data["value"], errors="coerce"),
    ).dropna(subset=["smiles", "value"])
    merged = data.groupby("smiles", as_index=False)["value"].median()
    if "name" in data:
        names = data.assign(name=data["name"].fillna("").astype(str)).groupby("smiles")["name"]
        joined = names.agg(lambda v: ", ".join(dict.fromkeys(x for x in v if x)))  # distinct names
        merged["name"] = merged["smiles"].map(joined)
    return merged.sample(n=min(n, len(merged)), random_state=0).reset_index(drop=True)


@st.cache_resource(max_entries=16, show_spinner=False)
def fitted(
    backbone_id: str, space: str, space_version: str, smiles: tuple[str, ...], method: str
) -> Projection:
    """The map of the sample, fitted once (a resource: the fitted reducer places new molecules)."""
    return fit_projection(latent_points(studio, list(smiles), space), method)


@st.cache_data(max_entries=64, show_spinner=False)
def placed(
    backbone_id: str,
    space: str,
    space_version: str,
    smiles: tuple[str, ...],
    method: str,
    query: tuple[str, ...],
) -> np.ndarray:
    """Your molecules on the sample's map, by ``transform``: the map itself never moves."""
    return fitted(backbone_id, space, space_version, smiles, method).transform(
        latent_points(studio, list(query), space)
    )


@st.cache_data(max_entries=32, show_spinner=False)
def predicted(
    backbone_id: str, task: str, task_version: str, smiles: tuple[str, ...]
) -> pd.DataFrame:
    return studio.predict(list(smiles), [task])


ALL_TASKS = "training sets of all added tasks"
c1, c2, c3 = st.columns(3)
sources = (
    [f"training set of {n}" for n in records]
    + ([ALL_TASKS] if len(records) > 1 else [])
    + ["sample of the backbone's table"]
)
sample_choice = c1.selectbox("Molecules", sources, key="latent_sample")
n = c2.slider(
    "How many (at most)",
    50,
    5000,
    300,
    step=50,
    key="latent_n",
    help="Above a thousand or so, UMAP takes a while on a small machine.",
)
method = c3.radio("Projection", ["UMAP", "PCA"], horizontal=True, key="latent_method")
if sample_choice.startswith("training set of "):
    task_name = sample_choice.removeprefix("training set of ")
    sample = sample_from_task(task_name, version[task_name], n).rename(
        columns={"value": f"measured {task_name}"}
    )
elif sample_choice == ALL_TASKS:
    parts = [
        sample_from_task(t, version[t], max(10, n // len(records))).assign(task=t) for t in records
    ]
    sample = pd.concat(parts).drop_duplicates("smiles").reset_index(drop=True)
    sample = sample[["smiles", "task", *(["name"] if "name" in sample else [])]]
else:
    sample = sample_from_backbone(n)
    sample = sample.rename(columns={c: f"measured {c}" for c in sample.columns if c != "smiles"})

d1, d2, d3 = st.columns(3)
space = d1.selectbox("Space", spaces, key="latent_space")
measured = [c for c in sample.columns if c.startswith("measured ")]
colour_options = [
    "none",
    *(["task"] if "task" in sample else []),
    *measured,
    *[f"predicted {t}" for t in [*records, *studio.backbone.property_names]],
    *[f"in domain of {t}" for t in records],
]
if (
    st.session_state.get("latent_colour") not in colour_options
):  # first visit, or a molecule set without the last choice
    st.session_state["latent_colour"] = (
        max(measured, key=lambda c: sample[c].notna().sum()) if measured else "none"
    )
colour_by = d2.selectbox("Colour by", colour_options, key="latent_colour")
compare = d3.checkbox("Side by side with a second space", key="latent_compare")
space2 = (
    d3.selectbox("Second space", spaces, index=min(1, len(spaces) - 1), key="latent_space2")
    if compare
    else None
)
query_text = st.text_area(
    "Your molecules to place on the map (one SMILES per line, optionally followed by a name)",
    key="latent_query",
    height=80,
    placeholder="e.g.\nCCO ethanol\nc1ccccc1O phenol",
)

query_lines = [line.strip().split(None, 1) for line in query_text.splitlines() if line.strip()]
try:
    limits.check_typed_entries(len(query_lines))
except limits.TooManyEntries as exc:
    st.error(f"Your molecules were not placed: {exc}", icon=views.ERROR)
    query_lines = []
try:
    query_parsed = [p.smiles for p in parse_isolated([parts[0] for parts in query_lines])]
except WorkerCrashed as exc:  # the server lives on; nothing typed is placed
    st.error(f"Your molecules were not placed: {plain(exc)}.", icon=views.ERROR)
    query_lines, query_parsed = [], []
bad = [parts[0] for parts, c in zip(query_lines, query_parsed) if c is None]
if bad:
    st.warning(f"Not placed (invalid SMILES): {', '.join(bad)}")
query = [c for c in query_parsed if c is not None]
query_names = [
    p[1] if len(p) > 1 else "" for p, c in zip(query_lines, query_parsed) if c is not None
]
smiles = tuple(sample["smiles"]) + tuple(query)
names = [*(sample["name"].fillna("") if "name" in sample else [""] * len(sample)), *query_names]


def colour_values() -> pd.Series | None:
    if colour_by == "none":
        return None
    if colour_by == "task" or colour_by.startswith("measured "):
        return sample[colour_by].reset_index(drop=True)
    task = colour_by.removeprefix("predicted ").removeprefix("in domain of ")
    pred = predicted(studio.backbone_id, task, version.get(task, ""), tuple(sample["smiles"]))
    if colour_by.startswith("in domain of "):
        return (
            pred[f"{task}_in_domain"]
            .map({True: "in domain", False: "out of domain"})
            .fillna("invalid")
            .reset_index(drop=True)
        )
    return pred[task].astype(float).reset_index(drop=True)


def remember_selection(key: str) -> None:
    """A panel's new selection becomes the page's: every panel highlights the same molecules.

    Each point carries its molecule's index (``customdata[0]``); the selection is stored as
    SMILES, so it survives the redraw that shows the highlight (a new chart) and a change of set.
    """
    chosen = {molecule_of(p) for p in st.session_state[key]["selection"]["points"]}
    st.session_state[SELECTED] = [smiles[i] for i in sorted(chosen - {None}) if i < len(smiles)]


def molecule_of(point: dict) -> int | None:
    """The molecule index a selected point carries (``customdata[0]``); the browser sends a
    trace's numeric array as a list, or as an object keyed "0", "1"… (a typed array)."""
    data = point.get("customdata")
    if isinstance(data, dict):
        data = data.get("0")
    elif isinstance(data, (list, tuple)):
        data = data[0] if data else None
    return None if data is None else int(data)


def draw(column, which: str, key: str, selected: list[int]) -> None:
    label = "the common chart" if which == COMMON_CHART else f"the latent space of {which}"
    cold = method == "UMAP" and not umap_ready.is_set()
    first = " (the first UMAP per server compiles its kernels, ~20 s)" if cold else ""
    with st.spinner(f"Projecting {len(smiles)} molecules in {label}{first}…"):
        if method == "UMAP":
            umap_ready.wait()
        base = tuple(sample["smiles"])
        coords = fitted(studio.backbone_id, which, version.get(which, ""), base, method).coords
        mine = (
            placed(studio.backbone_id, which, version.get(which, ""), base, method, tuple(query))
            if query
            else np.zeros((0, 2), np.float32)
        )
    figure = charts.latent_scatter(
        np.concatenate([coords, mine]),
        list(smiles),
        colour_values(),
        colour_by,
        f"{method} of {label}",
        names=names,
        n_query=len(query),
        highlight=selected,
    )
    column.plotly_chart(
        figure,
        key=key,
        on_select=lambda: remember_selection(key),
        selection_mode=("points", "box", "lasso"),
    )


def show_structures(selected: list[int]) -> None:
    """The selected molecules' structures (the first 4), with their names."""
    if not selected:
        hint = " in either panel (both highlight them)" if compare else ""
        st.caption(
            "Hover a point for its name and SMILES; click or box-select points"
            f"{hint} to draw their structures."
        )
        return
    head, clear = st.columns([4, 1])
    more = ": the first 4 are drawn." if len(selected) > 4 else ""
    head.markdown(f"**{len(selected)} selected**{more}")
    clear.button(
        "Clear the selection",
        key="latent_clear",
        on_click=lambda: st.session_state.pop(SELECTED, None),
    )
    shown = selected[:4]
    try:  # drawing is native code: in the worker, like the parsing
        drawings = draw_isolated([smiles[i] for i in shown], (220, 180))
    except WorkerCrashed:
        drawings = [""] * len(shown)
    for cell, i, drawing in zip(st.columns(4), shown, drawings):
        caption = plain(" · ".join(t for t in (names[i], smiles[i]) if t))  # a name is user text
        if drawing:
            cell.image(drawing, caption=caption)
        else:
            cell.caption(f"{caption} (the structure could not be drawn)")


if not len(sample):
    st.warning("No molecules to show.")
    st.stop()
chosen = set(st.session_state.get(SELECTED, []))
selected = [i for i, s in enumerate(smiles) if s in chosen]
if compare and space2:
    left, right = st.columns(2)
    draw(left, space, "latent_plot", selected)
    draw(right, space2, "latent_plot2", selected)
    st.caption(
        "Same molecules, same colours: compare which neighbourhoods each space keeps together."
    )
else:
    draw(st.container(), space, "latent_plot", selected)
show_structures(selected)
