"""GATE Studio: the entry script (``streamlit run app.py``) and its home page.

A thin frame: it declares the pages (``st.navigation``) and runs the chosen one. Each page in
``pages/`` is a short script over ``gate_core`` and ``gate_app``. The home page still renders
(with a warning) when no backbone is installed.
"""

import streamlit as st

st.set_page_config(page_title="GATE Studio", layout="wide")
with st.spinner(
    "Starting GATE Studio: loading the chemistry and model libraries…"
):  # seconds of imports on a server's first run
    from gate_app import state, views
    from gate_app.tables import backbone_properties, runs_frame, tasks_frame
    from gate_core.models.gate import SOURCE_KIND_LABELS


def home() -> None:
    """The home page: what the tool does, the backbone card, the added tasks, next steps."""
    st.title("GATE Studio")
    st.markdown(
        "- **Upload** a small dataset of SMILES with one measured property.\n"
        "- **Add it as a new task** onto a pretrained multi-task GATE backbone.\n"
        "- **See** transfer ratios to the known tasks, the latent space, and "
        "predictions with uncertainty."
    )

    try:
        studio = state.get_studio()
    except state.BackboneUnavailable as exc:
        studio = None
        st.warning(str(exc), icon=":material/warning:")

    if studio is not None:
        state.get_worker()
        state.warm_umap()
        pre = studio.backbone_metadata.get("pretraining", {})
        st.header("Backbone")
        cols = st.columns(4)
        cols[0].metric("source properties", len(studio.source_tasks))
        cols[1].metric("molecules", f"{pre.get('n_molecules', 0):,}")
        cols[2].metric("labels", f"{pre.get('n_labels', 0):,}")
        cols[3].metric("backbone id", studio.backbone_id[:8])
        props = backbone_properties(studio)
        for number, (kind, group) in enumerate(
            props.groupby("kind", sort=False)
        ):  # experimental first, then computed
            st.markdown(
                f"**{'Experimental properties' if kind == SOURCE_KIND_LABELS['measured'] else kind[:1].upper() + kind[1:]}** ({len(group)})"
            )
            table = group.drop(columns="kind")
            st.dataframe(
                table,
                hide_index=True,
                width="stretch",
                height=views.table_height(len(table)),
                column_config=views.number_columns(table),
                key="home_backbone" if number == 0 else f"home_backbone_{number}",
            )
        st.caption(
            "Test metrics are on the backbone's held-out scaffold split; 'molecules' counts the labelled molecules per property."
        )

        st.header("Added tasks")
        records = studio.added_tasks()
        if records:
            table = tasks_frame(records).drop(columns=["description"])
            st.dataframe(
                table,
                hide_index=True,
                width="stretch",
                column_config=views.number_columns(table),
                key="home_tasks",
                placeholder="",  # a score a task does not have is blank, not "None"
            )
        else:
            st.info("No tasks added yet.")
        active = [r for r in studio.registry.list_runs(limit=20) if not r.is_final]
        if active:
            st.markdown(f"**{len(active)} run(s) queued or training**")
            st.dataframe(
                runs_frame(active),
                hide_index=True,
                width="stretch",
                column_config={"progress": views.PROGRESS},
            )

    st.header("Next steps")
    for column, page in zip(st.columns(5), ["add", "ratios", "latent", "predict", "tasks"]):
        with column:
            views.page_link(page)


navigation = st.navigation(
    [st.Page(home, title="Home", icon=":material/home:", default=True)]
    + [
        st.Page(page.path, title=page.title, icon=page.icon, url_path=page.url_path)
        for page in views.PAGES.values()
    ]
)
navigation.run()
