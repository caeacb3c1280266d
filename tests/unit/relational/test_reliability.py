"""gate_core.reliability: backbone intervals from its validation split, and known-value corrections only where they help."""

from __future__ import annotations

import numpy as np
import pytest

from gate_core.reliability import (
    NO_RELATION,
    BackboneCalibration,
    PairGate,
    PairVerdict,
    judge_pair,
    known_slopes,
)

QUERY = ["CCO", "c1ccccc1O", "CCCCCCO", "CC(=O)Oc1ccccc1C(=O)O", "CCN(CC)CC", "ClC(Cl)Cl"]


@pytest.fixture(scope="module")
def studio(rel_backbone_path, rel_head_path, tmp_path_factory):
    from gate_core.api import GateStudio

    return GateStudio(rel_backbone_path, tmp_path_factory.mktemp("registry"), "cpu")


# ---- judging one pair ------------------------------------------------------------------------


def _pair(rng, n=60, gain=0.3, slope=1.0, relation=0.8):
    y = rng.normal(size=n)
    plain = y + rng.normal(scale=1.0, size=n)
    corrected = y + (plain - y) * (1 - gain)
    return judge_pair("A", "B", y, plain, corrected, np.full(n, slope), relation, np.ones(n))


def test_a_pair_that_helps_in_the_right_direction_is_accepted_with_its_own_interval():
    verdict = _pair(np.random.default_rng(0))
    assert verdict.accepted and verdict.gain == pytest.approx(0.3, abs=1e-9)
    assert (
        verdict.interval
        and verdict.interval["level"] == 0.9
        and verdict.interval["n_calibration"] == 60
    )


@pytest.mark.parametrize(
    ("kwargs", "why"),
    [
        ({"gain": 0.0}, "does not beat the plain prediction"),
        ({"gain": -0.2}, "does not beat the plain prediction"),
        ({"slope": -1.0}, "runs against the relation"),
        ({"relation": 0.02}, "not related"),
        ({"relation": None}, "not related"),
        ({"n": 10}, "too few"),
    ],
)
def test_a_pair_that_does_not_help_is_refused(kwargs, why):
    verdict = _pair(np.random.default_rng(1), **kwargs)
    assert not verdict.accepted and verdict.interval is None
    assert verdict.reason.startswith(NO_RELATION) and why in verdict.reason


def test_direction_check_per_molecule():
    verdict = PairVerdict("logKow", "logS", 50, -0.7, 1.0, 0.9, -0.2, True, "accepted")
    np.testing.assert_array_equal(
        verdict.direction_ok(np.array([-0.3, 0.0, 0.4])), [True, True, False]
    )


def test_pair_gate_round_trips():
    gate = PairGate("bb", "head", {PairGate.key("A", "B"): _pair(np.random.default_rng(2))})
    again = PairGate.from_dict(gate.to_dict())
    assert (
        again.accepted("A", "B")
        and not again.accepted("B", "A")
        and again.verdict("B", "A") is None
    )
    assert again.verdicts == gate.verdicts


# ---- backbone properties get intervals and domains ------------------------------------------------


def test_backbone_properties_get_a_calibrated_interval_and_domain_words(studio, rel_backbone):
    model, _meta = rel_backbone
    out = studio.predict(QUERY, model.task_names[:3])
    for task in model.task_names[:3]:
        lo, mid, hi = (out[c].to_numpy(dtype=float) for c in (f"{task}_lo90", task, f"{task}_hi90"))
        assert (lo < mid).all() and (mid < hi).all()
        assert set(out[f"{task}_domain"]) <= {
            "inside",
            "near the edge",
            "outside the training data",
        }
        assert out[f"{task}_ad_score"].notna().all()
    calibration = studio.backbone_calibration()
    assert set(calibration.calibrations) <= set(model.task_names) and calibration.calibrations
    # cached on disk: a fresh load gives the same intervals
    loaded = BackboneCalibration.load(studio.reliability.folder / f"backbone-{studio.backbone_id}")
    assert loaded.calibrations == calibration.calibrations


def test_backbone_interval_covers_the_validation_residuals_at_its_level(studio, rel_backbone):
    from gate_core.reliability import held_out_split

    model, meta = rel_backbone
    held, _, _ = held_out_split(model, meta, "val")
    calibration = studio.backbone_calibration()
    for k, task in enumerate(model.task_names):
        if task not in calibration.calibrations:
            continue
        rows = np.isfinite(held.Y[:, k])
        import torch

        ad = (
            calibration.domains[task]
            .score(held.chart[torch.as_tensor(np.flatnonzero(rows))])
            .numpy()
        )
        lo, hi = calibration.calibrations[task].interval.bounds(held.plain[rows, k], ad)
        assert (
            (lo <= held.Y[rows, k]) & (held.Y[rows, k] <= hi)
        ).mean() >= 0.9  # conformal: ≥ level on its own residuals


# ---- corrections only through accepted pairs ---------------------------------------------------------


def _inject(studio, verdicts: dict[str, PairVerdict]) -> None:
    from gate_core.models.fingerprint import backbone_fingerprint

    predictor = studio.relational()
    gate = studio.reliability.pair_gate(
        predictor
    )  # computed on the tiny head, then overridden for the test
    studio.reliability._gates[backbone_fingerprint(predictor.head)] = PairGate(
        gate.backbone_id, gate.head_id, verdicts
    )


def test_a_refused_pair_gives_the_plain_value_and_says_so(studio):
    _inject(studio, {})
    out = studio.predict(QUERY, ["Tm_K"], known={"Tb_K": 400.0})
    ok = out["error"].isna()
    np.testing.assert_allclose(out.loc[ok, "Tm_K_relational"], out.loc[ok, "Tm_K"])
    assert out.loc[ok, "Tm_K_relational_lo90"].isna().all()
    assert out.loc[ok, "Tm_K_relational_note"].str.contains(NO_RELATION).all()


def test_an_accepted_pair_corrects_only_molecules_where_it_follows_the_relation(studio):
    import torch

    from gate_core.training.evaluate import embed

    interval = {"level": 0.9, "quantile": 5.0, "n_calibration": 100}
    for relation in (1.0, -1.0):
        _inject(
            studio,
            {
                PairGate.key("Tb_K", "Tm_K"): PairVerdict(
                    "Tb_K", "Tm_K", 100, relation, 10.0, 9.0, relation, True, "accepted", interval
                )
            },
        )
        out = studio.predict(QUERY, ["Tm_K"], known={"Tb_K": 400.0})
        predictor = studio.relational()
        with torch.no_grad():
            slopes = known_slopes(
                predictor,
                embed(studio.backbone, out["smiles"].tolist()),
                ["Tm_K"],
                "Tb_K",
                np.full(len(QUERY), 400.0),
            )[:, 0]
        follows = slopes * relation >= 0
        corrected = out["Tm_K_relational_note"].str.startswith("corrected by Tb_K").to_numpy()
        np.testing.assert_array_equal(corrected, follows)
        plain_rows = ~corrected
        np.testing.assert_allclose(
            out.loc[plain_rows, "Tm_K_relational"], out.loc[plain_rows, "Tm_K"]
        )
        assert (
            out.loc[plain_rows, "Tm_K_relational_note"]
            .str.contains("runs against the relation")
            .all()
        )
        width = (out["Tm_K_relational_hi90"] - out["Tm_K_relational_lo90"]).to_numpy()
        np.testing.assert_allclose(
            width[corrected],
            2 * 5.0 * np.clip(out["Tm_K_ad_score"].to_numpy()[corrected], 0.5, 4.0),
            rtol=1e-6,
        )
    studio.reliability._gates.clear()


def test_without_known_values_nothing_is_corrected(studio):
    out = studio.predict(QUERY[:2], ["Tm_K"], known={})
    np.testing.assert_allclose(out["Tm_K_relational"], out["Tm_K"])
    assert (out["Tm_K_relational_note"] == "").all()
