"""gate_core.transfer.ratios: the look-ahead hypergradient against finite differences, and λ's modes.

The hypergradient is checked against the definition it claims to compute (DESIGN §5): central
finite differences, in float64, of

    λ ↦ L_val(θ − η ∇_θ L_in(θ; λ)),   L_in = l_reg + α·l_auto + Σ_s λ_s A_s(θ)

written out here by hand (one plain gradient step on a copy of the task modules, then the
validation MSE/BCE of the stepped copy), so the check shares no code with the JVP under test
beyond the objective's forward pass.
"""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F

from gate_core.nn.task_modules import TaskModules
from gate_core.training.evaluate import embed
from gate_core.training.objective import LossWeights
from gate_core.transfer.frozen import compute_frozen_sources
from gate_core.transfer.objective import TaskAdditionLoss
from gate_core.transfer.ratios import RatioSettings, TransferRatios, lookahead_hypergradient

SOURCES = ["a", "b", "c", "d"]


# ---- the hypergradient -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def double_case(backbone, canonical_targets):
    """A float64 copy of the backbone and its frozen cache over 30 molecules."""
    smiles = canonical_targets[:30]
    model = copy.deepcopy(backbone).double()
    h = embed(backbone, smiles).double()
    frozen = compute_frozen_sources(model, smiles, h=h, noise_samples=3, seed=1)
    assert frozen.h.dtype == frozen.u.dtype == frozen.stretch.dtype == torch.float64
    return model, frozen


def _val_after_step(
    loss: TaskAdditionLoss, lam: torch.Tensor, train, val, eta: float, classification: bool
) -> float:
    """L_val of the task modules after one plain gradient step on L_in(θ; λ)."""
    task = loss.task
    reg, auto, align = loss(*train)
    inner = reg + loss.weights.auto * auto + (lam * align).sum()
    params = list(task.parameters())
    grads = torch.autograd.grad(inner, params)
    stepped = copy.deepcopy(task)
    with torch.no_grad():
        for p, g in zip(stepped.parameters(), grads):
            p.sub_(eta * g)
        frozen_val, y_val = val
        pred = stepped.head(stepped.latent(frozen_val.h))
        if classification:
            return float(F.binary_cross_entropy_with_logits(pred, y_val))
        return float(((pred - y_val) ** 2).mean())


@pytest.mark.parametrize(
    ("classification", "align_subsample"),
    [(False, 64), (False, 8), (True, 64)],
    ids=["regression", "regression-subsampled-alignment", "classification"],
)
def test_lookahead_hypergradient_matches_finite_differences(
    double_case, classification, align_subsample
):
    model, frozen = double_case
    n_sources = len(model.task_names)
    assert n_sources == 4
    torch.manual_seed(3)
    cfg = model.config
    task = TaskModules(cfg.representation_dim, cfg.latent_dim, cfg.task_hidden).double()
    loss = TaskAdditionLoss(
        task,
        model,
        LossWeights(auto=0.7, cons=1.0, map=0.5, dis=2.0),
        classification,
        align_subsample,
    )
    n = len(frozen)
    y = (
        (torch.rand(n, dtype=torch.float64) > 0.5).double()
        if classification
        else torch.randn(n, dtype=torch.float64)
    )
    tr, va = torch.arange(0, 20), torch.arange(20, n)
    train = (frozen.subset(tr), y[tr], torch.ones(len(tr), dtype=torch.bool))
    val = (frozen.subset(va), y[va])
    lam = torch.tensor([0.3, 1.0, 2.0, 0.7], dtype=torch.float64)
    eta = 0.1
    before = {k: v.clone() for k, v in task.state_dict().items()}

    hyper = lookahead_hypergradient(loss, lam, train, val, eta)

    assert hyper.shape == (n_sources,)
    for k, v in task.state_dict().items():  # the look-ahead is functional: θ itself is untouched
        assert torch.equal(v, before[k]), k
    eps = 1e-6
    fd = torch.zeros(n_sources, dtype=torch.float64)
    for s in range(n_sources):
        e = torch.zeros(n_sources, dtype=torch.float64)
        e[s] = eps
        fd[s] = (
            _val_after_step(loss, lam + e, train, val, eta, classification)
            - _val_after_step(loss, lam - e, train, val, eta, classification)
        ) / (2 * eps)
    assert fd.abs().max() > 1e-6, "degenerate case: the validation loss does not depend on λ"
    torch.testing.assert_close(hyper.detach(), fd, rtol=1e-5, atol=1e-9)


def test_hypergradient_scales_with_eta(double_case):
    """−η·⟨∇A_s(θ), ∇L_val(θ')⟩: as η → 0 the hypergradient vanishes like η."""
    model, frozen = double_case
    torch.manual_seed(4)
    cfg = model.config
    task = TaskModules(cfg.representation_dim, cfg.latent_dim, cfg.task_hidden).double()
    loss = TaskAdditionLoss(task, model, LossWeights(), False)
    y = torch.randn(len(frozen), dtype=torch.float64)
    tr, va = torch.arange(0, 20), torch.arange(20, len(frozen))
    train = (frozen.subset(tr), y[tr], torch.ones(20, dtype=torch.bool))
    val = (frozen.subset(va), y[va])
    lam = torch.ones(4, dtype=torch.float64)
    small = lookahead_hypergradient(loss, lam, train, val, 1e-4).detach()
    smaller = lookahead_hypergradient(loss, lam, train, val, 1e-5).detach()
    assert small.abs().max() > 0
    torch.testing.assert_close(smaller * 10, small, rtol=1e-2, atol=0.0)


# ---- λ: modes, pins, exclusions ----------------------------------------------------------------


def test_learned_mode_starts_at_one_and_is_softplus_of_phi():
    ratios = TransferRatios(SOURCES, RatioSettings(mode="learned"))
    assert ratios.any_learnable
    torch.testing.assert_close(ratios(), torch.ones(4))
    with torch.no_grad():
        ratios.phi.copy_(torch.tensor([-2.0, 0.0, 1.0, 3.0]))
    torch.testing.assert_close(ratios(), F.softplus(torch.tensor([-2.0, 0.0, 1.0, 3.0])))
    assert bool((ratios() > 0).all())
    ratios().sum().backward()
    assert bool((ratios.phi.grad > 0).all()), "every learned λ must get a gradient"


def test_uniform_mode_is_all_ones_and_not_learnable():
    ratios = TransferRatios(SOURCES, RatioSettings(mode="uniform"))
    assert not ratios.any_learnable
    with torch.no_grad():
        ratios.phi.fill_(5.0)  # φ is ignored
    assert torch.equal(ratios(), torch.ones(4))
    ratios().sum().backward()
    assert ratios.phi.grad is None or torch.equal(ratios.phi.grad, torch.zeros(4))


def test_off_mode_is_all_zeros():
    ratios = TransferRatios(SOURCES, RatioSettings(mode="off"))
    assert not ratios.any_learnable
    assert torch.equal(ratios(), torch.zeros(4))


@pytest.mark.parametrize("mode", ["learned", "uniform", "off"])
def test_pinned_and_excluded_sources_are_fixed_in_every_mode(mode):
    ratios = TransferRatios(SOURCES, RatioSettings(mode=mode, pinned={"b": 0.25}, excluded=["d"]))
    with torch.no_grad():
        ratios.phi.copy_(torch.tensor([2.0, 2.0, 2.0, 2.0]))
    lam = ratios()
    assert lam[1].item() == pytest.approx(0.25)
    assert lam[3].item() == 0.0
    expected_free = {"learned": F.softplus(torch.tensor(2.0)).item(), "uniform": 1.0, "off": 0.0}[
        mode
    ]
    assert lam[0].item() == pytest.approx(expected_free) and lam[2].item() == pytest.approx(
        expected_free
    )
    assert ratios.any_learnable == (mode == "learned")
    if mode == "learned":
        lam.sum().backward()
        grad = ratios.phi.grad
        assert grad[1].item() == 0.0, "a pinned λ must get no gradient"
        assert grad[3].item() == 0.0, "an excluded λ must get no gradient"
        assert grad[0].item() > 0 and grad[2].item() > 0


def test_pinned_value_survives_outer_optimiser_steps():
    ratios = TransferRatios(SOURCES, RatioSettings(mode="learned", pinned={"a": 2.5}))
    opt = torch.optim.Adam([ratios.phi], lr=0.5)
    for _ in range(3):
        opt.zero_grad()
        ratios().backward(torch.ones(4))  # a hypergradient that pushes every λ down
        opt.step()
    lam = ratios()
    assert lam[0].item() == pytest.approx(2.5)
    assert bool((lam[1:] < 1.0).all()), "the free ratios should have moved"


def test_ratios_buffers_are_in_state_dict():
    ratios = TransferRatios(SOURCES, RatioSettings(mode="learned", pinned={"c": 0.5}))
    state = ratios.state_dict()
    assert set(state) == {"phi", "fixed", "learnable"}
    assert state["learnable"].tolist() == [True, True, False, True]


# ---- settings validation -------------------------------------------------------------------------


def test_validate_accepts_good_settings():
    RatioSettings(mode="uniform", pinned={"a": 0.0, "b": 3.0}, excluded=["c"]).validate(SOURCES)


@pytest.mark.parametrize(
    ("settings", "match"),
    [
        (RatioSettings(pinned={"logS": 1.0}), "unknown source task 'logS'.*a, b, c, d"),
        (RatioSettings(excluded=["nope"]), "unknown source task 'nope'"),
    ],
    ids=["unknown-pinned", "unknown-excluded"],
)
def test_validate_errors(settings, match):
    with pytest.raises(ValueError, match=match):
        settings.validate(SOURCES)
    with pytest.raises(ValueError, match=match):  # the module refuses them too
        TransferRatios(SOURCES, settings)


@pytest.mark.parametrize(
    "value", [-0.1, math.nan, math.inf, 10.5], ids=["negative", "nan", "inf", "above-10"]
)
def test_a_pin_out_of_range_is_refused_when_built(value):
    """The range the page's widget offers (options.PINNED_RATIO): the CLI and the API refuse
    the same pins, before any featurisation."""
    with pytest.raises(ValueError, match="pinned ratio for a: a pinned ratio must be from 0 to 10"):
        RatioSettings(pinned={"a": value})


@pytest.mark.parametrize(
    ("options", "match"),
    [
        (
            {"mode": "sometimes"},
            "unknown transfer-ratio mode 'sometimes'; choose one of: learned, uniform, off",
        ),
        (
            {"pinned": {"a": 1.0, "b": 2.0}, "excluded": ["b", "a"]},
            "both pinned and excluded: a, b",
        ),
    ],
    ids=["bad-mode", "pinned-and-excluded"],
)
def test_settings_refuse_contradictions_when_built(options, match):
    """Refused where the settings are made, so no interface can let one option win silently."""
    with pytest.raises(ValueError, match=match):
        RatioSettings(**options)


def test_transferability_scores_a_source_by_what_its_prediction_explains_of_the_target():
    import torch

    from gate_core.transfer.ratios import ratios_from_scores, transferability

    gen = torch.Generator().manual_seed(0)
    y = torch.randn(200, generator=gen)
    copy = y + 0.3 * torch.randn(200, generator=gen)
    noise = torch.randn(200, generator=gen)
    family = torch.stack(
        [noise, 2 * y + 0.1 * torch.randn(200, generator=gen), torch.randn(200, generator=gen)],
        dim=1,
    )
    y_hat = torch.zeros(3, 200, 3)
    y_hat[0, :, 0], y_hat[1, :, 0], y_hat[2] = copy, noise, family
    scores = transferability(y_hat, [1, 1, 3], y)
    assert scores[0] > 0.8 and scores[1] < 0.05 and scores[2] > 0.9, (
        scores
    )  # a vector source counts all its outputs
    lam = ratios_from_scores(scores)
    assert torch.isclose(lam.mean(), torch.tensor(1.0), atol=0.05) and lam[1] < 0.1 < lam[0]
    assert torch.equal(
        ratios_from_scores(torch.zeros(3)), torch.ones(3)
    )  # nothing explains the target: uniform


def test_learned_mode_leaves_out_sources_without_held_out_skill():
    from gate_core.transfer.ratios import without_unskilled

    skill = {"a": 0.8, "b": -0.05, "c": 0.0, "d": 0.3}
    settings, left_out = without_unskilled(RatioSettings(mode="learned", pinned={"c": 0.5}), skill)
    assert left_out == ["b"]  # c is pinned by the user: the pin stands
    ratios = TransferRatios(SOURCES, settings)()
    assert ratios[1].item() == 0.0 and ratios[2].item() == 0.5
    assert ratios[0].item() > 0 and ratios[3].item() > 0


@pytest.mark.parametrize("mode", ["uniform", "off"])
def test_uniform_and_off_are_left_as_asked(mode):
    from gate_core.transfer.ratios import without_unskilled

    settings = RatioSettings(mode=mode)
    assert without_unskilled(settings, {"a": -1.0}) == (settings, [])
