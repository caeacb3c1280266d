"""What accuracy a chemist can expect on data like theirs, from the stored benchmark results.

Why one function for the page and the report: this is the first thing both show, so it must say
the same thing in both. It reads only what the results carry: the headline of the chemprop
comparison (GATE against every baseline, per target group and test part, with bootstrap 95 %
intervals over targets) and of each task-addition run it does not already include; results from
an older backbone, or with nothing to compare GATE with, are named under the table instead. The
verdict is on the app's default, GATE with uniform λ, where a result has it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gate_app.bench_results import backbone_note, label, md_table, measured_date, num

#: GATE (uniform λ: the app's default, which the verdict is on; learned λ), then the
#: alternatives a chemist would otherwise use: column names kept short.
COLUMNS = {
    "uniform": "GATE (default: uniform λ)",
    "learned": "GATE learned λ",
    "rf": "random forest",
    "lgbm": "LightGBM",
    "chemprop_finetuned": "chemprop fine-tuned",
    "chemprop_single": "chemprop single-task",
    "single_task": "D-MPNN single-task",
    "finetune": "backbone fine-tuned",
}
GROUPS = {
    "drug-like": "drug-like (ADME/PK)",
    "physchem": "physical chemistry",
    "all": "all targets",
}
PARTS = {"unseen": "new molecules", "all": "all test molecules"}
RATIO = "GATE ÷ best alternative"
#: Which GATE the verdict is on: the default where the result has it, else learned λ.
VERDICT_ON = ("uniform", "learned")
METRICS = {"regression": "nRMSE ↓", "classification": "ROC-AUC ↑"}
EXPLAIN = (
    "**nRMSE** (↓ lower is better) is the test error divided by the spread (standard "
    "deviation) of the property in "
    "the test set: 0.5 means typical errors of half that spread, 1.0 is no better than always "
    "predicting the mean. **ROC-AUC** (↑, classification): 0.5 is chance, 1.0 perfect. Brackets: "
    "95 % bootstrap interval over targets; none where the result does not carry one. Test "
    "molecules come from scaffolds held out of training; *new molecules* are also absent from the "
    "backbone's pre-training data. GATE is task addition with the app's default, uniform λ (every "
    "source λ = 1); the verdict column compares it with the best alternative (with learned λ "
    "where a run has no uniform λ, and says so); the alternatives get the same training molecules."
)


def _comparison(entry: dict) -> tuple[str, dict, dict]:
    """Which GATE the verdict is on (:data:`VERDICT_ON`), its comparison with the best baseline,
    and every method's 95 % interval the entry stores (either comparison's)."""
    gate = next((g for g in VERDICT_ON if entry.get(f"{g}_vs_best_baseline")), "learned")
    versus = entry.get(f"{gate}_vs_best_baseline") or {}
    learned = (entry.get("learned_vs_best_baseline") or {}).get("ci95") or {}
    return gate, versus, {**learned, **(versus.get("ci95") or {})}


def _targets(n: Any) -> str:
    return f"{n} target" if n == 1 else f"{n if n is not None else '?'} targets"


def _value(mean: Any, ci: Any = None) -> str:
    m = num(mean)
    if m is None:
        return ""
    if isinstance(ci, (list, tuple)) and len(ci) == 2 and None not in (num(ci[0]), num(ci[1])):
        return f"{m:.2f} ({ci[0]:.2f}–{ci[1]:.2f})"
    return f"{m:.2f}"


def _verdict(best: Any, ratio: Any, ci: Any, higher_is_better: bool, gate: str = "uniform") -> str:
    """'0.97 (0.91–1.04) × random forest: no clear difference' — in words from the interval."""
    r = num(ratio)
    if not best or r is None:
        return "no alternative in this run"
    text = f"{r:.2f}" if gate == "uniform" else f"learned λ: {r:.2f}"
    if not (
        isinstance(ci, (list, tuple)) and len(ci) == 2 and None not in (num(ci[0]), num(ci[1]))
    ):
        return (
            f"{text} × {COLUMNS.get(best, label(best))} (no interval: one target, or none stored)"
        )
    lo, hi = ci
    better = (lo > 1) if higher_is_better else (hi < 1)
    worse = (hi < 1) if higher_is_better else (lo > 1)
    word = "GATE better" if better else "GATE worse" if worse else "no clear difference"
    return f"{text} ({lo:.2f}–{hi:.2f}) × {COLUMNS.get(best, label(best))}: {word}"


def _source(name: str, data: dict, shipped: str | None) -> str:
    old = " · older backbone" if backbone_note(name, data, shipped) else ""
    return f"{name}{old} · {measured_date(data)[:10]}"


def _headline(name: str, data: dict) -> dict:
    """The headline block: a chemprop comparison stores it as ``comparison``."""
    return (data.get("comparison") if name.startswith("chemprop_compare") else None) or (
        data.get("headline") or {}
    )


def _headline_rows(name: str, data: dict, shipped: str | None) -> list[dict[str, str]]:
    head = _headline(name, data)
    sizes = ", ".join(str(s) for s in (data.get("grid") or {}).get("sizes") or [])
    rows = []
    for task_type, metric in METRICS.items():
        block = {k: e for k, e in (head.get(task_type) or {}).items() if isinstance(e, dict)}
        for key, entry in block.items():
            group, _, part = key.partition("/")
            same = [
                k
                for k, e in block.items()
                if k != key
                and k.endswith(f"/{part}")
                and set(e.get("per_target") or {}) == set(entry.get("per_target") or {})
            ]
            if part not in PARTS or (group == "all" and same):  # "all" = one group: said once
                continue
            gate, comp, cis = _comparison(entry)
            if (entry.get("n_targets") or 0) < 2:  # resampling one target gives no interval
                comp, cis = {**comp, "ratio_ci95": None}, {}
            means = {**(entry.get("mean") or {}), **(comp.get("mean") or {})}
            row = {
                "data like yours": f"{GROUPS.get(group, group)}, {PARTS[part]} "
                f"({_targets(entry.get('n_targets'))})",
                "n": sizes,
                "metric": metric,
            }
            row.update({c: _value(means.get(m), cis.get(m)) for m, c in COLUMNS.items()})
            row[RATIO] = _verdict(
                comp.get("best_baseline"),
                comp.get("ratio_to_best"),
                comp.get("ratio_ci95"),
                task_type == "classification",
                gate,
            )
            won = comp.get("targets_won")
            row["GATE wins"] = (
                f"{won} of {comp.get('n_targets')} targets" if won is not None else ""
            )
            row["from"] = _source(name, data, shipped)
            rows.append(row)
    return rows


def expectation_rows(results: dict[str, dict], shipped: str | None) -> list[dict[str, str]]:
    """One row per (result, target group, task type, test part): GATE and each alternative.

    The chemprop comparisons come first, then the task-addition runs they do not include;
    rows with no alternative to compare GATE with are left out; columns no row fills are dropped.
    """
    rows: list[dict[str, str]] = []
    for name in summarised(results, shipped):
        rows += [
            r
            for r in _headline_rows(name, results[name], shipped)
            if r[RATIO] != "no alternative in this run"
        ]
    used = [c for c in dict.fromkeys(k for r in rows for k in r) if any(r.get(c) for r in rows)]
    return [{c: r.get(c, "") for c in used} for r in rows]


def _included(results: dict[str, dict]) -> set[str]:
    """Task-addition results a chemprop comparison read as its reference (shown through it)."""
    return {
        Path(f["path"]).stem
        for data in results.values()
        for f in (data.get("reference") or {}).get("files") or []
        if f.get("available")
    }


def summarised(results: dict[str, dict], shipped: str | None) -> list[str]:
    """The results the table rows come from: chemprop comparisons, then task-addition runs (newest
    first, as named) not included in one; each only from the shipped backbone."""
    included = _included(results)
    names = sorted(n for n in results if n.startswith("chemprop_compare"))
    names += sorted(
        (n for n in results if n.startswith("task_addition") and n not in included), reverse=True
    )
    return [
        n for n in names if _headline(n, results[n]) and not backbone_note(n, results[n], shipped)
    ]


def gaps(results: dict[str, dict], shipped: str | None) -> list[str]:
    """Plain sentences on what the summary lacks: results missing or from an older backbone."""
    out = []
    if not any(n.startswith("task_addition") and results[n].get("headline") for n in results):
        out.append("No task-addition result with a headline yet: `python -m bench task_addition`.")
    if "chemprop_compare" not in results:
        out.append("No chemprop comparison yet: `python -m bench chemprop_compare`.")
    for name in sorted(n for n in results if n.startswith(("task_addition", "chemprop_compare"))):
        note = backbone_note(name, results[name], shipped)
        if note and "older backbone" in note:
            out.append(f"`{name}`: {note}")
    return out


def summary_table(rows: list[dict[str, str]]) -> str:
    """:func:`expectation_rows` as one Markdown table ('' when there are none): the page and the
    report show it; each computes the rows once and passes them."""
    return md_table(list(rows[0]), [list(r.values()) for r in rows]) if rows else ""


def summary_markdown(
    results: dict[str, dict], shipped: str | None, rows: list[dict[str, str]]
) -> str:
    """The whole summary as Markdown, for ``docs/benchmarks.md``: ``rows`` the table's."""
    text = ["## What to expect on your data", "", EXPLAIN, "", summary_table(rows), ""]
    text += [f"- {g}" for g in gaps(results, shipped)]
    return "\n".join(text).rstrip() + "\n"
