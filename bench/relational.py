"""The relational head (DESIGN §6) against the plain GATE prediction, and the zero-training preview.

(1) Known labels → hidden label on the backbone's scaffold test fold, relational vs plain on the
same (molecule, hidden label) pairs; (2) preview vs trained task addition on held-out targets.
The time from an upload to its first preview is `preview_time`'s (the page's own path). What each
part measures and its targets: bench/README.md.
"""

from __future__ import annotations

import argparse
import tempfile
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from bench.common import (
    csv_rows,
    fmt,
    limit_threads,
    logger,
    records_table,
    settings,
    stopwatch,
    timed,
    write_results,
)
from bench.task_addition import load_target  # one reader of the target tables
from gate_core.paths import DEFAULT_BACKBONE

NAME = "relational"
DESCRIPTION = "relational head: hidden-property RMSE with 0/1/2/all other labels known vs plain GATE; zero-training preview vs trained task addition"
REVEALS = ("0", "1", "2", "all")
GAIN_TARGET = 0.15
FALLBACK_TOLERANCE = 0.02
#: what the JSON keeps of the head's training metadata
HEAD_TRAINING = "best_epoch epochs_run wall_seconds features_seconds val train_config"
#: the preview comparison's four predictions of each held-out target
VARIANTS = ("preview", "preview_table", "trained", "trained_table")
KEY = {"regression": "rmse", "classification": "roc_auc"}  # the preview table's metric
_log = logger(NAME)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--backbone", default=str(DEFAULT_BACKBONE), help="its head: <backbone>_relational")
    add("--seeds", default="0,1,2", help="seeds of the random choice of 1 and 2 known labels")
    add("--bootstrap", type=int, default=300, help="paired bootstrap resamples over molecules")
    add("--max-molecules", type=int, help="cap the test molecules (trial runs)")
    add("--preview-targets", default="Tflash_K,surface_tension_mNm,bbbp", help="held-out targets")
    add("--preview-n", type=int, default=100, help="training molecules of the new task")
    add("--preview-seeds", default="0,1", help="split/subsample seeds of the preview comparison")
    add("--test-fraction", type=float, default=0.2)
    add("--ensemble", type=int, default=5, help="K of the trained task addition")
    add("--threads", type=int, default=1, help="torch/BLAS threads")
    add("--compare", nargs="*", default=[], metavar="HEAD", help="other heads on the same pairs")


# ---------------------------------------------------------------------------- (1) known labels


def hidden_label_instances(known: np.ndarray, reveal: str, rng: np.random.Generator) -> tuple:
    """(molecule, hidden task, revealed tasks as an instance × task mask) of every instance: each
    known label of each molecule hidden in turn, and "0", "1", "2" (drawn at random among the
    molecule's other labels; skipped when it has fewer) or "all" other labels revealed."""
    out = []
    for i, row in enumerate(known):
        labels = np.flatnonzero(row)
        for k in labels:
            others = labels[labels != k]
            if reveal in ("0", "all"):
                chosen = others if reveal == "all" else []
            elif int(reveal) <= len(others):
                chosen = rng.choice(others, int(reveal), replace=False)
            else:
                continue
            out.append((i, k, np.isin(np.arange(len(row)), chosen)))
    mol, task = np.array([o[:2] for o in out], dtype=int).reshape(-1, 2).T
    return mol, task, np.array([o[2] for o in out], dtype=bool).reshape(-1, known.shape[1])


class Pairs:
    """The test molecules' chart, plain prediction and standardised labels, scored by a head."""

    def __init__(self, chart, plain, y, classification) -> None:
        self.chart, self.plain, self.y, self.classification = chart, plain, y, classification

    def correction(self, head, instances, values):
        """The head's correction of each instance's hidden task, its revealed tasks known with
        ``values`` (instances × tasks)."""
        import torch

        from gate_core.relational.graph import KnownGraph

        mol, task, revealed = (torch.as_tensor(a) for a in instances)
        rows = torch.arange(len(mol))
        assert not revealed[rows, task].any(), "a hidden label was revealed"
        graph = KnownGraph.from_mask(values, revealed, self.plain[mol], self.classification)
        with torch.no_grad():
            x = head.data_features(self.chart[mol])
            return head.correction(x, head.backbone_nodes(), graph)[rows, task]

    def errors(self, head, instances, y=None) -> tuple[np.ndarray, ...]:
        """Standardised errors (relational, plain), hidden task and molecule of each instance,
        against the true labels or ``y``."""
        y, (mol, task, _) = self.y if y is None else y, instances
        base, truth = self.plain[mol, task], y[mol, task]
        corr = self.correction(head, instances, y[mol].nan_to_num())
        return (base + corr - truth).numpy(), (base - truth).numpy(), task, mol

    def response(self, head, instances, surprises=(-1.0, -0.5, 0.5, 1.0)) -> dict:
        """What-if sanity on reveal-1 instances: move the known value by s standard units around
        the plain prediction; the hidden label's correction should follow s monotonically."""
        import torch

        mol, shift = instances[0], torch.as_tensor(instances[2])  # one known label per instance
        c = torch.stack(
            [self.correction(head, instances, self.plain[mol] + s * shift) for s in surprises], 1
        )
        diffs = c.diff(dim=1)
        monotone = (diffs >= -1e-6).all(1) | (diffs <= 1e-6).all(1)
        return {
            "surprises_std_units": list(surprises),
            "fraction_monotone": float(monotone.float().mean()),
            "mean_abs_correction_at_1_std": float(c[:, -1].abs().mean()),
            "fraction_same_correction_sign_for_plus_and_minus_1_std": float(
                (c[:, 0].sign() == c[:, -1].sign()).float().mean()
            ),
        }


def _rmse_by_group(err_rel, err_plain, group, n_groups, weight=None, min_count=5) -> pd.DataFrame:
    """Pairs and RMSE (relational, plain) per group (hidden task, or known → hidden pair) with
    ``min_count`` or more pairs; ``weight``: each pair's multiplicity in a bootstrap resample."""
    w = np.ones(len(group)) if weight is None else weight
    n, rel, plain = (
        np.bincount(group, w * v, n_groups)
        for v in (1.0, np.square(err_rel, dtype=float), np.square(err_plain, dtype=float))
    )
    keep = np.flatnonzero(n >= min_count)
    rel, plain = np.sqrt(rel[keep] / n[keep]), np.sqrt(plain[keep] / n[keep])
    frame = {"n": n[keep].astype(int), "rmse_relational": rel, "rmse_plain": plain}
    return pd.DataFrame(frame | {"change": rel / plain - 1.0}, index=keep)


def summarise_errors(err_rel, err_plain, task, tasks, mol=None, n_boot=0, seed=0) -> dict:
    """RMSE per hidden task (≥ 5 pairs) and its mean over tasks, relational vs plain; with
    ``n_boot``, the 95 % interval of the change by a paired bootstrap resampling molecules."""

    def mean_change(weight: np.ndarray | None = None) -> tuple[pd.DataFrame, float, float]:
        per = _rmse_by_group(err_rel, err_plain, task, len(tasks), weight)
        return per, per["rmse_relational"].mean(), per["rmse_plain"].mean()

    per, rel, plain = mean_change()
    changes = []
    if n_boot > 0 and len(task):
        rng = np.random.default_rng(seed)
        _, row_molecule = np.unique(mol, return_inverse=True)
        n = row_molecule.max() + 1
        for _ in range(n_boot):
            _, r, p = mean_change(np.bincount(rng.choice(n, n), minlength=n)[row_molecule] * 1.0)
            changes.append(r / p - 1.0)
    return {
        "per_task": per.set_axis([tasks[k] for k in per.index]).to_dict("index"),
        "mean_rmse_relational": rel,
        "mean_rmse_plain": plain,
        "change": rel / plain - 1.0,
        "n": len(task),
        "ci95_change": list(np.nanpercentile(changes, [2.5, 97.5])) if changes else [None, None],
    }


def oracle_pairwise_linear(instances, residual: np.ndarray, tasks: list[str]) -> dict:
    """A ceiling, not a method: for each (known j → hidden k) pair group of the reveal-1 instances,
    the least-squares line r_k ≈ a + b·r_j fitted on those same test pairs (in-sample)."""
    mol, k, j = instances[0], instances[1], instances[2].argmax(1)
    pairs = pd.DataFrame({"j": j, "k": k, "rj": residual[mol, j], "rk": residual[mol, k]})

    def sse(g: pd.DataFrame) -> pd.Series:
        fit = len(g) >= 3 and g.rj.std(ddof=0) > 0
        fitted = np.polyval(np.polyfit(g.rj, g.rk, 1), g.rj) if fit else 0.0
        return pd.Series(
            {"n": len(g), "plain": (g.rk**2).sum(), "oracle": ((g.rk - fitted) ** 2).sum()}
        )

    per = pairs.groupby(["j", "k"])[["rj", "rk"]].apply(sse).groupby("k").sum()
    per = per[per.n >= 5]
    plain, oracle = (np.mean(np.sqrt(per[c] / per.n)) for c in ("plain", "oracle"))
    return {
        "mean_rmse_plain": plain,
        "mean_rmse_oracle": oracle,
        "change": oracle / plain - 1.0,
        "tasks": [tasks[i] for i in per.index],
    }


def known_label_section(studio, args) -> dict:
    """Part (1): on the test fold, each known label hidden in turn and 0, 1, 2 or all others
    known; relational vs plain on the same pairs, then the same pairs for the ``--compare`` heads."""
    import torch

    from gate_core.relational.io import load_relational
    from gate_core.relational.train import backbone_features, scaled_labels
    from gate_core.training.backbone_split import backbone_split

    # the measured properties (a v2 backbone's descriptor-family tasks are not labels one knows)
    backbone, head = studio.backbone, studio.relational().head
    table, _train, _val, test = backbone_split(studio.backbone_metadata, backbone.property_names)
    test = test[table.mask[test].sum(1) >= 2]
    if args.max_molecules and len(test) > args.max_molecules:
        test = np.sort(np.random.default_rng(0).permutation(test)[: args.max_molecules])
    _log(f"{len(test)} test-fold molecules with ≥ 2 labels; embedding them")
    chart, plain = backbone_features(backbone, [table.smiles[i] for i in test])
    y = scaled_labels(backbone, table.Y[test])
    known, tasks = torch.isfinite(y).numpy(), backbone.property_names
    scored = Pairs(chart, plain, y, backbone.classification.cpu()[backbone.property_columns()])
    counts = zip(*np.unique(known.sum(1), return_counts=True))
    section = {"test_molecules": len(test), "reveals": {}, "compared_heads": {}}
    section["labels_per_molecule"] = {str(k): v for k, v in counts}
    seeds = [int(s) for s in args.seeds.split(",")]
    draws = {  # (seed, instances) per reveal; 1 and 2 known labels drawn at random
        reveal: [
            (s, hidden_label_instances(known, reveal, np.random.default_rng(s)))
            for s in (seeds if reveal in ("1", "2") else [0])
        ]
        for reveal in REVEALS
    }
    for reveal, instances_of in draws.items():
        runs = []
        for seed, instances in instances_of:
            err_rel, err_plain, task, mol = scored.errors(head, instances)
            most = np.max(np.abs(err_rel - err_plain), initial=0.0)
            summary = summarise_errors(err_rel, err_plain, task, tasks, mol, args.bootstrap, seed)
            runs.append(summary | {"seed": seed, "max_abs_correction": most})
        mean = pd.DataFrame(runs)[["mean_rmse_relational", "mean_rmse_plain", "change"]].mean()
        change, spread = mean["change"], np.std([r["change"] for r in runs])
        entry = {"runs": runs, **mean, "change_spread_over_seeds": spread}
        if reveal == "0":  # no known label: the correction is 0 by construction
            entry["target"] = f"within {FALLBACK_TOLERANCE:.0%} of plain"
            entry["reached"] = bool(abs(change) <= FALLBACK_TOLERANCE)
        else:
            entry["target"] = f"≥ {GAIN_TARGET:.0%} lower than plain"
            entry["reached"] = bool(change <= -GAIN_TARGET)
        section["reveals"][reveal] = entry
        _log(f"reveal {reveal}: {change:+.1%} vs plain (target {entry['target']})")
    # which single revealed label helps which hidden one (reveal 1, first seed, ≥ 20 pairs)
    instances, n = draws["1"][0][1], len(tasks)
    err_rel, err_plain, task, _mol = scored.errors(head, instances)
    pair = task * n + instances[2].argmax(1)
    per = _rmse_by_group(err_rel, err_plain, pair, n * n, min_count=20)
    per.insert(0, "hidden", [tasks[p // n] for p in per.index])
    per.insert(0, "known", [tasks[p % n] for p in per.index])
    section["single_label_pairs"] = per.sort_values("change", kind="stable").to_dict("records")
    section["oracle_reveal_1"] = oracle_pairwise_linear(instances, (y - plain).numpy(), tasks)
    section["what_if_response"] = scored.response(head, instances)
    for path in args.compare:
        other, _ = load_relational(path, None)
        changes = {
            reveal: np.mean(
                [summarise_errors(*scored.errors(other, i)[:3], tasks)["change"] for _, i in runs]
            )
            for reveal, runs in draws.items()
        }
        entry = {"correction": other.config.correction, "reveals": changes}
        entry["what_if_response"] = scored.response(other, instances)
        section["compared_heads"][str(path)] = entry
        _log(f"compared head {path} ({entry['correction']}): {changes}")
    # value sensitivity: the same graphs with every known value set to what the plain model expects;
    # the truth is then the plain prediction too, so the error is the correction itself
    expected = torch.where(scored.classification, torch.sigmoid(plain), plain)
    err = scored.errors(head, instances, torch.where(torch.isfinite(y), expected, y))[0]
    section["max_abs_correction_when_values_equal_plain"] = np.max(np.abs(err), initial=0.0)
    return section


# ---------------------------------------------------------------------------- (2) preview vs trained


def _metrics(task_type: str, y: np.ndarray, pred, scale: float) -> dict:
    from gate_core.training.evaluate import classification_metrics, regression_metrics

    pred = np.asarray(pred, dtype=float)
    ok = np.isfinite(pred)
    if task_type == "classification":
        return classification_metrics(y[ok], pred[ok])
    m = regression_metrics(y[ok], pred[ok])
    return m | {"nrmse": m["rmse"] / scale if scale > 0 else float("nan")}


def preview_section(studio, args) -> list[dict]:
    """Preview vs trained task addition, each also with the test molecules' table labels known."""
    from gate_core.data.splits import scaffold_split
    from gate_core.featurizers.molecule import canonical_smiles
    from gate_core.models.gate import TaskInfo
    from gate_core.relational.predict import RelationalPredictor, preview_new_task
    from gate_core.transfer.addition import TaskAdditionConfig, add_task

    backbone, relational = studio.backbone, studio.relational()
    rows = []
    for name in args.preview_targets.split(","):
        smiles, y, task_type = load_target(name)
        for seed in [int(s) for s in args.preview_seeds.split(",")]:
            fractions = (1.0 - args.test_fraction, 0.0, args.test_fraction)
            pool, _, test = scaffold_split(smiles, fractions, seed)
            train = pool[np.random.default_rng(seed).permutation(len(pool))][: args.preview_n]
            tr_s, tr_y = [smiles[i] for i in train], y[train].tolist()
            te_s, te_y = [smiles[i] for i in test], y[test]
            known = [studio.table_labels(canonical_smiles(s) or "") for s in te_s]
            preview = partial(
                preview_new_task, backbone, relational.head, tr_s, tr_y, te_s, task_type, name
            )
            with timed() as t_preview:
                prev = preview()
            config = TaskAdditionConfig(ensemble=args.ensemble, seed=seed, task_type=task_type)
            with timed() as t_add:
                result = add_task(backbone, tr_s, tr_y, TaskInfo(name, task_type=task_type), config)
            predictor = RelationalPredictor(backbone, relational.head, relational.head_meta)
            predictor.add_task_node(name, tr_s, tr_y, model=result.task)
            predictions = {
                "preview": prev["prediction"],
                "preview_table": preview(known=known)["prediction"],
                "trained": result.task.predict(backbone, te_s)["mean"],
                "trained_table": predictor.predict(te_s, [name], known)[f"{name}_relational"],
            }
            row = {"target": name, "task_type": task_type, "seed": seed}
            row |= {"n_train": len(train), "n_test": len(test)}
            row["test_with_table_labels"] = np.mean([bool(k) for k in known])
            row |= {k: _metrics(task_type, te_y, v, te_y.std()) for k, v in predictions.items()}
            row |= {"preview_seconds": t_preview.wall, "add_task_seconds": t_add.wall}
            rows.append(row | {"ridge": prev.attrs.get("ridge")})
            scores = ", ".join(f"{v} {row[v][KEY[task_type]]:.4g}" for v in VARIANTS)
            _log(f"{name} seed {seed}: {KEY[task_type]} {scores}")
    return rows


# ---------------------------------------------------------------------------- run


def run(args: argparse.Namespace) -> tuple[Path, Path]:
    from gate_core.api import GateStudio

    limit_threads(args.threads)
    elapsed = stopwatch()
    with tempfile.TemporaryDirectory() as registry:  # the facade, with an empty task registry
        studio = GateStudio(args.backbone, data_dir=registry, device="cpu")
        relational = studio.relational()
        results = {
            "backbone": str(args.backbone),
            "backbone_id": studio.backbone_id,
            "head": str(studio.relational_path),
            "head_training": {k: relational.head_meta.get(k) for k in HEAD_TRAINING.split()},
            "settings": settings(args),
            "head_correction": relational.head.config.correction,
            "known_labels": known_label_section(studio, args),
            "preview_vs_trained": preview_section(studio, args),
            "wall_seconds": elapsed(),
        }
    return write_results(NAME, results, markdown, args.results_dir, rows=csv_rows(NAME, results))


def _pct(x: float | None) -> str:
    return fmt(x, "+.1%", "n/a")


def _what_if(w: dict) -> str:
    same_sign = w["fraction_same_correction_sign_for_plus_and_minus_1_std"]
    return f"monotone for {w['fraction_monotone']:.0%} of pairs, same sign for −1 and +1 in {same_sign:.0%}"


def markdown(results: dict) -> str:
    """The result's one renderer; what each part measures is in bench/README.md (``relational``)."""
    kl, ht, s = results["known_labels"], results["head_training"], results["settings"]
    oracle, w = kl["oracle_reveal_1"], kl["what_if_response"]
    reveals = [
        e
        | {"reveal": r, "pairs": e["runs"][0]["n"]}
        | {"ci": "{} … {}".format(*map(_pct, e["runs"][0]["ci95_change"]))}
        | {"verdict": "**reached**" if e["reached"] else "**not reached**"}
        for r, e in kl["reveals"].items()
    ]
    one = kl["reveals"]["1"]["runs"][0]["per_task"]
    per_task = [
        {"task": k, "all": v, "one": one.get(k)}
        for k, v in kl["reveals"]["all"]["runs"][0]["per_task"].items()
    ]
    pairs = kl["single_label_pairs"]
    previews = [
        r | {"metric": (key := KEY[r["task_type"]]), "score": {v: r[v][key] for v in VARIANTS}}
        for r in results["preview_vs_trained"]
    ]
    out = [
        "# Relational head: known labels → hidden labels",
        f"Backbone `{results['backbone']}` ({results['backbone_id']}), head `{results['head']}` "
        f"(trained {ht['epochs_run']} epochs, best {ht['best_epoch']}, {ht['wall_seconds']:.0f} s)."
        f" {kl['test_molecules']} test-fold molecules with ≥ 2 labels, each label hidden in turn "
        f"(seeds {s['seeds']}); standardised RMSE, mean over tasks; 95 % CI: paired bootstrap "
        "over molecules (first seed).",
        records_table(
            "labels revealed | pairs | plain RMSE | relational RMSE | change | 95 % CI | target | verdict",
            "reveal pairs mean_rmse_plain mean_rmse_relational change:+.1% ci target verdict",
            reveals,
        ),
        "Per task (all other labels revealed):",
        records_table(
            "task | pairs | plain | relational (1 known) | change (1) | relational (all known) | change (all)",
            "task all.n all.rmse_plain one.rmse_relational one.change:+.1% all.rmse_relational all.change:+.1%",
            per_task,
        ),
        f"Reference, not a method: a line r_k ≈ a + b·r_j per (known, hidden) pair fitted on these "
        f"test pairs themselves reaches {oracle['mean_rmse_oracle']:.4g} vs plain "
        f"{oracle['mean_rmse_plain']:.4g} ({_pct(oracle['change'])}).",
        f"What-if (head `{results.get('head_correction')}`; one known label moved −1, −0.5, +0.5, "
        f"+1 standard units): the hidden label's correction is {_what_if(w)}, "
        f"mean |correction| at +1 = {w['mean_abs_correction_at_1_std']:.3g}. With every known value "
        f"equal to the plain expectation, the largest correction is "
        f"{kl['max_abs_correction_when_values_equal_plain']:.2g}.",
        *(
            f"Compared head `{path}` (correction `{e['correction']}`): change vs plain "
            + ", ".join(f"{r} known {_pct(v)}" for r, v in e["reveals"].items())
            + f"; what-if {_what_if(e['what_if_response'])}."
            for path, e in kl["compared_heads"].items()
        ),
        "Single known label → hidden label (≥ 20 pairs), largest gains and losses:",
        records_table(
            "known | hidden | pairs | plain | relational | change",
            "known hidden n rmse_plain rmse_relational change:+.1%",
            pairs[:8] + [p for p in pairs[-4:] if p not in pairs[:8]],
        ),
        "## Zero-training preview vs trained task addition",
        f"*Trained*: `add_task`, learned λ, K = {s['ensemble']}; *+table*: the test molecules' "
        "labels in the backbone's table known; RMSE in the target's units (NRMSE = RMSE / test "
        "std) or ROC-AUC.",
        records_table(
            "target | seed | n | test | metric | preview | trained | preview NRMSE | trained NRMSE | preview +table | trained +table | test with table labels | preview s | add-task s",
            "target seed n_train n_test metric score.preview score.trained preview.nrmse trained.nrmse score.preview_table score.trained_table test_with_table_labels:.0% preview_seconds add_task_seconds",
            previews,
        ),
    ]
    return "\n\n".join(out)
