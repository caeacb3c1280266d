"""The relational head: gated message passing over the data–task graph, on top of frozen GATE.

Why a *residual* head: the plain GATE prediction is already good; the head only adds what a
molecule's known labels say about its other labels. The correction is an odd function of
the *surprise* in the evidence (measured minus what the plain model expected), read out through
the relational read-out, so with no known label — or with measurements exactly as the model
expected — it is exactly zero and the prediction is exactly the plain one (DESIGN §6: "with no
revealed labels it must do no worse").

Why each molecule sees the task nodes through its own edges only (per-edge copies of the task
states): a prediction must depend on the molecule and its own measurements, never on which
other molecules happen to share the batch or the user's file.

Why a ridge solve builds a new task's node: the task nodes of the backbone's tasks are trained
to act as linear read-outs of the data-node features (auxiliary loss), so the node of a task
never seen in training is the least-squares read-out fitted to its support edges — a closed
form that needs no gradient step, hence the zero-training preview of a new task.

The data node's mean over its edges is PyG's ``scatter(..., reduce="mean")`` (it replaced an
``index_add_`` divided by the degree; bit-identical, max difference 0 on random graphs of
64-1,000 molecules and 300-8,000 edges). The rest of a layer is two GRU cells and two MLPs
applied per edge, which a ``MessagePassing`` wrapper would only rename.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import nn
from torch_geometric.utils import scatter

from gate_core.registries import CORRECTIONS
from gate_core.relational.graph import EDGE_FEATURES, KnownGraph

RIDGE_GRID = (0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)


@dataclass
class RelationalConfig:
    """Everything needed to rebuild the head from its JSON alone."""

    chart_dim: int
    tasks: list[str]
    task_types: list[str] = field(default_factory=list)
    hidden: int = 64
    layers: int = 2
    dropout: float = 0.0
    correction: str = "odd"

    def __post_init__(self) -> None:
        if not self.task_types:
            self.task_types = ["regression"] * len(self.tasks)
        if len(self.task_types) != len(self.tasks):
            raise ValueError("task_types must have one entry per task")
        CORRECTIONS.check(self.correction)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> RelationalConfig:
        return cls(**data)


@dataclass
class TaskNodes:
    """Initial task-node states ``vectors`` (K, hidden) and read-out biases ``bias`` (K,)."""

    vectors: torch.Tensor
    bias: torch.Tensor

    def __len__(self) -> int:
        return int(self.vectors.shape[0])

    @staticmethod
    def cat(parts: list[TaskNodes]) -> TaskNodes:
        return TaskNodes(torch.cat([p.vectors for p in parts]), torch.cat([p.bias for p in parts]))


def _mlp(in_dim: int, hidden: int, out_dim: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(in_dim, hidden), nn.SiLU(), nn.Dropout(dropout), nn.Linear(hidden, out_dim)
    )


class RelationalLayer(nn.Module):
    r"""One round of gated message passing, data → task then task → data.

    For an edge :math:`e = (i, k)` with features :math:`a_e = W_a e_{ik}`, data state
    :math:`x_i` and the molecule's copy of the task state :math:`t_e`:

    .. math::
        t_e' = \mathrm{GRU}_{dt}\big(\phi_{dt}[x_i, t_e, a_e],\; t_e\big), \qquad
        x_i' = \mathrm{GRU}_{td}\Big(\tfrac{1}{|N(i)|}\textstyle\sum_{e \ni i} \phi_{td}[t_e', a_e],\; x_i\Big)

    (GRU gates: sigmoid update/reset gates). A molecule without edges keeps its state.

    Shapes: ``x`` (B, H), ``t`` (E, H), ``a`` (E, H), ``graph`` with E edges → ``x'`` (B, H), ``t'`` (E, H).
    """

    def __init__(self, hidden: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.hidden = hidden
        self.data_to_task = _mlp(3 * hidden, hidden, hidden, dropout)
        self.task_gru = nn.GRUCell(hidden, hidden)
        self.task_to_data = _mlp(2 * hidden, hidden, hidden, dropout)
        self.data_gru = nn.GRUCell(hidden, hidden)

    def reset_parameters(self) -> None:
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.GRUCell)):
                m.reset_parameters()

    def forward(
        self, x: torch.Tensor, t: torch.Tensor, a: torch.Tensor, graph: KnownGraph
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if len(graph) == 0:
            return x, t
        src = graph.data
        t_new = self.task_gru(self.data_to_task(torch.cat([x[src], t, a], dim=1)), t)
        msg = self.task_to_data(torch.cat([t_new, a], dim=1))
        updated = self.data_gru(scatter(msg, src, dim=0, dim_size=x.shape[0], reduce="mean"), x)
        has_edge = (graph.degree() > 0).unsqueeze(1)
        return torch.where(has_edge, updated, x), t_new

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(hidden={self.hidden})"


class RelationalHead(nn.Module):
    r"""MetaLink-style relational head on the common chart of a frozen GATE backbone (DESIGN §6).

    Data node :math:`i` starts from its common-chart point :math:`c_i` (the mean over source
    tasks of :math:`u_k`), standardised with scalers stored in the head:
    :math:`x_i^0 = \mathrm{LN}(\mathrm{MLP}(\tilde c_i))`. Task node :math:`k` starts from a learned
    embedding :math:`t_k` (backbone tasks) or from a ridge fit to its support edges (any other
    task, :meth:`task_node_from_support`). After :math:`L` layers (:class:`RelationalLayer`) the
    link read-out sums the dot products over layers,

    .. math::
        r_{ik}(E) = b_k + \langle x_i^0, t_k\rangle
                  + \frac{1}{L+1}\sum_{\ell=1}^{L} \langle W_r (x_i^\ell - x_i^0),\, t_k \rangle, \qquad
        \hat y_{ik} = \hat y^{\text{plain}}_{ik} + \tfrac12\big(r_{ik}(E) - r_{ik}(E^-)\big)

    where :math:`t_k` is the target task's node (it has no edge to molecule :math:`i`, so its
    state for that molecule is its initial state) and :math:`E^-` has the same edges carrying
    the reversed surprises (measured − expected), see :meth:`correction`. With no known label
    :math:`x_i^\ell = x_i^0` for every layer, so the correction is exactly 0, as it is when
    every measurement equals its plain prediction. A task with no plain head (preview) is predicted by
    :math:`\langle x_i^0, t_k\rangle + b_k` plus the same correction.

    Shapes:
        - ``chart``: (B, chart_dim) → :meth:`data_features`: (B, H)
        - :meth:`correction`: ``x0`` (B, H), nodes (K, H), graph over (B, K) → (B, K) standardised
        - :meth:`readout`: same inputs → (B, K) relational read-out :math:`r(E)` (preview predictions)
    """

    def __init__(self, config: RelationalConfig) -> None:
        super().__init__()
        self.config = config
        h = config.hidden
        self.data_encoder = nn.Sequential(
            nn.Linear(config.chart_dim, h), nn.SiLU(), nn.Linear(h, h)
        )
        self.data_norm = nn.LayerNorm(h, elementwise_affine=False)
        self.task_embedding = nn.Parameter(torch.empty(len(config.tasks), h))
        self.task_bias = nn.Parameter(torch.zeros(len(config.tasks)))
        self.edge_encoder = nn.Linear(EDGE_FEATURES, h)
        self.layers = nn.ModuleList(
            RelationalLayer(h, config.dropout) for _ in range(config.layers)
        )
        self.readout_map = nn.Linear(h, h, bias=False)
        self.register_buffer("chart_mean", torch.zeros(config.chart_dim))
        self.register_buffer("chart_std", torch.ones(config.chart_dim))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for m in self.data_encoder:
            if isinstance(m, nn.Linear):
                m.reset_parameters()
        nn.init.normal_(self.task_embedding, std=0.1 / self.config.hidden**0.5)
        nn.init.zeros_(self.task_bias)
        self.edge_encoder.reset_parameters()
        for layer in self.layers:
            layer.reset_parameters()
        nn.init.eye_(self.readout_map.weight)

    @property
    def task_names(self) -> list[str]:
        return self.config.tasks

    def set_chart_scaler(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        self.chart_mean.copy_(mean)
        self.chart_std.copy_(std.clamp(min=1e-6))

    # ---- nodes -----------------------------------------------------------------------------
    def data_features(self, chart: torch.Tensor) -> torch.Tensor:
        """Initial data-node states x⁰ (B, H) from common-chart points (B, chart_dim)."""
        return self.data_norm(self.data_encoder((chart - self.chart_mean) / self.chart_std))

    def backbone_nodes(self) -> TaskNodes:
        """The learned nodes of the backbone's tasks, in ``config.tasks`` order."""
        return TaskNodes(self.task_embedding, self.task_bias)

    @staticmethod
    def task_node_from_support(
        x0: torch.Tensor, y: torch.Tensor, classification: bool = False, ridge: float | None = None
    ) -> tuple[TaskNodes, float]:
        r"""A task node fitted to support edges: the read-out that best maps x⁰ to the labels.

        Regression: ridge regression with an unpenalised bias,
        :math:`\min_{t,b} \sum_j (\langle x_j^0, t\rangle + b - y_j)^2 + \lambda\|t\|^2`, λ chosen
        by exact leave-one-out error over :data:`RIDGE_GRID` unless given. Classification:
        the same penalty on the logistic loss (Newton steps), λ = 1 unless given.
        Differentiable in ``x0`` (the λ choice is not). Returns the node and the λ used.

        Shapes: ``x0`` (n, H), ``y`` (n,) standardised (0/1 for classification) → node (1, H).
        """
        n, h = x0.shape
        if n < 2:
            raise ValueError("a task node needs at least two support molecules")
        X = torch.cat([x0, torch.ones(n, 1, dtype=x0.dtype, device=x0.device)], dim=1)
        penalty = torch.ones(h + 1, dtype=x0.dtype, device=x0.device)
        penalty[-1] = 0.0
        eye = torch.diag(penalty)
        y = y.to(x0.dtype)
        if classification:
            lam = 1.0 if ridge is None else float(ridge)
            w = torch.zeros(h + 1, dtype=x0.dtype, device=x0.device)
            for _ in range(25):
                p = torch.sigmoid(X @ w)
                grad = X.T @ (p - y) + lam * penalty * w
                hess = (
                    X.T @ (X * (p * (1 - p)).unsqueeze(1))
                    + lam * eye
                    + 1e-6 * torch.eye(h + 1, dtype=x0.dtype, device=x0.device)
                )
                w = w - torch.linalg.solve(hess, grad)
            return TaskNodes(w[:h].unsqueeze(0), w[h:]), lam
        gram, rhs = X.T @ X, X.T @ y
        if ridge is None:
            with torch.no_grad():
                best, lam = float("inf"), RIDGE_GRID[0]
                for candidate in RIDGE_GRID:
                    inv = torch.linalg.inv(gram + candidate * eye)
                    w = inv @ rhs
                    leverage = ((X @ inv) * X).sum(1)
                    loo = ((X @ w - y) / (1 - leverage).clamp(min=1e-3)).pow(2).mean()
                    if float(loo) < best:
                        best, lam = float(loo), candidate
        else:
            lam = float(ridge)
        w = torch.linalg.solve(gram + lam * eye, rhs)
        return TaskNodes(w[:h].unsqueeze(0), w[h:]), lam

    # ---- message passing -------------------------------------------------------------------
    def propagate(
        self, x0: torch.Tensor, nodes: TaskNodes, graph: KnownGraph
    ) -> list[torch.Tensor]:
        """Data-node states [x⁰, …, x^L] after message passing over ``graph`` (tasks indexed as ``nodes``)."""
        if graph.n_data != x0.shape[0] or graph.n_tasks != len(nodes):
            raise ValueError(
                f"graph is over ({graph.n_data}, {graph.n_tasks}) nodes, got {x0.shape[0]} molecules and {len(nodes)} task nodes"
            )
        a = self.edge_encoder(graph.edge_features())
        t = nodes.vectors[graph.task]
        states = [x0]
        x = x0
        for layer in self.layers:
            x, t = layer(x, t, a, graph)
            states.append(x)
        return states

    def _evidence(self, x0: torch.Tensor, nodes: TaskNodes, graph: KnownGraph) -> torch.Tensor:
        states = self.propagate(x0, nodes, graph)
        delta = (
            torch.stack([s - x0 for s in states[1:]]).sum(0)
            if len(states) > 1
            else torch.zeros_like(x0)
        )
        return (self.readout_map(delta) @ nodes.vectors.T) / (len(states))

    def correction(self, x0: torch.Tensor, nodes: TaskNodes, graph: KnownGraph) -> torch.Tensor:
        r"""The known values' correction for every (molecule, task), (B, K) standardised.

        Only the *surprise* s = measured − expected (expected: the plain prediction, σ of it for
        classification) may move a prediction. ``config.correction``:

        - ``"odd"`` (default): :math:`	frac12\,[r(E) - r(E^-)]`, with :math:`E^-` the same edges
          carrying the reversed surprises (:meth:`KnownGraph.mirrored`): an odd function of s, so
          a higher measured value moves the other predictions the opposite way to a lower one.
        - ``"surprise"``: :math:`r(E) - r(E_0)`, with :math:`E_0` carrying no surprise
          (:meth:`KnownGraph.expected`); also reacts to the *size* of a surprise whatever its sign.

        Why the constraint: trained without it, the head learned that a molecule *having* some
        label says something (which database it came from) and all but ignored the value; with
        ``"surprise"`` it learned mostly "the plain model was wrong on this molecule" — Tb measured
        60 K above or below the prediction moved Tc the same way. Both lower the benchmark RMSE a
        little (bench/results/relational.md) but make a what-if that does not follow the value.
        """
        if len(graph) == 0:
            return torch.zeros((x0.shape[0], len(nodes)), dtype=x0.dtype, device=x0.device)
        if self.config.correction == "surprise":
            return self._evidence(x0, nodes, graph) - self._evidence(x0, nodes, graph.expected())
        return 0.5 * (
            self._evidence(x0, nodes, graph) - self._evidence(x0, nodes, graph.mirrored())
        )

    def readout(
        self, x0: torch.Tensor, nodes: TaskNodes, graph: KnownGraph | None = None
    ) -> torch.Tensor:
        """⟨x⁰, t⟩ + b + correction (B, K): the relational prediction of a task without a plain head (preview)."""
        base = x0 @ nodes.vectors.T + nodes.bias
        if graph is None or len(graph) == 0:
            return base
        return base + self.correction(x0, nodes, graph)

    def __repr__(self) -> str:
        c = self.config
        return f"{self.__class__.__name__}(chart_dim={c.chart_dim}, tasks={len(c.tasks)}, hidden={c.hidden}, layers={c.layers})"
