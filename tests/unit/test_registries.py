"""gate_core.registries: one vocabulary per option, read by the CLI, the schemas and validation."""

from __future__ import annotations

import argparse

import pytest

from gate_core.registries import AUTO_MODEL, MODELS, RATIO_MODES, TASK_TYPES, Registry


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


def _choices(verb: str = "add-task") -> dict[str, list[str]]:
    from gate_core.cli import build_parser

    verbs = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    parser = verbs.choices[verb]
    return {a.dest: list(a.choices) for a in parser._actions if a.choices is not None}


def test_cli_choices_and_schemas_read_the_registries():
    from gate_core.registry.schema import TASK_SCHEMA
    from gate_core.transfer.task_check import TASK_FILE_SCHEMA

    choices = _choices()
    assert choices["task_type"] == TASK_TYPES.names == ["regression", "classification"]
    assert choices["ratios"] == RATIO_MODES.names == ["learned", "uniform", "off"]
    assert TASK_SCHEMA["properties"]["task_type"]["enum"] == TASK_TYPES.names
    assert (
        TASK_FILE_SCHEMA["properties"]["info"]["properties"]["task_type"]["enum"]
        == TASK_TYPES.names
    )


def test_alignment_forms_and_corrections_are_read_from_the_registries():
    """pretrain --alignment-form and pretrain-relational --correction offer the registries'
    names, and the configs behind them refuse anything else when they are built."""
    from gate_core.registries import ALIGNMENT_FORMS, CORRECTIONS
    from gate_core.relational.head import RelationalConfig
    from gate_core.training.pretrain import PretrainConfig

    assert _choices("pretrain")["alignment_form"] == ALIGNMENT_FORMS.names
    assert _choices("pretrain-relational")["correction"] == CORRECTIONS.names
    with pytest.raises(ValueError, match="unknown alignment form 'pariwise'; choose one of"):
        PretrainConfig(alignment_form="pariwise")
    with pytest.raises(ValueError, match="unknown split 'scafold'"):
        PretrainConfig.from_dict({"split": "scafold"})
    with pytest.raises(ValueError, match="unknown relational correction 'even'"):
        RelationalConfig(chart_dim=4, tasks=["a"], correction="even")


def test_task_info_refuses_an_unregistered_task_type():
    from gate_core.models.gate import TaskInfo

    with pytest.raises(ValueError, match="unknown task type 'ordinal'; choose one of: regression"):
        TaskInfo("t", task_type="ordinal")


def test_model_choices_in_cli_and_pages_read_the_registry():
    from gate_app.tables import tasks_frame
    from gate_app.trust_views import comparison_frame
    from gate_core.registry import TaskRecord

    assert MODELS.names == ["gate", "probe", "preview"]
    assert _choices()["model"] == [AUTO_MODEL, *MODELS.names]
    assert _choices("choose-model")["model"] == MODELS.names
    scores = {m: {"rmse": 0.5} for m in reversed(MODELS.names)}
    frame = comparison_frame(scores, {}, "probe", "gate", classification=False)
    assert frame["model"].tolist() == list(MODELS.values())  # in the registry's order
    record = TaskRecord(name="t", unit="u", task_type="regression", metrics={"model": "probe"})
    assert tasks_frame([record])["answering model"].tolist() == [MODELS["probe"]]


def test_the_api_refuses_an_unknown_model_before_training(tiny_model, tmp_path):
    import pandas as pd

    from gate_core.api import GateStudio
    from gate_core.models.checkpoint import save_checkpoint

    studio = GateStudio(save_checkpoint(tiny_model(), tmp_path / "backbone"), tmp_path / "data")
    frame = pd.DataFrame({"smiles": ["CCO", "CCN"], "y": [1.0, 2.0]})
    message = "unknown model 'forest'; choose auto or one of: gate, probe, preview"
    with pytest.raises(ValueError, match=message):
        studio.add_task(frame, "smiles", "y", "solubility", model="forest")
    with pytest.raises(ValueError, match="unknown model 'forest'; choose one of: gate, probe"):
        studio.choose_model("solubility", "forest")
    assert studio.registry.list_tasks() == []


def test_the_registry_database_accepts_exactly_the_task_types():
    """The SQL CHECK is a frozen migration (schema version 1), so it cannot read the registry;
    this keeps the two equal: a new task type needs a migration."""
    import re

    from gate_core.registry.database import _V1

    check = re.search(r"task_type IN \(([^)]*)\)", " ".join(_V1))
    assert check and re.findall(r"'(\w+)'", check.group(1)) == TASK_TYPES.names
