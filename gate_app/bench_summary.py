"""What accuracy a chemist can expect on data like theirs, from the stored benchmark results.

Why one function for the page and the report: this is the first thing both show, so it must say
the same thing in both. It reads only what the results carry: each task-addition run's
``headline`` (per target group and test part, with bootstrap 95 % intervals over targets) and the
chemprop comparison (its first run's means carry no interval; the table says so rather than
invent one). The verdict is on the app's default, GATE with uniform λ, where a result has it.
"""

from __future__ import annotations

from typing import Any

from gate_app.bench_results import (
    backbone_note,
    label,
    md_table,
    measured_date,
    num,
    size_sort_key,
)

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
        return f"{text} × {COLUMNS.get(best, label(best))} (no interval stored)"
    lo, hi = ci
    better = (lo > 1) if higher_is_better else (hi < 1)
    worse = (hi < 1) if higher_is_better else (lo > 1)
    word = "GATE better" if better else "GATE worse" if worse else "no clear difference"
    return f"{text} ({lo:.2f}–{hi:.2f}) × {COLUMNS.get(best, label(best))}: {word}"


def _source(name: str, data: dict, shipped: str | None) -> str:
    old = " · older backbone" if backbone_note(name, data, shipped) else ""
    return f"{name}{old} · {measured_date(data)[:10]}"


def _headline_rows(name: str, data: dict, shipped: str | None) -> list[dict[str, str]]:
    head = data.get("headline") or {}
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


def _chemprop_rows(name: str, data: dict, shipped: str | None) -> list[dict[str, str]]:
    """The chemprop comparison's rows; its first run (``chemprop_compare_v1``) stored means per n
    without intervals, the later ones a headline per test part."""
    comp = data.get("comparison") or {}
    if "parts" in comp:
        return _chemprop_part_rows(name, data, shipped)
    by_size = comp.get("mean_nrmse_by_size") or {}
    rows = []
    for size, means in sorted(by_size.items(), key=lambda kv: size_sort_key(kv[0])):
        ratios = (comp.get("by_size") or {}).get(size) or {}
        targets = len(comp.get("mean_nrmse_by_target") or {}) or "?"
        row = {
            "data like yours": f"physical chemistry, all test molecules ({_targets(targets)})",
            "n": str(size),
            "metric": METRICS["regression"],
        }
        row.update(
            {
                c: _value((means or {}).get("gate_learned" if m == "learned" else m))
                for m, c in COLUMNS.items()
            }
        )
        row[RATIO] = _verdict(  # the first run compared learned λ only
            ratios.get("best_baseline"), ratios.get("ratio_gate_to_best"), None, False, "learned"
        )
        row["GATE wins"] = ""
        row["from"] = _source(name, data, shipped)
        rows.append(row)
    return rows


def _chemprop_part_rows(name: str, data: dict, shipped: str | None) -> list[dict[str, str]]:
    """The chemprop comparison with a headline per test part (GATE vs RF, LightGBM, chemprop
    single-task and CheMeleon-style fine-tuned, with intervals)."""
    comp = data["comparison"]
    sizes = ", ".join(str(s) for s in (data.get("grid") or {}).get("sizes") or [])
    group = GROUPS.get(comp.get("group") or "all", comp.get("group"))
    rows = []
    for part, entry in comp["parts"].items():
        if part not in PARTS:
            continue
        gate, versus, cis = _comparison(entry)
        row = {
            "data like yours": f"{group}, {PARTS[part]} ({_targets(entry.get('n_targets'))})",
            "n": sizes,
            "metric": METRICS["regression"],
        }
        row.update(
            {c: _value((entry.get("mean") or {}).get(m), cis.get(m)) for m, c in COLUMNS.items()}
        )
        row[RATIO] = _verdict(
            versus.get("best_baseline"),
            versus.get("ratio_to_best"),
            versus.get("ratio_ci95"),
            False,
            gate,
        )
        won = versus.get("targets_won")
        row["GATE wins"] = f"{won} of {versus.get('n_targets')} targets" if won is not None else ""
        row["from"] = _source(name, data, shipped)
        rows.append(row)
    return rows


def expectation_rows(results: dict[str, dict], shipped: str | None) -> list[dict[str, str]]:
    """One row per (result, target group, test part or n): GATE and each alternative.

    Task-addition results come first (newest backbone first, as named), then the chemprop
    comparisons (the current one, then its first run); columns no row fills are dropped.
    """
    rows: list[dict[str, str]] = []
    for name in sorted((n for n in results if n.startswith("task_addition")), reverse=True):
        rows += _headline_rows(name, results[name], shipped)
    for name in sorted(n for n in results if n.startswith("chemprop_compare")):
        rows += _chemprop_rows(name, results[name], shipped)
    used = [c for c in dict.fromkeys(k for r in rows for k in r) if any(r.get(c) for r in rows)]
    return [{c: r.get(c, "") for c in used} for r in rows]


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


def summary_table(results: dict[str, dict], shipped: str | None) -> str:
    """The rows as one Markdown table ('' when there are none): the page and the report show it."""
    rows = expectation_rows(results, shipped)
    return md_table(list(rows[0]), [list(r.values()) for r in rows]) if rows else ""


def summary_markdown(results: dict[str, dict], shipped: str | None) -> str:
    """The whole summary as Markdown, for ``docs/benchmarks.md``."""
    text = ["## What to expect on your data", "", EXPLAIN, "", summary_table(results, shipped), ""]
    text += [f"- {g}" for g in gaps(results, shipped)]
    return "\n".join(text).rstrip() + "\n"
