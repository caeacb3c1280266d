"""gate_core.nn.encoder: the D-MPNN against a loop-by-loop reference, and batching invariance."""

from __future__ import annotations

import pytest
import torch
from rdkit import Chem

from gate_core.data.collate import BatchMolGraph, collate_graphs
from gate_core.featurizers.graph import ATOM_DIM, BOND_DIM, mol_to_graph
from gate_core.nn.encoder import DMPNNEncoder

SMILES = ["CCO", "C", "c1ccncc1", "C[C@H](N)C(=O)O", "F/C=C/F", "[NH4+]", "CC(C)(C)c1ccc(O)cc1"]


def _graphs(smiles=SMILES):
    return [mol_to_graph(Chem.MolFromSmiles(s), s) for s in smiles]


def _encoder(depth=3, hidden=16):
    torch.manual_seed(0)
    return DMPNNEncoder(ATOM_DIM, BOND_DIM, hidden=hidden, depth=depth).eval()


def test_output_shape_and_repr():
    enc = _encoder(hidden=24)
    out = enc(collate_graphs(_graphs()))
    assert out.shape == (len(SMILES), 24)
    assert torch.isfinite(out).all()
    assert "hidden=24" in repr(enc) and "depth=3" in repr(enc)


def test_embedding_independent_of_batch_companions_and_order():
    enc = _encoder()
    graphs = _graphs()
    with torch.no_grad():
        alone = torch.cat([enc(collate_graphs([g])) for g in graphs])
        together = enc(collate_graphs(graphs))
        perm = [3, 0, 6, 2, 5, 1, 4]
        permuted = enc(collate_graphs([graphs[i] for i in perm]))
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(permuted, alone[perm], atol=1e-5, rtol=1e-5)


def test_atom_order_invariance():
    enc = _encoder()
    a = Chem.MolFromSmiles("OCC(=O)Nc1ccccc1")
    b = Chem.RenumberAtoms(a, list(reversed(range(a.GetNumAtoms()))))
    with torch.no_grad():
        ha = enc(collate_graphs([mol_to_graph(a)]))
        hb = enc(collate_graphs([mol_to_graph(b)]))
    torch.testing.assert_close(ha, hb, atol=1e-5, rtol=1e-5)


def _reference(enc: DMPNNEncoder, graph: BatchMolGraph) -> torch.Tensor:
    """The D-MPNN written edge by edge, with neighbour lists instead of scatter and e ^ 1."""
    x, ei, ea = graph.x, graph.edge_index.tolist(), graph.edge_attr
    edges = list(zip(ei[0], ei[1]))
    index = {e: i for i, e in enumerate(edges)}
    n_atoms = x.shape[0]
    h0 = {e: torch.relu(enc.W_i(torch.cat([x[e[0]], ea[index[e]]]))) for e in edges}
    h = dict(h0)
    for _ in range(enc.depth - 1):
        new = {}
        for v, w in edges:
            message = torch.zeros(enc.hidden)
            for k, v2 in edges:
                if v2 == v and k != w:  # edges k→v, excluding the reverse w→v
                    message = message + h[(k, v)]
            new[(v, w)] = torch.relu(h0[(v, w)] + enc.W_h(message))
        h = new
    atoms = []
    for v in range(n_atoms):
        incoming = sum((h[(k, v2)] for k, v2 in edges if v2 == v), torch.zeros(enc.hidden))
        atoms.append(torch.relu(enc.W_o(torch.cat([x[v], incoming]))))
    atoms = torch.stack(atoms)
    return torch.stack([atoms[graph.batch == g].mean(0) for g in range(graph.num_graphs)])


def _chain_graph() -> BatchMolGraph:
    """Three atoms A–B–C, two bonds, features chosen by hand."""
    torch.manual_seed(1)
    x = torch.rand(3, 5)
    edge_index = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
    bond = torch.rand(2, 3)
    return BatchMolGraph(
        x, edge_index, bond.repeat_interleave(2, dim=0), torch.zeros(3, dtype=torch.long), 1
    )


def test_reverse_edge_subtraction_on_three_atom_chain():
    graph = _chain_graph()
    torch.manual_seed(2)
    enc = DMPNNEncoder(5, 3, hidden=4, depth=2)
    with torch.no_grad():
        got = enc(graph)
        # by hand, depth 2 = one message step:
        x, ea = graph.x, graph.edge_attr
        h0 = torch.relu(
            enc.W_i(torch.cat([x[[0, 1, 1, 2]], ea], dim=1))
        )  # edges 0→1, 1→0, 1→2, 2→1
        zero = torch.zeros(4)
        # edge 0→1: atom 0 receives only 1→0, which is the reverse: message 0
        # edge 1→0: atom 1 receives 0→1 and 2→1, minus the reverse 0→1: message h(2→1)
        # edge 1→2: message h(0→1);  edge 2→1: atom 2 receives only 1→2 (reverse): 0
        messages = torch.stack([zero, h0[3], h0[0], zero])
        h1 = torch.relu(h0 + enc.W_h(messages))
        atom_in = torch.stack([h1[1], h1[0] + h1[3], h1[2]])
        expected = torch.relu(enc.W_o(torch.cat([x, atom_in], dim=1))).mean(0, keepdim=True)
    torch.testing.assert_close(got, expected)
    torch.testing.assert_close(got, _reference(enc, graph))


@pytest.mark.parametrize("depth", [1, 2, 3, 4])
def test_matches_reference_on_real_molecules(depth):
    enc = _encoder(depth=depth, hidden=8)
    graph = collate_graphs(_graphs(["CCO", "C", "c1ccncc1", "CC(=O)[O-]"]))
    with torch.no_grad():
        torch.testing.assert_close(enc(graph), _reference(enc, graph), atol=1e-5, rtol=1e-5)


def test_gradients_reach_every_weight():
    enc = DMPNNEncoder(ATOM_DIM, BOND_DIM, hidden=8, depth=3)
    enc(collate_graphs(_graphs())).sum().backward()
    for name, p in enc.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_reset_parameters_changes_weights():
    enc = _encoder()
    before = enc.W_h.weight.clone()
    enc.reset_parameters()
    assert not torch.equal(before, enc.W_h.weight)
