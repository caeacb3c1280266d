"""The shared training loop: budget, early stopping, the epoch callback, resume, logging."""

from __future__ import annotations

import json

import pytest
import torch

from gate_core.training.engine import EpochEnd, FitConfig, Progress, Step, fit

X = torch.linspace(-1, 1, 12).unsqueeze(1)
Y = 3 * X + 1


def _batches(_epoch: int) -> list[torch.Tensor]:
    return [torch.arange(i, i + 4) for i in range(0, 12, 4)]  # 3 batches of 4 molecules


def _setup(seed: int = 0) -> tuple[torch.nn.Linear, torch.optim.Optimizer]:
    torch.manual_seed(seed)
    layer = torch.nn.Linear(1, 1)
    return layer, torch.optim.SGD(layer.parameters(), lr=0.1)


def _step(layer: torch.nn.Linear):
    def step(index: torch.Tensor) -> Step:
        loss = ((layer(X[index]) - Y[index]) ** 2).mean()
        return Step(loss, {"mse": loss}, len(index))

    return step


def test_epoch_callback_sees_every_epoch_and_each_is_logged(tmp_path):
    layer, optimizer = _setup()
    seen: list[int] = []
    log = tmp_path / "train.jsonl"

    def on_epoch(end: EpochEnd) -> None:
        seen.append(end.progress.epoch)
        assert end.progress.history[-1] is end.record and end.progress.train_seconds > 0

    result = fit(
        layer,
        optimizer,
        _batches,
        _step(layer),
        lambda train: {"loss": train["mse"]},
        FitConfig(epochs=5, patience=10, monitor="loss"),
        on_epoch=on_epoch,
        log_path=log,
    )
    assert seen == [1, 2, 3, 4, 5] and result.epochs_run == 5 and result.stopped_by == "epochs"
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2, 3, 4, 5]
    assert records == result.history
    losses = [r["train_mse"] for r in records]
    assert losses[-1] < losses[0]  # the loop really steps the optimizer
    assert all(r["val_loss"] == r["train_mse"] for r in records)  # validate got the epoch's means
    assert not layer.training


def test_early_stopping_restores_the_best_epochs_weights():
    layer, optimizer = _setup()
    scores = iter([1.0, 0.5, 0.7, 0.8, 0.1])
    weights: dict[int, torch.Tensor] = {}

    def on_epoch(end: EpochEnd) -> None:
        weights[end.progress.epoch] = layer.weight.detach().clone()

    result = fit(
        layer,
        optimizer,
        _batches,
        _step(layer),
        lambda _: {"score": next(scores)},
        FitConfig(epochs=5, patience=2, monitor="score"),
        on_epoch=on_epoch,
    )
    assert result.stopped_by == "patience" and result.epochs_run == 4  # 0.7 and 0.8 brought nothing
    assert result.best_epoch == 2 and result.best_score == 0.5
    assert not torch.equal(weights[2], weights[4])
    assert torch.equal(layer.weight, weights[2])


def test_time_budget_stops_mid_epoch():
    layer, optimizer = _setup()
    steps = []

    def step(index: torch.Tensor) -> Step:
        steps.append(index)
        return _step(layer)(index)

    result = fit(
        layer,
        optimizer,
        _batches,
        step,
        lambda _: {"loss": 1.0},
        FitConfig(epochs=50, patience=50, monitor="loss", max_minutes=1e-9),
    )
    assert result.stopped_by == "time" and result.epochs_run == 1
    assert len(steps) == 1, "the budget is checked after every step, not only between epochs"


def test_resume_continues_after_the_saved_epoch():
    layer, optimizer = _setup()
    earlier = [{"epoch": 1, "val_loss": 2.0}, {"epoch": 2, "val_loss": 1.5}]

    def resume(stopper) -> Progress:
        stopper.update(1.5, 2)
        return Progress(2, earlier, 7.0)

    result = fit(
        layer,
        optimizer,
        _batches,
        _step(layer),
        lambda _: {"loss": 3.0},
        FitConfig(epochs=4, patience=10, monitor="loss"),
        resume=resume,
    )
    assert [r["epoch"] for r in result.history] == [1, 2, 3, 4]
    assert result.history[:2] == earlier and result.train_seconds > 7.0
    assert result.best_epoch == 2  # the restored early-stopping state still holds the best epoch


def test_nan_scores_leave_the_weights_and_report_no_best_epoch():
    layer, optimizer = _setup()
    result = fit(
        layer,
        optimizer,
        _batches,
        _step(layer),
        lambda _: {"loss": float("nan")},
        FitConfig(epochs=3, patience=2, monitor="loss"),
    )
    assert result.best_epoch == 0 and result.stopped_by == "patience"


def test_same_seed_same_weights_and_clipping_applies():
    runs = []
    for _ in range(2):
        layer, optimizer = _setup(seed=3)
        fit(
            layer,
            optimizer,
            _batches,
            _step(layer),
            lambda t: {"loss": t["mse"]},
            FitConfig(epochs=3, patience=5, monitor="loss", clip_grad_norm=1e-3),
        )
        runs.append(torch.cat([p.detach().flatten() for p in layer.parameters()]))
    assert torch.equal(runs[0], runs[1])
    start = torch.cat([p.detach().flatten() for p in _setup(seed=3)[0].parameters()])
    # 9 SGD steps at lr 0.1 with the gradient norm clipped to 1e-3 move the weights < 1e-3 in all
    assert float((runs[0] - start).norm()) <= 9 * 0.1 * 1e-3 + 1e-9
    with pytest.raises(KeyError):
        layer, optimizer = _setup()
        fit(
            layer,
            optimizer,
            _batches,
            _step(layer),
            lambda _: {"other": 1.0},
            FitConfig(epochs=1, patience=1, monitor="loss"),
        )
