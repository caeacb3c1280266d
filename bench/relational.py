"""The relational head (DESIGN §6) against the plain GATE prediction, and the zero-training preview.

(1) Known labels → hidden label on the backbone's scaffold test fold, relational vs plain on the
same (molecule, hidden label) pairs; (2) preview vs trained task addition on held-out targets;
(3) time to first preview. What each part measures and its targets: bench/README.md.
"""

from __future__ import annotations

import argparse
from functools import partial
from pathlib import Path

import numpy as np

from bench.common import (
    csv_rows,
    fmt,
    limit_threads,
    logger,
    records_table,
    settings,
    stopwatch,
    table,
    timed,
    write_results,
)
from bench.task_addition import load_target  # one reader of the target tables
from gate_core.paths import DEFAULT_BACKBONE

NAME = "relational"
DESCRIPTION = "relational head: hidden-property RMSE with 0/1/2/all other labels known vs plain GATE; zero-training preview vs trained task addition; time to first preview"
REVEALS = ("0", "1", "2", "all")
GAIN_TARGET = 0.15
FALLBACK_TOLERANCE = 0.02
PREVIEW_TARGET_SECONDS = 5.0
#: what the JSON keeps of the head's training metadata
HEAD_TRAINING = (
    "best_epoch",
    "epochs_run",
    "wall_seconds",
    "features_seconds",
    "val",
    "train_config",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--backbone", default=str(DEFAULT_BACKBONE))
    add("--head", help="relational head directory (default: <backbone>_relational)")
    add("--seeds", default="0,1,2", help="seeds of the random choice of 1 and 2 known labels")
    add("--bootstrap", type=int, default=300, help="paired bootstrap resamples over molecules")
    add("--max-molecules", type=int, help="cap the test molecules (trial runs)")
    add("--preview-targets", default="Tflash_K,surface_tension_mNm,bbbp", help="held-out targets")
    add("--preview-n", type=int, default=100, help="training molecules of the new task")
    add("--preview-seeds", default="0,1", help="split/subsample seeds of the preview comparison")
    add("--test-fraction", type=float, default=0.2)
    add("--ensemble", type=int, default=5, help="K of the trained task addition")
    add("--threads", type=int, default=1, help="torch/BLAS threads")
    add("--skip-preview", action="store_true")
    add("--compare", nargs="*", default=[], metavar="HEAD", help="other heads on the same pairs")


_log = logger(NAME)


def _csv(text: str) -> list[str]:
    return [t.strip() for t in str(text).split(",") if t.strip()]


# ---------------------------------------------------------------------------- (1) known labels


def hidden_label_instances(
    known: np.ndarray, reveal: str, rng: np.random.Generator
) -> list[tuple[int, int, list[int]]]:
    """(molecule, hidden task, revealed tasks) for every known label of every molecule.

    ``reveal``: "0", "1", "2" (drawn at random among the molecule's other labels; skipped when it
    has fewer) or "all" (every other label). The hidden task is never among the revealed ones.
    """
    out = []
    for i in range(known.shape[0]):
        labels = np.flatnonzero(known[i])
        for k in labels:
            others = [int(j) for j in labels if j != k]
            if reveal == "all":
                chosen = others
            else:
                r = int(reveal)
                if r > len(others):
                    continue
                chosen = sorted(rng.choice(others, r, replace=False).tolist()) if r else []
            out.append((i, int(k), chosen))
    return out


def score_instances(
    head, chart, plain, y, classification, instances
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Standardised errors (relational, plain), hidden task and molecule of each instance."""
    import torch

    from gate_core.relational.graph import KnownGraph

    mol = torch.as_tensor([m for m, _, _ in instances], dtype=torch.long)
    task = torch.as_tensor([k for _, k, _ in instances], dtype=torch.long)
    revealed = torch.zeros((len(instances), y.shape[1]), dtype=torch.bool)
    for row, (_, _, chosen) in enumerate(instances):
        revealed[row, chosen] = True
    values, base = y[mol], plain[mol]
    assert not revealed[torch.arange(len(instances)), task].any(), "a hidden label was revealed"
    graph = KnownGraph.from_mask(torch.nan_to_num(values), revealed, base, classification)
    with torch.no_grad():
        corr = head.correction(head.data_features(chart[mol]), head.backbone_nodes(), graph)
    rows = torch.arange(len(instances))
    truth = values[rows, task]
    err_rel = (base[rows, task] + corr[rows, task] - truth).numpy()
    err_plain = (base[rows, task] - truth).numpy()
    return err_rel, err_plain, task.numpy(), mol.numpy()


def _rmse(errors: np.ndarray) -> float:
    return float(np.sqrt(np.mean(errors**2)))


def summarise_errors(err_rel, err_plain, task, tasks: list[str], min_count: int = 5) -> dict:
    per_task = {}
    for k, name in enumerate(tasks):
        sel = task == k
        if sel.sum() >= min_count:
            rel, plain = _rmse(err_rel[sel]), _rmse(err_plain[sel])
            per_task[name] = {"n": int(sel.sum()), "rmse_relational": rel, "rmse_plain": plain}
            per_task[name]["change"] = rel / plain - 1.0
    rel, pla = (
        float(np.mean([v[key] for v in per_task.values()])) if per_task else float("nan")
        for key in ("rmse_relational", "rmse_plain")
    )
    return {
        "per_task": per_task,
        "mean_rmse_relational": rel,
        "mean_rmse_plain": pla,
        "change": rel / pla - 1.0 if pla else float("nan"),
        "n": int(len(task)),
    }


def bootstrap_change(
    err_rel, err_plain, task, mol, tasks, n_boot: int, seed: int = 0
) -> tuple[float, float]:
    """95 % interval of the change in mean-over-tasks RMSE, resampling molecules (paired)."""
    if n_boot <= 0 or len(mol) == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    molecules = np.unique(mol)
    rows_of = {m: np.flatnonzero(mol == m) for m in molecules}
    changes = []
    for _ in range(n_boot):
        pick = rng.choice(molecules, len(molecules), replace=True)
        idx = np.concatenate([rows_of[m] for m in pick])
        s = summarise_errors(err_rel[idx], err_plain[idx], task[idx], tasks)
        changes.append(s["change"])
    return float(np.nanpercentile(changes, 2.5)), float(np.nanpercentile(changes, 97.5))


def known_label_section(backbone, meta, head, args, compare: list[str] | None = None) -> dict:
    import torch

    from gate_core.relational.io import load_relational
    from gate_core.relational.train import backbone_features, scaled_labels
    from gate_core.training.backbone_split import backbone_split

    table, _train, _val, test = backbone_split(meta, backbone.task_names)
    known_all = table.mask[test]
    test = test[known_all.sum(1) >= 2]
    if args.max_molecules and len(test) > args.max_molecules:
        test = np.sort(np.random.default_rng(0).permutation(test)[: args.max_molecules])
    smiles = [table.smiles[i] for i in test]
    _log(f"{len(test)} test-fold molecules with ≥ 2 labels; embedding them")
    chart, plain = backbone_features(backbone, smiles)
    y = scaled_labels(backbone, table.Y[test])
    known = torch.isfinite(y).numpy()
    classification = backbone.classification.cpu()
    tasks = backbone.task_names
    label_counts = known.sum(1)
    section = {
        "test_molecules": int(len(test)),
        "labels_per_molecule": {
            str(int(k)): int((label_counts == k).sum()) for k in np.unique(label_counts)
        },
        "reveals": {},
    }

    def seeds(reveal: str) -> list[int]:  # random choices of 1 and 2 known labels
        return [int(s) for s in _csv(args.seeds)] if reveal in ("1", "2") else [0]

    def score(h, instances, labels=y):  # noqa: ANN001, ANN202 - a head; score_instances' tuple
        return score_instances(h, chart, plain, labels, classification, instances)

    def draw(reveal: str, seed: int) -> list:
        return hidden_label_instances(known, reveal, np.random.default_rng(seed))

    for reveal in REVEALS:
        runs = []
        for seed in seeds(reveal):
            err_rel, err_plain, task, mol = score(head, draw(reveal, seed))
            summary = summarise_errors(err_rel, err_plain, task, tasks)
            summary["seed"] = seed
            summary["ci95_change"] = bootstrap_change(
                err_rel, err_plain, task, mol, tasks, args.bootstrap, seed
            )
            summary["max_abs_correction"] = (
                float(np.max(np.abs(err_rel - err_plain))) if len(err_rel) else 0.0
            )
            runs.append(summary)
        changes = [r["change"] for r in runs]
        entry = {
            "runs": runs,
            "mean_rmse_relational": float(np.mean([r["mean_rmse_relational"] for r in runs])),
            "mean_rmse_plain": float(np.mean([r["mean_rmse_plain"] for r in runs])),
            "change": float(np.mean(changes)),
            "change_spread_over_seeds": float(np.std(changes)),
        }
        if reveal == "0":
            entry["target"] = f"within {FALLBACK_TOLERANCE:.0%} of plain"
            entry["reached"] = bool(abs(entry["change"]) <= FALLBACK_TOLERANCE)
        else:
            entry["target"] = f"≥ {GAIN_TARGET:.0%} lower than plain"
            entry["reached"] = bool(entry["change"] <= -GAIN_TARGET)
        section["reveals"][reveal] = entry
        _log(
            f"reveal {reveal}: relational {entry['mean_rmse_relational']:.4f} vs plain {entry['mean_rmse_plain']:.4f} "
            f"({entry['change']:+.1%}; target {entry['target']}: {'reached' if entry['reached'] else 'NOT reached'})"
        )
    # which single revealed label helps which hidden one (reveal = 1, first seed, pairs with ≥ 20 cases)
    instances = draw("1", 0)
    err_rel, err_plain, task, _mol = score(head, instances)
    source = np.array([c[0] for _, _, c in instances])
    pairs = []
    for k, j in np.ndindex(len(tasks), len(tasks)):
        sel = (task == k) & (source == j)
        if sel.sum() >= 20:
            r, p = _rmse(err_rel[sel]), _rmse(err_plain[sel])
            pair = {"known": tasks[j], "hidden": tasks[k], "n": int(sel.sum())}
            pairs.append(pair | {"rmse_relational": r, "rmse_plain": p, "change": r / p - 1})
    section["single_label_pairs"] = sorted(pairs, key=lambda d: d["change"])
    section["oracle_reveal_1"] = oracle_pairwise_linear(instances, y.numpy() - plain.numpy(), tasks)
    section["what_if_response"] = response_check(head, chart, plain, y, classification, instances)
    section["compared_heads"] = {}
    for path in compare or []:
        other, _ = load_relational(path, None)
        entry = {"correction": other.config.correction, "reveals": {}}
        for reveal in REVEALS:
            scored = [score(other, draw(reveal, seed)) for seed in seeds(reveal)]
            changes = [summarise_errors(er, ep, tk, tasks)["change"] for er, ep, tk, _ in scored]
            entry["reveals"][reveal] = float(np.mean(changes))
        entry["what_if_response"] = response_check(
            other, chart, plain, y, classification, instances
        )
        section["compared_heads"][str(path)] = entry
        _log(
            f"compared head {path} ({entry['correction']}): "
            + ", ".join(f"reveal {r}: {v:+.1%}" for r, v in entry["reveals"].items())
            + f"; monotone what-if {entry['what_if_response']['fraction_monotone']:.0%}"
        )
    # value sensitivity: the same graphs with every known value set to what the plain model expects;
    # the truth is then the plain prediction too, so the error is the correction itself
    expected = torch.where(classification, torch.sigmoid(plain), plain)
    err_expected = score(head, instances, torch.where(torch.isfinite(y), expected, y))[0]
    section["max_abs_correction_when_values_equal_plain"] = (
        float(np.max(np.abs(err_expected))) if len(err_expected) else 0.0
    )
    return section


def response_check(
    head, chart, plain, y, classification, instances, surprises=(-1.0, -0.5, 0.5, 1.0)
) -> dict:
    """What-if sanity: with one known label, move its value by s standard units around the plain
    prediction; the hidden label's correction should follow s monotonically (either direction)."""
    import torch

    from gate_core.relational.graph import KnownGraph

    corrections = []
    mol = torch.as_tensor([m for m, _, _ in instances], dtype=torch.long)
    task = torch.as_tensor([k for _, k, _ in instances], dtype=torch.long)
    source = torch.as_tensor([c[0] for _, _, c in instances], dtype=torch.long)
    rows = torch.arange(len(instances))
    revealed = torch.zeros((len(instances), y.shape[1]), dtype=torch.bool)
    revealed[rows, source] = True
    base = plain[mol]
    x0 = head.data_features(chart[mol])
    for shift in surprises:
        values = base.clone()
        values[rows, source] = base[rows, source] + shift
        graph = KnownGraph.from_mask(values, revealed, base, classification)
        with torch.no_grad():
            corrections.append(head.correction(x0, head.backbone_nodes(), graph)[rows, task])
    c = torch.stack(corrections, dim=1)  # (n, len(surprises))
    diffs = c[:, 1:] - c[:, :-1]
    monotone = ((diffs >= -1e-6).all(1) | (diffs <= 1e-6).all(1)).float()
    return {
        "surprises_std_units": list(surprises),
        "fraction_monotone": float(monotone.mean()),
        "mean_abs_correction_at_1_std": float(c[:, -1].abs().mean()),
        "fraction_same_correction_sign_for_plus_and_minus_1_std": float(
            (torch.sign(c[:, 0]) == torch.sign(c[:, -1])).float().mean()
        ),
    }


def oracle_pairwise_linear(instances, residual: np.ndarray, tasks: list[str]) -> dict:
    """A ceiling, not a method: for each (known j → hidden k) pair group of the reveal-1 instances,
    the least-squares line r_k ≈ a + b·r_j fitted on those same test pairs (in-sample)."""
    groups: dict[tuple[int, int], list[int]] = {}
    for i, k, chosen in instances:
        groups.setdefault((chosen[0], k), []).append(i)
    sse_plain: dict[int, float] = {}
    sse_oracle: dict[int, float] = {}
    count: dict[int, int] = {}
    for (j, k), mols in groups.items():
        rk, rj = residual[mols, k], residual[mols, j]
        fitted = (
            np.polyval(np.polyfit(rj, rk, 1), rj)
            if len(mols) >= 3 and rj.std() > 0
            else np.zeros_like(rk)
        )
        sse_plain[k] = sse_plain.get(k, 0.0) + float(np.sum(rk**2))
        sse_oracle[k] = sse_oracle.get(k, 0.0) + float(np.sum((rk - fitted) ** 2))
        count[k] = count.get(k, 0) + len(mols)
    keep = [k for k in count if count[k] >= 5]
    plain = float(np.mean([np.sqrt(sse_plain[k] / count[k]) for k in keep]))
    oracle = float(np.mean([np.sqrt(sse_oracle[k] / count[k]) for k in keep]))
    return {
        "mean_rmse_plain": plain,
        "mean_rmse_oracle": oracle,
        "change": oracle / plain - 1.0,
        "tasks": [tasks[k] for k in sorted(keep)],
    }


# ---------------------------------------------------------------------------- (2) preview vs trained


def _metrics(task_type: str, y: np.ndarray, pred: np.ndarray, scale: float) -> dict:
    from gate_core.training.evaluate import classification_metrics, regression_metrics

    ok = np.isfinite(pred)
    if task_type == "classification":
        return classification_metrics(y[ok], pred[ok])
    m = regression_metrics(y[ok], pred[ok])
    m["nrmse"] = m["rmse"] / scale if scale > 0 else float("nan")
    return m


def preview_section(backbone, studio_meta, head, head_meta, args, table_labels) -> list[dict]:
    from gate_core.data.splits import scaffold_split
    from gate_core.featurizers.molecule import canonical_smiles
    from gate_core.models.gate import TaskInfo
    from gate_core.relational.predict import RelationalPredictor, preview_new_task
    from gate_core.transfer.addition import TaskAdditionConfig, add_task

    rows = []
    for name in _csv(args.preview_targets):
        smiles, y, task_type = load_target(name)
        for seed in [int(s) for s in _csv(args.preview_seeds)]:
            pool, _, test = scaffold_split(
                smiles, (1.0 - args.test_fraction, 0.0, args.test_fraction), seed
            )
            order = pool[np.random.default_rng(seed).permutation(len(pool))]
            train = order[: args.preview_n]
            tr_s, tr_y = [smiles[i] for i in train], y[train]
            te_s, te_y = [smiles[i] for i in test], y[test]
            scale = float(te_y.std())
            known = [table_labels.get(canonical_smiles(s) or "", {}) for s in te_s]
            covered = float(np.mean([bool(k) for k in known]))
            preview = partial(
                preview_new_task, backbone, head, tr_s, tr_y.tolist(), te_s, task_type, name
            )
            with timed() as t:
                prev = preview()
            preview_seconds = t.wall
            prev_known = preview(known=known)
            config = TaskAdditionConfig(ensemble=args.ensemble, seed=seed, task_type=task_type)
            with timed() as t:
                result = add_task(
                    backbone, tr_s, tr_y.tolist(), TaskInfo(name, task_type=task_type), config
                )
            add_seconds = t.wall
            trained = result.task.predict(backbone, te_s)["mean"].to_numpy(dtype=float)
            predictor = RelationalPredictor(backbone, head, head_meta)
            predictor.add_task_node(name, tr_s, tr_y.tolist(), model=result.task)
            trained_known = predictor.predict(te_s, [name], known)[f"{name}_relational"]
            predictions = {
                "preview": prev["prediction"],
                "preview_table": prev_known["prediction"],
                "trained": trained,
                "trained_table": trained_known,
            }
            row = {
                "target": name,
                "task_type": task_type,
                "seed": seed,
                "n_train": int(len(train)),
                "n_test": int(len(test)),
                "test_with_table_labels": covered,
                **{
                    k: _metrics(task_type, te_y, np.asarray(v, dtype=float), scale)
                    for k, v in predictions.items()
                },
                "preview_seconds": preview_seconds,
                "add_task_seconds": add_seconds,
                "ridge": prev.attrs.get("ridge"),
            }
            rows.append(row)
            key = "roc_auc" if task_type == "classification" else "rmse"
            _log(
                f"{name} seed {seed} n={len(train)}: preview {key}={row['preview'][key]:.4g} ({preview_seconds:.1f} s), "
                f"trained {key}={row['trained'][key]:.4g} ({add_seconds:.1f} s); +table: preview {row['preview_table'][key]:.4g}, "
                f"trained {row['trained_table'][key]:.4g} ({covered:.0%} of test molecules have table labels)"
            )
    return rows


def time_to_first_preview(backbone, head_path, args) -> dict:
    from gate_core.data import featurize
    from gate_core.relational.io import load_relational
    from gate_core.relational.predict import preview_new_task

    name = _csv(args.preview_targets)[0]
    smiles, y, task_type = load_target(name)
    rng = np.random.default_rng(7)
    pick = rng.permutation(len(smiles))
    support, query = pick[: args.preview_n], pick[args.preview_n : args.preview_n + 100]
    featurize.clear_caches()
    elapsed = stopwatch()
    head, _ = load_relational(head_path)
    t_load = elapsed()
    out = preview_new_task(
        backbone,
        head,
        [smiles[i] for i in support],
        y[support].tolist(),
        [smiles[i] for i in query],
        task_type=task_type,
        name=name,
    )
    total = elapsed()
    result = {
        "target": name,
        "support": int(len(support)),
        "query": int(len(query)),
        "head_load_seconds": t_load,
        "preview_seconds": total - t_load,
        "total_seconds": total,
        "target_seconds": PREVIEW_TARGET_SECONDS,
        "reached": bool(total <= PREVIEW_TARGET_SECONDS),
        "valid_predictions": int(out["prediction"].notna().sum()),
    }
    _log(
        f"time to first preview ({len(support)} support + {len(query)} query molecules, cold caches): {total:.2f} s "
        f"(head load {t_load:.2f} s); target ≤ {PREVIEW_TARGET_SECONDS:.0f} s: {'reached' if result['reached'] else 'NOT reached'}"
    )
    return result


# ---------------------------------------------------------------------------- run


def run(args: argparse.Namespace) -> tuple[Path, Path]:
    from gate_core.data.table import MultiTaskTable
    from gate_core.models.checkpoint import load_checkpoint
    from gate_core.models.fingerprint import backbone_fingerprint
    from gate_core.relational.io import load_relational
    from gate_core.training.backbone_split import resolve_table_path

    limit_threads(args.threads)
    elapsed = stopwatch()
    backbone, meta = load_checkpoint(args.backbone, "cpu")
    for p in backbone.parameters():
        p.requires_grad_(False)
    head_path = (
        Path(args.head)
        if args.head
        else Path(args.backbone).with_name(Path(args.backbone).name + "_relational")
    )
    backbone_id = backbone_fingerprint(backbone)
    head, head_meta = load_relational(head_path, backbone_id)
    results: dict = {
        "backbone": str(args.backbone),
        "backbone_id": backbone_id,
        "head": str(head_path),
        "head_training": {k: head_meta.get(k) for k in HEAD_TRAINING},
        "settings": settings(args),
    }
    results["head_correction"] = head.config.correction
    results["known_labels"] = known_label_section(backbone, meta, head, args, args.compare)
    if not args.skip_preview:
        table_path = resolve_table_path(meta["pretraining"]["config"]["table"])
        table = MultiTaskTable.read_long(table_path, backbone.task_names)
        table_labels = {
            s: {t: float(v) for t, v in zip(table.tasks, row) if np.isfinite(v)}
            for s, row in zip(table.smiles, table.Y)
        }
        results["time_to_first_preview"] = time_to_first_preview(backbone, head_path, args)
        results["preview_vs_trained"] = preview_section(
            backbone, meta, head, head_meta, args, table_labels
        )
    results["wall_seconds"] = elapsed()
    return write_results(NAME, results, markdown, args.results_dir, rows=csv_rows(NAME, results))


def _pct(x: float | None) -> str:
    return fmt(x, "+.1%", "n/a")


def markdown(results: dict) -> str:
    """The result's one renderer; what each part measures is in bench/README.md (``relational``)."""
    kl, ht = results["known_labels"], results["head_training"]
    lines = [
        "# Relational head: known labels → hidden labels",
        "",
        f"Backbone `{results['backbone']}` ({results['backbone_id']}), head `{results['head']}` "
        f"(trained {ht.get('epochs_run')} epochs, best {ht.get('best_epoch')}, "
        f"{(ht.get('wall_seconds') or 0):.0f} s). Scaffold **test** fold of the backbone, "
        f"{kl['test_molecules']} molecules with ≥ 2 labels; each label hidden in turn, 0, 1, 2 "
        f"(seeds {results['settings']['seeds']}) or all other labels known. RMSE in standardised "
        "units, mean over tasks, relational vs plain GATE on the same pairs; 95 % interval: "
        "paired bootstrap over molecules (first seed).",
        "",
    ]
    rows = []
    for reveal, e in kl["reveals"].items():
        ci = e["runs"][0]["ci95_change"]
        verdict = "**reached**" if e["reached"] else "**not reached**"
        rows.append(
            [reveal, e["runs"][0]["n"], e["mean_rmse_plain"], e["mean_rmse_relational"]]
            + [_pct(e["change"]), f"{_pct(ci[0])} … {_pct(ci[1])}", e["target"], verdict]
        )
    lines.append(
        table(
            "labels revealed | pairs | plain RMSE | relational RMSE | change | 95 % CI | target | verdict",
            rows,
        )
    )
    one = kl["reveals"]["1"]["runs"][0]["per_task"]
    per = [
        {
            "task": t,
            "all": v,
            "one": one.get(t, {}),
            "change_one": _pct(one.get(t, {}).get("change")),
        }
        for t, v in kl["reveals"]["all"]["runs"][0]["per_task"].items()
    ]
    lines += ["", "Per task (all other labels revealed):", ""]
    lines.append(
        records_table(
            "task | pairs | plain | relational (1 known) | change (1) | relational (all known) | change (all)",
            "task all.n all.rmse_plain one.rmse_relational change_one all.rmse_relational all.change:+.1%",
            per,
        )
    )
    oracle, w = kl["oracle_reveal_1"], kl["what_if_response"]
    same_sign = "fraction_same_correction_sign_for_plus_and_minus_1_std"
    lines += [
        "",
        f"Reference, not a method: a line r_k ≈ a + b·r_j per (known, hidden) pair fitted on these "
        f"test pairs themselves reaches {oracle['mean_rmse_oracle']:.4g} vs plain "
        f"{oracle['mean_rmse_plain']:.4g} ({_pct(oracle['change'])}).",
        "",
        f"What-if (head `{results.get('head_correction')}`; one known label moved −1, −0.5, +0.5, "
        f"+1 standard units): the hidden label's correction is monotone for "
        f"{w['fraction_monotone']:.0%} of pairs, same sign for −1 and +1 in {w[same_sign]:.0%}, "
        f"mean |correction| at +1 = {w['mean_abs_correction_at_1_std']:.3g}. With every known value "
        f"equal to the plain expectation, the largest correction is "
        f"{kl['max_abs_correction_when_values_equal_plain']:.2g}.",
    ]
    for path, e in kl["compared_heads"].items():
        w = e["what_if_response"]
        lines += [
            "",
            f"Compared head `{path}` (correction `{e['correction']}`): change vs plain "
            + ", ".join(f"{r} known {_pct(v)}" for r, v in e["reveals"].items())
            + f"; what-if monotone for {w['fraction_monotone']:.0%} of pairs, same sign for −1 and "
            f"+1 in {w[same_sign]:.0%}.",
        ]
    pairs = kl["single_label_pairs"]
    if pairs:
        show = pairs[:8] + [p for p in pairs[-4:] if p not in pairs[:8]]
        lines += [
            "",
            "Single known label → hidden label (≥ 20 pairs), largest gains and losses:",
            "",
        ]
        lines.append(
            records_table(
                "known | hidden | pairs | plain | relational | change",
                "known hidden n rmse_plain rmse_relational change:+.1%",
                show,
            )
        )
    if "preview_vs_trained" in results:
        t = results["time_to_first_preview"]
        lines += [
            "",
            "## Zero-training preview vs trained task addition",
            "",
            f"*Preview*: closed form, no training; *trained*: `add_task` (learned λ, K = "
            f"{results['settings']['ensemble']}); *+table*: the test molecules' labels in the "
            "backbone's table known. Regression: RMSE in the target's units (NRMSE = RMSE / test "
            "std); classification: ROC-AUC.",
            "",
        ]
        prow = []
        for r in results["preview_vs_trained"]:
            key = "roc_auc" if r["task_type"] == "classification" else "rmse"
            prow.append(
                [r[k] for k in ("target", "seed", "n_train", "n_test")]
                + [key, r["preview"][key], r["trained"][key], r["preview"].get("nrmse")]
                + [r["trained"].get("nrmse"), r["preview_table"][key], r["trained_table"][key]]
                + [
                    f"{r['test_with_table_labels']:.0%}",
                    r["preview_seconds"],
                    r["add_task_seconds"],
                ]
            )
        lines.append(
            table(
                "target | seed | n | test | metric | preview | trained | preview NRMSE | trained NRMSE | preview +table | trained +table | test with table labels | preview s | add-task s",
                prow,
            )
        )
        lines += [
            "",
            f"Time to first preview ({t['support']} support + {t['query']} query molecules from raw "
            f"SMILES, cold caches, backbone loaded): **{t['total_seconds']:.2f} s** (head load "
            f"{t['head_load_seconds']:.2f} s); target ≤ {t['target_seconds']:.0f} s: "
            f"**{'reached' if t['reached'] else 'not reached'}**.",
        ]
    return "\n".join(lines)
