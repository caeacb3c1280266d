"""Known-value corrections on the shipped backbone and relational head (issue 12, item 4).

The browser run that opened the issue: a logS task from Huuskonen molecules, then paracetamol's
logS predicted with logKow entered from −1 to 4. The plain head raised logS with logKow, the
opposite of the general solubility equation; the corrected prediction must never rise with
logKow, and a pair that does not beat the plain prediction on held-out molecules must be
refused with the plain value kept.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gate_core.reliability import NO_RELATION

ROOT = Path(__file__).resolve().parents[2]
PARACETAMOL = "CC(=O)Nc1ccc(O)cc1"
pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def studio_with_logs(tmp_path_factory):
    if not (ROOT / "assets" / "backbone_relational" / "relational.json").is_file():
        pytest.skip("the shipped relational head is not built")
    from gate_core.api import GateStudio
    from gate_core.threads import configure_threads
    from gate_core.transfer.addition import TaskAdditionConfig

    configure_threads(1)
    studio = GateStudio(ROOT / "assets" / "backbone", tmp_path_factory.mktemp("registry"), "cpu")
    frame = pd.read_csv(ROOT / "assets" / "data" / "targets" / "huuskonen_logS.csv").sample(
        300, random_state=0
    )
    studio.add_task(
        frame,
        "smiles",
        "value",
        "logS",
        config=TaskAdditionConfig(ensemble=3, max_steps=100, train_baseline=True),
    )
    return studio


def test_paracetamol_logs_never_rises_with_logkow(studio_with_logs):
    logkow = [-1.0, 0.0, 0.46, 1.0, 2.0, 3.0, 4.0]
    out = studio_with_logs.predict(
        [PARACETAMOL] * len(logkow), ["logS"], known=[{"logKow": v} for v in logkow]
    )
    corrected = out["logS_relational"].to_numpy(dtype=float)
    assert np.isfinite(corrected).all()
    assert (np.diff(corrected) <= 1e-5).all(), (
        f"logS rises with logKow: {corrected}"
    )  # float32 noise of a batch allowed
    verdict = studio_with_logs.pair_verdict("logKow", "logS")
    assert verdict is not None and verdict.relation < 0  # logS falls as logKow rises in the data
    if not verdict.accepted:  # refused: the plain value, and the page can say why
        np.testing.assert_allclose(corrected, out["logS"].to_numpy(dtype=float))
        assert out["logS_relational_note"].str.contains(NO_RELATION).all()


def test_a_pair_that_does_not_help_on_held_out_molecules_is_refused(studio_with_logs):
    refused = [
        (k, v)
        for k in studio_with_logs.backbone.task_names
        if (v := studio_with_logs.pair_verdict(k, "logS")) is not None
        and v.rmse_corrected is not None
        and v.rmse_corrected >= v.rmse_plain
    ]
    assert refused, "expected at least one backbone property whose correction does not help logS"
    known, verdict = refused[0]
    assert not verdict.accepted and "does not beat the plain prediction" in verdict.reason
    out = studio_with_logs.predict([PARACETAMOL, "CCO"], ["logS"], known={known: 1.0})
    np.testing.assert_allclose(out["logS_relational"], out["logS"])
    assert out["logS_relational_lo90"].isna().all()
    assert out["logS_relational_note"].str.contains(f"{known} → logS: {NO_RELATION}").all()
    assert (out["logS_lo90"] < out["logS"]).all() and (
        out["logS"] < out["logS_hi90"]
    ).all()  # the plain value keeps its own interval
