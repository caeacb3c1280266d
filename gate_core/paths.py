"""Where the shipped files live in a checkout: the one spelling of each default path.

Why a module of its own: the CLI, the API, the app and the benchmarks all default to the same
backbone; each spelling it out again is how defaults drift apart. Nothing heavy is imported, so
the CLI can build its parser from here.
"""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
ASSETS = REPO_ROOT / "assets"
#: The shipped backbone checkpoint (``make backbone`` rebuilds it).
DEFAULT_BACKBONE = ASSETS / "backbone"
#: The bundled example target datasets (``<name>.csv``: ``smiles,value``).
EXAMPLES_DIR = ASSETS / "data" / "targets"
#: The backbone's measured-property table (long format: ``smiles,task,value``).
BACKBONE_TABLE = ASSETS / "data" / "chemicals_properties.csv.gz"
