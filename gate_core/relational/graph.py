"""The bipartite data–task knowledge graph of one batch (DESIGN §6).

Why an edge only for a KNOWN label: the graph is the evidence the relational head may use.
A label that is to be predicted must never be an edge, or the head would read its answer;
:func:`sample_reveal` splits the known labels of a training batch into revealed (edges) and
hidden (targets), and :meth:`KnownGraph.assert_excludes` checks the two never overlap.

Every edge carries the label in standardised units (the task's own scaler) and the plain GATE
prediction for the same molecule and task, so the head sees what was measured *and* how far
the plain model was from it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

EDGE_FEATURES = 4  # value, plain prediction, value − plain, is-classification


def _as_tensor(
    x: np.ndarray | torch.Tensor, dtype: torch.dtype, device: torch.device | str | None = None
) -> torch.Tensor:
    return torch.as_tensor(x, dtype=dtype, device=device)


@dataclass
class KnownGraph:
    r"""Edges ``(data[e], task[e])`` for the known labels of ``n_data`` molecules over ``n_tasks`` tasks.

    ``value`` is the standardised label (0/1 for a classification task); ``plain`` the plain
    GATE prediction in the same standardised units (a logit for a classification task);
    ``classification`` flags the edges of classification tasks.

    Edge features (:meth:`edge_features`), with :math:`v` the value and :math:`p` the plain
    prediction; classification edges are mapped to :math:`[-1, 1]` first
    (:math:`v \mapsto 2v-1`, :math:`p \mapsto 2\sigma(p)-1`):

    .. math:: e = [\,v,\; p,\; v - p,\; \mathbb{1}_{\mathrm{cls}}\,]

    Shapes:
        - ``data``, ``task``: (E,) long; ``value``, ``plain``: (E,) float; ``classification``: (E,) bool
        - :meth:`edge_features`: (E, 4); :meth:`degree`: (n_data,); :meth:`adjacency`: (n_data, n_tasks) bool
    """

    n_data: int
    n_tasks: int
    data: torch.Tensor
    task: torch.Tensor
    value: torch.Tensor
    plain: torch.Tensor
    classification: torch.Tensor

    def __post_init__(self) -> None:
        n = self.data.shape[0]
        for name in ("task", "value", "plain", "classification"):
            if getattr(self, name).shape != (n,):
                raise ValueError(
                    f"edge field {name} has shape {tuple(getattr(self, name).shape)}, expected ({n},)"
                )
        if n and (
            int(self.data.max()) >= self.n_data
            or int(self.task.max()) >= self.n_tasks
            or int(self.data.min()) < 0
            or int(self.task.min()) < 0
        ):
            raise ValueError("edge index out of range")
        if n and not torch.isfinite(self.value).all():
            raise ValueError(
                "an edge carries a missing (NaN) label; only known labels may be edges"
            )

    def __len__(self) -> int:
        return int(self.data.shape[0])

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(n_data={self.n_data}, n_tasks={self.n_tasks}, edges={len(self)})"

    @property
    def device(self) -> torch.device:
        return self.data.device

    def to(self, device: torch.device | str) -> KnownGraph:
        return KnownGraph(
            self.n_data,
            self.n_tasks,
            *(
                getattr(self, f).to(device)
                for f in ("data", "task", "value", "plain", "classification")
            ),
        )

    @classmethod
    def empty(
        cls, n_data: int, n_tasks: int, device: torch.device | str | None = None
    ) -> KnownGraph:
        z = torch.zeros(0, dtype=torch.long, device=device)
        f = torch.zeros(0, device=device)
        return cls(
            n_data,
            n_tasks,
            z,
            z.clone(),
            f,
            f.clone(),
            torch.zeros(0, dtype=torch.bool, device=device),
        )

    @classmethod
    def from_mask(
        cls,
        values: np.ndarray | torch.Tensor,
        known: np.ndarray | torch.Tensor,
        plain: np.ndarray | torch.Tensor,
        classification: np.ndarray | torch.Tensor | None = None,
    ) -> KnownGraph:
        """One edge per ``True`` entry of ``known`` (N, T); ``values``/``plain`` are (N, T) standardised.

        Entries of ``values`` outside ``known`` are never read (they may hold hidden labels).
        """
        values_t = _as_tensor(values, torch.float32)
        device = values_t.device
        known_t = _as_tensor(known, torch.bool, device)
        plain_t = _as_tensor(plain, torch.float32, device)
        n, t = known_t.shape
        if values_t.shape != (n, t) or plain_t.shape != (n, t):
            raise ValueError(
                f"values {tuple(values_t.shape)}, known {(n, t)} and plain {tuple(plain_t.shape)} must have one shape"
            )
        cls_t = (
            torch.zeros(t, dtype=torch.bool, device=device)
            if classification is None
            else _as_tensor(classification, torch.bool, device)
        )
        data, task = known_t.nonzero(as_tuple=True)
        return cls(n, t, data, task, values_t[data, task], plain_t[data, task], cls_t[task])

    def edge_features(self) -> torch.Tensor:
        v, p, c = self.value, self.plain, self.classification
        v = torch.where(c, 2.0 * v - 1.0, v)
        p = torch.where(c, 2.0 * torch.sigmoid(p) - 1.0, p)
        return torch.stack([v, p, v - p, c.float()], dim=1)

    def expected(self) -> KnownGraph:
        """The same edges carrying the values the plain model expects (σ(p) for classification): no surprise."""
        value = torch.where(self.classification, torch.sigmoid(self.plain), self.plain)
        return KnownGraph(
            self.n_data, self.n_tasks, self.data, self.task, value, self.plain, self.classification
        )

    def mirrored(self) -> KnownGraph:
        """The same edges with every surprise reversed: value ↦ 2·expected − value."""
        expected = self.expected().value
        return KnownGraph(
            self.n_data,
            self.n_tasks,
            self.data,
            self.task,
            2.0 * expected - self.value,
            self.plain,
            self.classification,
        )

    def degree(self) -> torch.Tensor:
        return torch.bincount(self.data, minlength=self.n_data)

    def adjacency(self) -> torch.Tensor:
        adj = torch.zeros((self.n_data, self.n_tasks), dtype=torch.bool, device=self.device)
        adj[self.data, self.task] = True
        return adj

    def assert_excludes(self, targets: np.ndarray | torch.Tensor) -> None:
        """Raise if any (molecule, task) in the boolean (N, T) ``targets`` is also an edge (a leak)."""
        targets = _as_tensor(targets, torch.bool, self.device)
        overlap = self.adjacency() & targets
        if overlap.any():
            i, k = (int(x) for x in overlap.nonzero()[0])
            raise AssertionError(
                f"label leak: molecule {i}, task {k} is both an input edge and a prediction target"
            )


def sample_reveal(
    known: torch.Tensor, generator: torch.Generator | None = None, zero_fraction: float = 0.2
) -> tuple[torch.Tensor, torch.Tensor]:
    """Split the known labels of a training batch into revealed (edges) and hidden (targets).

    Each molecule with ``n`` known labels reveals ``k`` of them, ``k`` uniform on
    ``0 … n−1`` (so at least one stays hidden to be predicted), and reveals none with
    probability ``zero_fraction`` — the no-evidence case is part of training, not an afterthought.

    Shapes: ``known`` (N, T) bool → ``revealed``, ``hidden`` (N, T) bool, disjoint, union = ``known``.
    """
    known = known.bool()
    n, t = known.shape
    device = known.device
    n_known = known.sum(1)
    k = torch.floor(
        torch.rand(n, generator=generator).to(device) * n_known.clamp(min=1).float()
    ).long()
    k = torch.minimum(k, (n_known - 1).clamp(min=0))
    k = torch.where(
        torch.rand(n, generator=generator).to(device) < zero_fraction, torch.zeros_like(k), k
    )
    scores = torch.rand((n, t), generator=generator).to(device).masked_fill(~known, float("inf"))
    rank = scores.argsort(dim=1).argsort(dim=1)
    revealed = known & (rank < k[:, None])
    return revealed, known & ~revealed
