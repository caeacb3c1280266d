"""Latent space: a 2-D map (UMAP or PCA) of molecules in the common chart or in one task's latent.

Points are a sample (≤ 5,000, drawn with WebGL) of a task's training set or of the backbone's
table; colour by a measured value (the default), a predicted one or the applicability-domain
flag. Typed molecules are placed on the fitted map with its ``transform`` (the map is not refitted,
so it does not move) and labelled. Two spaces side by side show how two tasks arrange the same
molecules.
"""

import numpy as np
import pandas as pd
import streamlit as st
from rdkit import Chem
from rdkit.Chem import Draw

from gate_app import charts, state
from gate_app.projection import Projection, fit_projection
from gate_core.latent import (
    COMMON_CHART,
    backbone_sample,
    canonical_or_none,
    latent_points,
    latent_spaces,
)

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
version = {name: r.model_dir for name, r in records.items()}  # a replaced task gets a new folder → new cache key


@st.cache_data(max_entries=8, show_spinner=False)
def sample_from_backbone(n: int) -> pd.DataFrame:
    return backbone_sample(n)


@st.cache_data(max_entries=16, show_spinner=False)
def sample_from_task(name: str, model_dir: str, n: int) -> pd.DataFrame:
    data = studio.registry.get_dataset(name)  # the user's rows as uploaded: invalid ones included
    data = data.assign(smiles=canonical_or_none(data["smiles"].tolist()), value=pd.to_numeric(data["value"], errors="coerce")).dropna()
    data = data.groupby("smiles", as_index=False)["value"].median()
    return data.sample(n=min(n, len(data)), random_state=0).reset_index(drop=True)


@st.cache_resource(max_entries=16, show_spinner=False)
def fitted(backbone_id: str, space: str, space_version: str, smiles: tuple[str, ...], method: str) -> Projection:
    """The map of the sample, fitted once (a resource: the fitted reducer places new molecules)."""
    return fit_projection(latent_points(studio, list(smiles), space), method)


@st.cache_data(max_entries=64, show_spinner=False)
def placed(backbone_id: str, space: str, space_version: str, smiles: tuple[str, ...], method: str, query: tuple[str, ...]) -> np.ndarray:
    """Your molecules on the sample's map, by ``transform``: the map itself never moves."""
    return fitted(backbone_id, space, space_version, smiles, method).transform(latent_points(studio, list(query), space))


@st.cache_data(max_entries=32, show_spinner=False)
def predicted(backbone_id: str, task: str, task_version: str, smiles: tuple[str, ...]) -> pd.DataFrame:
    return studio.predict(list(smiles), [task])


ALL_TASKS = "training sets of all added tasks"
c1, c2, c3 = st.columns(3)
sources = [f"training set of {n}" for n in records] + ([ALL_TASKS] if len(records) > 1 else []) + ["sample of the backbone's table"]
sample_choice = c1.selectbox("Molecules", sources, key="latent_sample")
n = c2.slider("How many (at most)", 50, 5000, 300, step=50, key="latent_n", help="Above a thousand or so, UMAP takes a while on a small machine.")
method = c3.radio("Projection", ["UMAP", "PCA"], horizontal=True, key="latent_method")
if sample_choice.startswith("training set of "):
    task_name = sample_choice.removeprefix("training set of ")
    sample = sample_from_task(task_name, version[task_name], n).rename(columns={"value": f"measured {task_name}"})
elif sample_choice == ALL_TASKS:
    parts = [sample_from_task(t, version[t], max(10, n // len(records))).assign(task=t) for t in records]
    sample = pd.concat(parts).drop_duplicates("smiles").reset_index(drop=True)[["smiles", "task"]]
else:
    sample = sample_from_backbone(n)
    sample = sample.rename(columns={c: f"measured {c}" for c in sample.columns if c != "smiles"})

d1, d2, d3 = st.columns(3)
space = d1.selectbox("Space", spaces, key="latent_space")
measured = [c for c in sample.columns if c.startswith("measured ")]
colour_options = ["none", *(["task"] if "task" in sample else []), *measured, *[f"predicted {t}" for t in [*records, *studio.backbone.property_names]], *[f"in domain of {t}" for t in records]]
if st.session_state.get("latent_colour") not in colour_options:  # first visit, or a molecule set without the last choice
    st.session_state["latent_colour"] = max(measured, key=lambda c: sample[c].notna().sum()) if measured else "none"
colour_by = d2.selectbox("Colour by", colour_options, key="latent_colour")
compare = d3.checkbox("Side by side with a second space", key="latent_compare")
space2 = d3.selectbox("Second space", spaces, index=min(1, len(spaces) - 1), key="latent_space2") if compare else None
query_text = st.text_area("Your molecules to place on the map (one SMILES per line)", key="latent_query", height=80)

query_raw = [line.strip() for line in query_text.splitlines() if line.strip()]
query_parsed = canonical_or_none(query_raw)
bad = [q for q, c in zip(query_raw, query_parsed) if c is None]
if bad:
    st.warning(f"Not placed (invalid SMILES): {', '.join(bad)}")
query = [c for c in query_parsed if c is not None]
smiles = tuple(sample["smiles"]) + tuple(query)


def colour_values() -> pd.Series | None:
    if colour_by == "none":
        return None
    if colour_by == "task" or colour_by.startswith("measured "):
        return sample[colour_by].reset_index(drop=True)
    task = colour_by.removeprefix("predicted ").removeprefix("in domain of ")
    pred = predicted(studio.backbone_id, task, version.get(task, ""), tuple(sample["smiles"]))
    if colour_by.startswith("in domain of "):
        return pred[f"{task}_in_domain"].map({True: "in domain", False: "out of domain"}).fillna("invalid").reset_index(drop=True)
    return pred[task].astype(float).reset_index(drop=True)


def draw(column, which: str, key: str) -> None:
    label = "the common chart" if which == COMMON_CHART else f"the latent space of {which}"
    with st.spinner(f"Projecting {len(smiles)} molecules in {label}" + (" (the first UMAP per server compiles its kernels, ~20 s)…" if method == "UMAP" and not umap_ready.is_set() else "…")):
        if method == "UMAP":
            umap_ready.wait()
        base = tuple(sample["smiles"])
        coords = fitted(studio.backbone_id, which, version.get(which, ""), base, method).coords
        mine = placed(studio.backbone_id, which, version.get(which, ""), base, method, tuple(query)) if query else np.zeros((0, 2), np.float32)
    coords = np.concatenate([coords, mine])
    k = len(sample)
    event = column.plotly_chart(
        charts.latent_scatter(coords[:k], list(sample["smiles"]), colour_values(), colour_by, f"{method} of {label}", coords[k:], query),
        key=key,
        on_select="rerun",
        selection_mode=("points", "box", "lasso"),
    )
    show_structures(column, event, coords, list(smiles))


def show_structures(column, event, coords: np.ndarray, all_smiles: list[str]) -> None:
    """Hover shows the SMILES; clicking (or box-selecting) points draws their structures."""
    points = list(event["selection"]["points"]) if event and event.get("selection") else []
    if not points:
        column.caption("Hover a point for its SMILES; click or box-select points to draw their structures.")
        return
    cells = column.columns(min(len(points), 4))
    for cell, point in zip(cells, points[:4]):
        nearest = int(np.argmin((coords[:, 0] - point["x"]) ** 2 + (coords[:, 1] - point["y"]) ** 2))
        mol = Chem.MolFromSmiles(all_smiles[nearest])
        if mol is not None:
            cell.image(Draw.MolToImage(mol, size=(220, 180)), caption=all_smiles[nearest])
    if len(points) > 4:
        column.caption(f"{len(points)} points selected; the first 4 are drawn.")


if not len(sample):
    st.warning("No molecules to show.")
    st.stop()
if compare and space2:
    left, right = st.columns(2)
    draw(left, space, "latent_plot")
    draw(right, space2, "latent_plot2")
    st.caption("Same molecules, same colours: compare which neighbourhoods each space keeps together.")
else:
    draw(st.container(), space, "latent_plot")
