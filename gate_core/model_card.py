"""A model card per added task: its data, split, quality with intervals, applicability domain,
top transfer ratios, and the backbone and versions it belongs to, as Markdown and as HTML.

Why here: the app shows and downloads the card, ``export`` puts it in the task's archive, and
both must say the same thing, from the registry record and the task's own metadata. The card is
built from structured sections, so the Markdown and HTML renderings cannot drift apart, and
user text (names, units, descriptions, file names) is escaped in both.
"""

from __future__ import annotations

import html
import platform
import re
from dataclasses import dataclass, field

import numpy as np
from rdkit import rdBase

from gate_core import __version__
from gate_core.registry import TaskRecord
from gate_core.text import plural
from gate_core.transfer.ratio_table import ratio_frame

METRICS = {"regression": ("r2", "rmse", "mae"), "classification": ("roc_auc", "accuracy")}
METRIC_NAMES = {
    "r2": "R²",
    "rmse": "RMSE",
    "mae": "MAE",
    "roc_auc": "ROC-AUC",
    "accuracy": "accuracy",
}
MODEL_NAMES = {
    "gate": "trained task (GATE)",
    "probe": "frozen-backbone probe",
    "preview": "zero-training preview (relational head)",
}
TOP_RATIOS = 5
BOOTSTRAP = 1000
LEVEL = 0.95
#: Markdown's active characters, plus ``:`` (autolinks, Streamlit's colour directives), ``$``
#: (maths), ``&`` (entities), ``=`` and ``.`` (setext headings, numbered lists).
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|<>~=.:$&-])")


@dataclass
class Section:
    """A titled part of the card: paragraphs, then an optional table (header row + rows)."""

    title: str
    paragraphs: list[str] = field(default_factory=list)
    table: list[list[str]] | None = None


@dataclass
class ModelCard:
    """The card's sections; ``markdown()`` and ``html()`` render the same content."""

    task: str
    sections: list[Section]

    @property
    def title(self) -> str:
        return f"Model card: {self.task}"

    def markdown(self) -> str:
        lines = [f"# Model card: {_md(self.task)}", ""]
        for section in self.sections:
            lines += [f"## {section.title}", ""]
            for paragraph in section.paragraphs:
                lines += [paragraph, ""]
            if section.table:
                header, *rows = section.table
                lines.append("| " + " | ".join(header) + " |")
                lines.append("|" + "---|" * len(header))
                lines += ["| " + " | ".join(row) + " |" for row in rows]
                lines.append("")
        return "\n".join(lines)

    def html(self) -> str:
        parts = [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>{html.escape(self.title)}</title>",
            "<style>body{font-family:sans-serif;max-width:52em;margin:2em auto;line-height:1.45}"
            "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}</style>",
            "</head><body>",
            f"<h1>{html.escape(self.title)}</h1>",
        ]
        for section in self.sections:
            parts.append(f"<h2>{html.escape(section.title)}</h2>")
            parts += [f"<p>{_html_inline(p)}</p>" for p in section.paragraphs]
            if section.table:
                header, *rows = section.table
                parts.append(
                    "<table><tr>" + "".join(f"<th>{_html_inline(h)}</th>" for h in header) + "</tr>"
                )
                parts += [
                    "<tr>" + "".join(f"<td>{_html_inline(c)}</td>" for c in row) + "</tr>"
                    for row in rows
                ]
                parts.append("</table>")
        parts.append("</body></html>")
        return "\n".join(parts)


def _md(text: object) -> str:
    """User text as literal Markdown on one line (no links, images, emphasis, headings, lists or
    table breaks it did not ask for). Every value read from a record or an imported task's
    metadata goes through it; the HTML rendering escapes it again (:func:`_html_inline`)."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(str(text).splitlines()))


def _html_inline(markdown: str) -> str:
    """The card's own inline Markdown (backslash escapes, ``**bold**``) as HTML; escaped ``\\*\\*`` stays literal."""
    pieces = re.split(r"(?<!\\)\*\*", markdown)
    text = [html.escape(re.sub(r"\\(.)", r"\1", piece), quote=False) for piece in pieces]
    return "".join(f"<b>{t}</b>" if i % 2 and i < len(text) - 1 else t for i, t in enumerate(text))


def _number(value: object) -> str:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "–"
    return f"{number:.3g}" if np.isfinite(number) else "–"


def metric_intervals(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    task_type: str,
    n_boot: int = BOOTSTRAP,
    level: float = LEVEL,
    seed: int = 0,
) -> dict[str, tuple[float, float]]:
    """Percentile-bootstrap intervals of each metric over molecules (resampled with replacement)."""
    from gate_core.training.evaluate import classification_metrics, regression_metrics

    score = classification_metrics if task_type == "classification" else regression_metrics
    y_true, y_pred = np.asarray(y_true, float), np.asarray(y_pred, float)
    if len(y_true) < 5:
        return {}
    rng = np.random.default_rng(seed)
    samples: dict[str, list[float]] = {k: [] for k in METRICS[task_type]}
    for _ in range(n_boot):
        pick = rng.integers(0, len(y_true), len(y_true))
        for key, value in score(y_true[pick], y_pred[pick]).items():
            if key in samples and np.isfinite(value):
                samples[key].append(float(value))
    tail = 100 * (1 - level) / 2
    return {
        k: (float(np.percentile(v, tail)), float(np.percentile(v, 100 - tail)))
        for k, v in samples.items()
        if v
    }


def _quality(record: TaskRecord, metadata: dict) -> Section:
    metrics = record.metrics or {}
    keys = METRICS.get(record.task_type, METRICS["regression"])
    oof = metadata.get("oof") or {}
    folds = np.asarray(oof.get("fold", []))
    held = folds >= 0 if len(folds) else np.zeros(0, bool)
    y_true = np.asarray(oof.get("y_true", []), float)
    pct = f"{LEVEL:.0%}"
    table = [["model", *[f"{METRIC_NAMES[k]} ({pct} interval)" for k in keys], "molecules"]]
    for model, values in (metrics.get("comparison") or {}).items():
        intervals = (
            metric_intervals(y_true[held], np.asarray(oof[model], float)[held], record.task_type)
            if model in oof and held.any()
            else {}
        )
        name = (MODEL_NAMES[model] if model in MODEL_NAMES else _md(model)) + (
            " · answers predictions" if model == metrics.get("model") else ""
        )
        cells = [
            _number(values.get(k))
            + (
                f" ({_number(intervals[k][0])} to {_number(intervals[k][1])})"
                if k in intervals
                else ""
            )
            for k in keys
        ]
        table.append([name, *cells, _number(values.get("n"))])
    paragraphs = [
        "Out-of-fold: every molecule is predicted by the ensemble member that did not train on it "
        f"(folds by scaffold), so these numbers describe molecules the model has not seen. Intervals: {pct} bootstrap over molecules."
    ]
    if metrics.get("test"):
        test, base = metrics["test"], metrics.get("baseline_test") or {}
        paragraphs.append(
            "Separate test set: "
            + " · ".join(
                f"{METRIC_NAMES[k]} {_number(test.get(k))} (frozen-backbone probe {_number(base.get(k))})"
                for k in keys
            )
            + f" on {plural(int(test.get('n', 0) or 0), 'molecule')}."
        )
    if len(table) == 1:
        return Section(
            "Quality", paragraphs[1:] or ["No quality estimate was stored with this task."]
        )
    return Section("Quality", paragraphs, table)


def model_card(
    record: TaskRecord, metadata: dict | None = None, backbone: dict | None = None
) -> ModelCard:
    """The card of one task from its registry record, its saved metadata and the backbone's description.

    ``metadata``: the task's ``metadata.json`` (config, out-of-fold predictions, domain); ``backbone``:
    ``{"id", "n_sources", "kinds"}`` as the API describes the installed backbone. Missing parts
    are said to be missing rather than guessed.
    """
    metadata = metadata or {}
    sizes, config = record.sizes or {}, metadata.get("config") or {}
    summary = Section(
        "Summary",
        [_md(record.description)] if record.description else [],
        [
            ["field", "value"],
            ["task", _md(record.name)],
            ["type", _md(record.task_type)],
            ["unit", _md(record.unit) or "–"],
            ["created", _md((record.created or "")[:19].replace("T", " ")) or "–"],
        ],
    )
    n_test = int(sizes.get("n_test") or 0)
    data = Section(
        "Data",
        [
            f"{plural(int(sizes.get('n_rows') or 0), 'row')} in the uploaded table; {plural(int(sizes.get('n_valid') or 0), 'molecule')} used; "
            f"{plural(int(sizes.get('n_invalid') or 0), 'invalid row')} skipped (unparseable SMILES or missing value); "
            f"{plural(int(sizes.get('n_duplicates_merged') or 0), 'duplicate row')} merged into one row per molecule (median value)."
        ],
    )
    split = (
        f"{plural(int(sizes.get('n_train') or 0), 'molecule')} train the model"
        + (
            f"; {plural(n_test, 'molecule')} of held-out scaffolds form a separate test set."
            if n_test
            else "; no separate test set (every molecule trains the model)."
        )
        + (
            f" Ensemble of {plural(int(config['ensemble']), 'member')}, scaffold folds; at most {_md(config.get('max_steps', '?'))} steps per member."
            if config.get("ensemble")
            else ""
        )
    )
    domain = metadata.get("domain") or {}
    applicability = Section(
        "Applicability domain",
        [
            f"A molecule's domain distance is its mean distance to the {_md(domain.get('neighbours', 5))} nearest training molecules in the "
            "common chart (the backbone's shared latent space), divided by the 95th percentile of the same distance among the training "
            "molecules. ≤ 1: inside the training data; above 2: outside it, where predictions deserve less trust and intervals widen."
        ],
    )
    ranked = ratio_frame(record.ratios).head(TOP_RATIOS)
    ratios = (
        Section(
            f"Top {len(ranked)} transfer ratios",
            [
                f"Mode: {_md(metadata.get('ratio_mode', config.get('ratios', '?')))}. λ = 1 is the default weight of a source property; "
                "the share is λ over the sum of all λ. They describe what helped this model on these data, not a physical or causal link."
            ],
            [["source property", "λ", "± (ensemble)", "share", "vs the next source"]]
            + [
                [_md(r.source), _number(r.ratio), _number(r.ratio_std), f"{r.share:.1%}", r.vs_next]
                for r in ranked.itertuples()
            ],
        )
        if len(ranked)
        else Section("Transfer ratios", ["No transfer ratios were stored (ratios off)."])
    )
    backbone = backbone or {}
    provenance = Section(
        "Backbone and versions",
        [],
        [
            ["field", "value"],
            ["backbone id", _md(record.backbone_id or "–")],
            [
                "backbone sources",
                str(backbone.get("n_sources", "–"))
                + (f" ({_md(backbone['kinds'])})" if backbone.get("kinds") else ""),
            ],
            ["task file format", _md(metadata.get("format_version", "–"))],
            [
                "card written by",
                f"gate_core {__version__}, RDKit {rdBase.rdkitVersion}, Python {platform.python_version()}",
            ],
        ],
    )
    return ModelCard(
        record.name,
        [
            summary,
            data,
            Section("Split", [split]),
            _quality(record, metadata),
            applicability,
            ratios,
            provenance,
        ],
    )
