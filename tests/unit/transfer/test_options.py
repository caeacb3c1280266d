"""gate_core.transfer.options: each task-addition option's default and range, read by the page,
the CLI and TaskAdditionConfig."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gate_core.transfer.addition import TaskAdditionConfig
from gate_core.transfer.options import ENSEMBLE, MAX_STEPS, PINNED_RATIO, TEST_FRACTION, Option


def test_an_option_takes_its_range_and_refuses_the_rest():
    k = Option("k", 5, 1, 10, integer=True)
    assert k.check(1) == 1 and k.check(10) == 10 and k.check(np.int64(3)) == 3
    for bad in (0, 11, 2.5, True, "3", None):
        with pytest.raises(ValueError, match="k must be a whole number from 1 to 10"):
            k.check(bad)
    share = Option("share", 0.0, 0.0, 0.5)
    assert share.check(0) == 0 and share.check(0.5) == 0.5
    for bad in (-0.01, 0.51, math.nan, math.inf):
        with pytest.raises(ValueError, match="share must be from 0 to 0.5"):
            share.check(bad)


def test_the_config_defaults_are_the_options_defaults_and_lie_in_their_ranges():
    config = TaskAdditionConfig()
    assert (config.ensemble, config.max_steps, config.test_fraction) == (
        ENSEMBLE.default,
        MAX_STEPS.default,
        TEST_FRACTION.default,
    )
    for option in (ENSEMBLE, MAX_STEPS, TEST_FRACTION, PINNED_RATIO):
        assert option.check(option.default) == option.default


def test_the_cli_defaults_read_the_options():
    from gate_core.cli import build_parser

    args = build_parser().parse_args(
        ["add-task", "--data", "x.csv", "--smiles-col", "s", "--target-col", "v", "--name", "t"]
    )
    assert (args.ensemble, args.max_steps, args.test_fraction) == (
        ENSEMBLE.default,
        MAX_STEPS.default,
        TEST_FRACTION.default,
    )
