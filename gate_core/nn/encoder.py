"""Directed message-passing encoder (D-MPNN, Yang et al. 2019), the encoder the GATE papers use.

PyG ships no bond-centred D-MPNN, so this is the standard formulation on top of PyG's
``scatter``; defaults follow chemprop (hidden 300, depth 3, mean readout).
"""

from __future__ import annotations

import torch
from torch import nn
from torch_geometric.utils import scatter

from gate_core.data.collate import BatchMolGraph


class DMPNNEncoder(nn.Module):
    r"""Bond-centred message passing with mean readout.

    .. math::
        h^0_{vw} = \mathrm{ReLU}(W_i [x_v \| e_{vw}]), \quad
        m^{t+1}_{vw} = \textstyle\sum_{k \in N(v)} h^t_{kv} - h^t_{wv}, \quad
        h^{t+1}_{vw} = \mathrm{ReLU}(h^0_{vw} + W_h m^{t+1}_{vw})

        h_v = \mathrm{ReLU}(W_o [x_v \| \textstyle\sum_{k} h^T_{kv}]), \quad
        h = \mathrm{mean}_v\, h_v

    Shapes:
        - input: :class:`BatchMolGraph` with ``x`` (n_atoms, atom_dim), ``edge_attr``
          (n_edges, bond_dim), reverse edge of ``e`` at ``e ^ 1``
        - output: (num_graphs, hidden)
    """

    def __init__(self, atom_dim: int, bond_dim: int, hidden: int = 300, depth: int = 3, dropout: float = 0.0) -> None:
        super().__init__()
        self.atom_dim, self.bond_dim, self.hidden, self.depth = atom_dim, bond_dim, hidden, depth
        self.W_i = nn.Linear(atom_dim + bond_dim, hidden, bias=False)
        self.W_h = nn.Linear(hidden, hidden, bias=False)
        self.W_o = nn.Linear(atom_dim + hidden, hidden)
        self.dropout = nn.Dropout(dropout)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for layer in (self.W_i, self.W_h, self.W_o):
            layer.reset_parameters()

    def forward(self, graph: BatchMolGraph) -> torch.Tensor:
        src, dst = graph.edge_index
        n_atoms = graph.x.shape[0]
        h0 = torch.relu(self.W_i(torch.cat([graph.x[src], graph.edge_attr], dim=1)))
        h = h0
        reverse = torch.arange(h.shape[0], device=h.device) ^ 1
        for _ in range(self.depth - 1):
            incoming = scatter(h, dst, dim=0, dim_size=n_atoms, reduce="sum")  # Σ_k h_kv at atom v
            message = incoming[src] - h[reverse]  # for edge v→w: Σ_{k≠w} h_kv
            h = self.dropout(torch.relu(h0 + self.W_h(message)))
        atom_message = scatter(h, dst, dim=0, dim_size=n_atoms, reduce="sum")
        atom_hidden = self.dropout(torch.relu(self.W_o(torch.cat([graph.x, atom_message], dim=1))))
        return scatter(atom_hidden, graph.batch, dim=0, dim_size=graph.num_graphs, reduce="mean")

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(atom_dim={self.atom_dim}, bond_dim={self.bond_dim}, hidden={self.hidden}, depth={self.depth})"
