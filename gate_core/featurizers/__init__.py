"""Turn SMILES into RDKit molecules, PyG graphs and descriptor vectors."""

from gate_core.featurizers.molecule import ParsedMolecule, parse_smiles

__all__ = ["ParsedMolecule", "parse_smiles"]
