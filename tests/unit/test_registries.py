"""gate_core.registries: one vocabulary per option, read by the CLI, the schemas and validation."""

from __future__ import annotations

import argparse

import pytest

from gate_core.registries import RATIO_MODES, TASK_TYPES, Registry


def test_registry_registers_checks_and_refuses_with_the_choices():
    colours: Registry[str] = Registry("colour")
    colours.register("red", "warm")

    @colours.register("blue")
    def blue() -> str:
        return "cold"

    assert colours.names == ["red", "blue"] and "red" in colours and "green" not in colours
    assert colours.lookup("blue") is blue and colours["red"] == "warm"
    assert colours.check("red") == "red"
    with pytest.raises(ValueError, match="unknown colour 'green'; choose one of: red, blue"):
        colours.lookup("green")
    with pytest.raises(ValueError, match="registered twice"):
        colours.register("red", "again")


def _add_task_choices() -> dict[str, list[str]]:
    from gate_core.cli import build_parser

    verbs = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    add_task = verbs.choices["add-task"]
    return {a.dest: list(a.choices) for a in add_task._actions if a.choices is not None}


def test_cli_choices_and_schemas_read_the_registries():
    from gate_core.registry.schema import TASK_SCHEMA
    from gate_core.transfer.task_check import TASK_FILE_SCHEMA

    choices = _add_task_choices()
    assert choices["task_type"] == TASK_TYPES.names == ["regression", "classification"]
    assert choices["ratios"] == RATIO_MODES.names == ["learned", "uniform", "off"]
    assert TASK_SCHEMA["properties"]["task_type"]["enum"] == TASK_TYPES.names
    assert (
        TASK_FILE_SCHEMA["properties"]["info"]["properties"]["task_type"]["enum"]
        == TASK_TYPES.names
    )


def test_task_info_refuses_an_unregistered_task_type():
    from gate_core.models.gate import TaskInfo

    with pytest.raises(ValueError, match="unknown task type 'ordinal'; choose one of: regression"):
        TaskInfo("t", task_type="ordinal")
