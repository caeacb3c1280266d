"""Transfer ratios: how much each source task helped an added task (DESIGN §5).

λ_s is learned by bi-level optimisation on a validation fold; shown ranked with its spread over
ensemble members, as a share of the total (differences within the spread marked), as a
trajectory over training (top sources highlighted), and for all tasks.
"""

import streamlit as st

from gate_app import charts, state, views
from gate_app.tables import ratio_matrix, trajectory_frame
from gate_core.models.gate import SOURCE_KIND_LABELS
from gate_core.text import plural
from gate_core.transfer.ratio_table import NOT_SIGNIFICANT, ratio_frame

st.set_page_config(page_title="Transfer ratios · GATE Studio", layout="wide")
st.title("Transfer ratios")
st.markdown(
    "Your new task learns partly from the backbone's properties (the **sources**). Its transfer ratio **λ** says how strongly "
    "the new task is pulled towards each source's view of the molecules: **λ = 1** is the default weight, above 1 the source "
    "helped more than average, near 0 it was ignored. The **share** is λ divided by the sum of all λ."
)
st.info(views.RATIO_DISCLAIMER, icon=":material/info:")
studio = state.require_studio()
records = studio.added_tasks()
if not records:
    st.warning("No tasks added yet, so there are no transfer ratios to show.")
    views.page_link("add")
    st.stop()

names = [r.name for r in records]
name = st.selectbox("Task", names, key="ratios_task")
record = next(r for r in records if r.name == name)
task = studio.load_task(name)
ratios = ratio_frame(
    record.ratios, {t.name: SOURCE_KIND_LABELS[t.kind] for t in studio.source_tasks}
)
mode = task.metadata.get("ratio_mode", "learned")
members = len(task.members)
st.caption(
    f"Mode: **{mode}** · ensemble of {plural(members, 'member')} · error bars: standard deviation over members."
)
if mode != "learned":
    st.info(
        f"This task was added with **{mode}** ratios, so λ was not learned and carries no ranking. "
        f"Uniform (every source λ = 1) is the default because learned ratios did not predict measurably "
        "better in our benchmark (see Benchmarks). Add the task again with *learned* ratios to see "
        "which source properties the model leans on."
    )
unskilled = task.metadata.get("unskilled_sources") or []
if unskilled:
    st.info(
        f"Left out (λ = 0): {', '.join(unskilled)}. The backbone cannot predict "
        f"{'this property' if len(unskilled) == 1 else 'these properties'} on its own held-out "
        "molecules (R² ≤ 0), so there is nothing in them to transfer."
    )

left, right = st.columns([3, 2])
left.plotly_chart(charts.ratio_bars(ratios), key="ratios_bars")
table = ratios.assign(share=ratios["share"] * 100)[
    ["source", "kind", "ratio", "ratio_std", "share", "vs_next"]
].rename(
    columns={"ratio": "λ", "ratio_std": "± λ", "share": "share %", "vs_next": "vs the next source"}
)
right.dataframe(
    table,
    hide_index=True,
    width="stretch",
    column_config=views.number_columns(table),
    key="ratios_table",
)
close = int((ratios["vs_next"] == NOT_SIGNIFICANT).sum())
if close:
    right.caption(
        f"'{NOT_SIGNIFICANT}': {plural(close, 'source')} {'differs' if close == 1 else 'differ'} from the next one by less than the ensemble's spread, "
        "so their order is not significant; read the ranking as groups, not as a strict order."
    )

st.subheader("How λ moved during training")
traj = trajectory_frame(task.metadata.get("ratio_trajectories", []), studio.backbone.task_names)
if traj.empty:
    st.caption(
        "No trajectory: the ratios were not learned for this task (uniform/off/pinned mode, "
        "or training stopped before the warm-up ended)."
    )
else:
    options = [
        "mean over members",
        *[f"member {k + 1}" for k in range(int(traj["member"].max()) + 1)],
    ]
    which = st.radio("Show", options, horizontal=True, key="ratios_member")
    member = None if which == options[0] else options.index(which) - 1
    st.plotly_chart(charts.ratio_trajectory(traj, member), key="ratios_trajectory")

st.subheader("All added tasks × source tasks")
matrix = ratio_matrix(records)
if matrix.empty:
    st.caption("No ratios stored.")
else:
    st.plotly_chart(charts.ratio_heatmap(matrix), key="ratios_heatmap")
