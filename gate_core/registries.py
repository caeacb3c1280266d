"""Small registries: the one vocabulary of each option (task types, ratio modes, splits, models).

Why: an option spelled in several places drifts (a CLI accepting what validation refuses, a page
offering what the CLI does not know). A registry maps each option name to what it stands for,
and the CLI's ``choices``, the pages' options and every validation read it, as chemprop v2's
``utils/registry.py`` does for losses and metrics. This module imports nothing heavy, so the CLI
can build its parser without importing torch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Generic, TypeVar, overload

T = TypeVar("T")


class Registry(Mapping[str, T], Generic[T]):
    """Option name → entry (a description, a function), in registration order.

    ``what`` names the option in error messages ("task type"). :meth:`check` is the one place
    an unknown name is refused, so every interface refuses it with the same words.
    """

    def __init__(self, what: str) -> None:
        self.what = what
        self._entries: dict[str, T] = {}

    @overload
    def register(self, name: str, entry: T) -> T: ...

    @overload
    def register(self, name: str) -> Callable[[T], T]: ...

    def register(self, name: str, entry: T | None = None) -> T | Callable[[T], T]:
        """Register ``entry`` under ``name``; without ``entry``, a decorator that registers."""

        def add(value: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.what} {name!r} is registered twice")
            self._entries[name] = value
            return value

        return add if entry is None else add(entry)

    def check(self, name: object) -> str:
        """``name`` itself when it is registered, else ``ValueError`` listing the choices."""
        if not isinstance(name, str) or name not in self._entries:
            raise ValueError(
                f"unknown {self.what} {name!r}; choose one of: {', '.join(self._entries)}"
            )
        return name

    @property
    def names(self) -> list[str]:
        """The registered names, in order: what a CLI's ``choices`` or a page's options list."""
        return list(self._entries)

    def lookup(self, name: object) -> T:
        """The entry of ``name``, refused as in :meth:`check` when it is not registered."""
        return self._entries[self.check(name)]

    def __getitem__(self, name: str) -> T:
        return self._entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.what!r}: {', '.join(self._entries)})"


#: Task type → what it predicts (the page's help text).
TASK_TYPES: Registry[str] = Registry("task type")
TASK_TYPES.register("regression", "a continuous value, in the task's unit")
TASK_TYPES.register("classification", "the probability of class 1 (labels 0 or 1)")

#: Transfer-ratio mode → how λ is chosen for the sources not pinned or excluded (DESIGN §5).
RATIO_MODES: Registry[str] = Registry("transfer-ratio mode")
RATIO_MODES.register("learned", "learned by bi-level optimisation on a validation fold")
RATIO_MODES.register("uniform", "λ = 1 for every source")
RATIO_MODES.register("off", "λ = 0: no alignment, the new task trains on its own")

#: The mode a new task gets unless the chemist chooses another (CLI, API, page).
#: Uniform, because learned ratios did not predict measurably better than uniform ones on the
#: drug-like benchmark with backbone v2 (issue 11's rule: learned must beat uniform with an
#: interval that excludes 0, else uniform is the default). The evidence, with its intervals:
#: ``learned_minus_uniform`` in ``bench/results/task_addition_v2*.json`` (``python -m bench
#: task_addition``). Learned λ stays available as evidence of what the model leans on.
DEFAULT_RATIO_MODE = RATIO_MODES.check("uniform")

#: Pre-training alignment form → what each task's chart is aligned with (DESIGN §3).
ALIGNMENT_FORMS: Registry[str] = Registry("alignment form")
ALIGNMENT_FORMS.register("pairwise", "exact: every pair of tasks' chart points (cost grows as T²)")
ALIGNMENT_FORMS.register("mean", "scalable: each task's chart point against the tasks' mean")

#: Relational correction → how known values may move the other predictions.
CORRECTIONS: Registry[str] = Registry("relational correction")
CORRECTIONS.register("odd", "in the direction of the surprise (known minus expected) only")
CORRECTIONS.register("surprise", "any function of the surprise")

#: Model → its label: which model answers an added task's predictions (issue 12), chosen by the
#: chemist. All three are scored out of fold on the same scaffold folds, so any can be chosen.
MODELS: Registry[str] = Registry("model")
MODELS.register("gate", "trained task (GATE)")
MODELS.register("probe", "frozen-backbone probe")
MODELS.register("preview", "zero-training preview (relational head)")

#: Not a model: "the recommended one" (the best out-of-fold score), resolved after training.
AUTO_MODEL = "auto"


def check_model_choice(model: object) -> str:
    """``model`` when it is :data:`AUTO_MODEL` or a registered model, else ``ValueError`` listing
    the choices: the API's check, which a queued run from the app or a CLI call goes through."""
    if model == AUTO_MODEL:
        return AUTO_MODEL
    if not isinstance(model, str) or model not in MODELS:
        raise ValueError(
            f"unknown {MODELS.what} {model!r}; choose {AUTO_MODEL} or one of: {', '.join(MODELS)}"
        )
    return model
