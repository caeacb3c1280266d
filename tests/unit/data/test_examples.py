"""gate_core.data.examples: the bundled example datasets."""

from gate_core.data.examples import example_datasets


def test_example_datasets_exist_on_disk():
    examples = example_datasets()
    assert examples and all(e.path.is_file() for e in examples)
    assert {"freesolv", "bbbp"} <= {e.name for e in examples}
