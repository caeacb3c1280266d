"""EarlyStopping: best weights kept and restored, patience counted on checks without improvement."""

import torch

from gate_core.training.early_stopping import EarlyStopping


def test_keeps_best_weights_and_stops_after_patience():
    layer = torch.nn.Linear(1, 1)
    stopper = EarlyStopping(layer, patience=2, min_delta=0.01)
    values = [1.0, 0.5, 0.495, 0.7]  # 0.495 is not better by min_delta
    stops = []
    for step, value in enumerate(values, start=1):
        with torch.no_grad():
            layer.weight.fill_(float(step))
        stops.append(stopper.update(value, step))
    assert stops == [False, False, False, True]
    assert stopper.best == 0.5 and stopper.best_step == 2
    stopper.restore()
    assert float(layer.weight) == 2.0


def test_no_improvement_leaves_weights_and_reports_no_step():
    layer = torch.nn.Linear(1, 1)
    before = layer.weight.detach().clone()
    stopper = EarlyStopping(layer, patience=1)
    assert stopper.update(float("nan"), 1) is True
    stopper.restore()
    assert stopper.best_step == 0 and torch.equal(layer.weight, before)
