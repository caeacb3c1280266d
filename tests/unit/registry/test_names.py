"""Task-name and member-path validation, including path-traversal attempts."""

import pytest

from gate_core.registry import (
    InvalidNameError,
    RegistryError,
    suggest_task_name,
    validate_task_name,
)
from gate_core.registry.names import validate_member_path


@pytest.mark.parametrize(
    "name", ["logS", "a", "pKa_2.0", "x-y", "9tasks", "A" * 64, "solubility.v2"]
)
def test_valid_names(name):
    assert validate_task_name(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        "..",
        "../etc",
        "../../etc/passwd",
        "a/b",
        "a\\b",
        "..\\x",
        "a..b",
        "/abs",
        "-lead",
        "_lead",
        ".hidden",
        "a b",
        "café",
        "A" * 65,
        "con",
        "CON.txt",
        "lpt1",
        "trailing.",
        "a\x00b",
        "a\nb",
        "logS\n",
        None,
        5,
    ],
)
def test_invalid_names(name):
    with pytest.raises(InvalidNameError):
        validate_task_name(name)


def test_invalid_name_error_is_a_registry_error_and_value_error():
    with pytest.raises(RegistryError, match="'/'"):
        validate_task_name("a/b")
    assert issubclass(InvalidNameError, ValueError)


@pytest.mark.parametrize("path", ["model.pt", "heads/head_0.pt", "a/b/c.json", "x y.csv"])
def test_valid_member_paths(path):
    assert validate_member_path(path) == path


@pytest.mark.parametrize(
    "path",
    [
        "",
        "../x",
        "a/../../b",
        "/etc/passwd",
        "C:/x",
        "c:x",
        "a\\b",
        "..\\..\\x",
        "a//b",
        "./a",
        "a/.",
        "a/",
        "x\x00",
        "model/../../../evil",
        "/".join("a" * 9),
    ],
)
def test_member_paths_that_escape_are_refused(path):
    with pytest.raises(InvalidNameError):
        validate_member_path(path)


@pytest.mark.parametrize(
    "text", ["My task (logS)!", "", "...", "con", "../../etc", "é" * 10, "x" * 200]
)
def test_suggest_task_name_is_always_valid(text):
    assert validate_task_name(suggest_task_name(text))


def test_suggest_task_name_keeps_a_good_name():
    assert suggest_task_name("  Solubility (logS) ") == "Solubility_logS"
