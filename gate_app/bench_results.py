"""Stored benchmark results read as data, and the vocabulary the page and the report share.

Why here: the app must not import ``bench`` (a developer tool that pulls in the training code),
yet the Benchmarks page and ``python -m bench report`` must name, colour and order the methods
alike and state each result's provenance alike. Of the two designs (labels copied into every
result JSON, or one vocabulary in ``gate_app`` that ``bench`` imports) this one is simpler: the
results already stored, and those a colleague's older checkout writes, carry no labels, and one
dict here covers them all. Each result's tables are rendered once, by its bench module, into
``<name>.md`` beside the JSON; the page shows that file rather than rendering the tables again.
Nothing here imports torch or ``gate_core`` beyond its paths (no imports of its own), so the
page stays fast.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from gate_core.paths import DEFAULT_BACKBONE

RESULTS_ENV = "GATE_BENCH_RESULTS"
ROOT = Path(__file__).resolve().parents[1]
DEFAULT_RESULTS = ROOT / "bench" / "results"

#: Results the report and the page expect, in their order, with the command that makes each.
#: Any other ``<name>.json`` in the folder follows.
_V2 = "python -m bench task_addition --backbone assets/backbone --corpus assets/data/corpus/smiles.txt "
_V2_METHODS = (
    "--methods probe,uniform,learned,topk,rf,lgbm,finetune --skip-speed --threads 1 --rf-jobs 1 "
    "--device cpu --budget-minutes 0"
)
COMMANDS: dict[str, str] = {
    "task_addition_v2_n100": _V2 + "--results-name task_addition_v2_n100 "
    "--targets caco2,pk_vdss,pk_cl,pk_fu,pk_thalf,logp_fluorinated,bbbp,clintox "
    "--sizes 100 --seeds 0,1,2 " + _V2_METHODS,
    "task_addition_v2_n300": _V2 + "--results-name task_addition_v2_n300 "
    "--targets caco2,bbbp,clintox --sizes 300 --seeds 0,1,2 " + _V2_METHODS,
    "task_addition_v2_physchem": _V2 + "--results-name task_addition_v2_physchem --targets "
    "freesolv,huuskonen_logS,fuel_cn,fuel_ysi,fuel_ron,pka_fluorinated,permittivity,Tflash_K,"
    "Hfus_kJmol,dipole_D,surface_tension_mNm,Tautoignition_K,log_viscosity298_Pas --sizes 100 "
    "--seeds 0,1,2 --methods probe,uniform,rf,lgbm,finetune --skip-speed --threads 1 --rf-jobs 1 --device cpu "
    "--budget-minutes 0",
    "task_addition_v2_curve": _V2 + "--results-name task_addition_v2_curve "
    "--targets caco2,huuskonen_logS,freesolv,Tflash_K --sizes 50,100,300 --seeds 0,1,2 "
    "--methods probe,uniform,finetune,rf,lgbm --skip-speed --threads 1 --rf-jobs 1 --device cpu "
    "--budget-minutes 0",
    "chemprop_compare": "python -m bench chemprop_compare --sizes 100 --seeds 0,1,2 "
    "--pretrain-max-minutes 75 --pretrain-threads 1 --pretrain-epochs 40 --pretrain-patience 4 "
    "--jobs 2 --threads-per-job 1",
    "trust": "python -m bench trust --targets huuskonen_logS,caco2,freesolv,logp_fluorinated,"
    "pk_vdss --sizes 50,100,300 --seeds 0,1 --threads 1",
    "backbone_quality": "python -m bench backbone_quality",
    "relational": "python -m bench relational",
    "scaling": "python -m bench scaling",
    "concurrency": "python -m bench concurrency --n 500 --threads 1 --repeats 2",
    "screening": "python -m bench screening",
    "preview_time": "python -m bench preview_time",
    "page_render": "python -m bench page_render",
}
#: Results with no backbone note: what they measure does not depend on the backbone's weights.
BACKBONE_FREE = frozenset({"concurrency"})

METHOD_LABELS = {
    "learned": "GATE task addition, learned λ",
    "gate_learned": "GATE task addition, learned λ",
    "uniform": "GATE task addition, uniform λ",
    "probe": "frozen backbone + new head",
    "finetune": "fine-tuned backbone",
    "single_task": "single-task D-MPNN",
    "rf": "random forest on RDKit 2D",
    "lgbm": "LightGBM on RDKit 2D",
    "chemprop_single": "chemprop, single-task",
    "chemprop_finetuned": "chemprop, pre-trained + fine-tuned",
    "gate": "GATE backbone",
    "multitask": "multi-task, no alignment",
}
METHOD_COLOURS = {
    "learned": "#2f6f8f",
    "gate_learned": "#2f6f8f",
    "uniform": "#6aa8c4",
    "probe": "#8c6bb1",
    "finetune": "#41ab5d",
    "single_task": "#c77c2e",
    "rf": "#969696",
    "lgbm": "#525252",
    "chemprop_single": "#d6604d",
    "chemprop_finetuned": "#b2182b",
    "gate": "#2f6f8f",
    "multitask": "#6aa8c4",
}


def label(method: str) -> str:
    return METHOD_LABELS.get(method, method)


def num(x: Any) -> float | None:
    """``x`` as a float when it is a finite int/float (not a bool); otherwise None."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    return float(x) if math.isfinite(float(x)) else None


def size_sort_key(size: Any) -> tuple[int, float, str]:
    """Training sizes in numeric order (50 < 100, also as strings), then 'all' and other text."""
    try:
        return (0, float(size), str(size))
    except (TypeError, ValueError):
        return (1, math.inf, str(size))


def md_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub Markdown table; floats with 4 significant digits, None as 'n/a'."""

    def cell(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.4g}" if math.isfinite(v) else "n/a"
        return "n/a" if v is None else str(v).replace("|", "/")

    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows])


# ------------------------------------------------------------------------------------ loading


def results_dir() -> Path:
    return Path(os.environ.get(RESULTS_ENV) or DEFAULT_RESULTS)


def read_json(path: Path) -> dict | None:
    """The parsed JSON object, or None when the file is absent, unreadable or not an object."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def result_names(folder: Path) -> list[str]:
    """The expected results, then every other ``<name>.json`` present, alphabetically."""
    present = sorted(p.stem for p in Path(folder).glob("*.json")) if Path(folder).is_dir() else []
    return [*COMMANDS, *[n for n in present if n not in COMMANDS]]


def command_for(name: str) -> str:
    """The command that makes ``name``. A variant such as ``task_addition_v3`` is named with
    ``--results-name``, which only task_addition takes; another variant gets its stem's command."""
    if name in COMMANDS:
        return COMMANDS[name]
    if name.startswith("task_addition"):
        return f"python -m bench task_addition --results-name {name}"
    stem = max((k for k in COMMANDS if name.startswith(k)), key=len, default=None)
    return COMMANDS[stem] if stem else f"python -m bench {name}"


_FOOTER = re.compile(r"\n---\nMachine: .*\Z", re.S)  # what older bench code appended to each .md
_TEMP = re.compile(r"(?:/tmp|/var/tmp|/private/var/folders)/[^\s`'\",)]*")


def clean_text(text: str) -> str:
    """Text fit to show: no temporary paths, no absolute repository prefix, no dirty-tree flag."""
    text = _TEMP.sub("<temporary folder>", text).replace(f"{ROOT}/", "").replace(str(ROOT), ".")
    return re.sub(r"\s*\((?:with )?uncommitted changes\)|\s*with uncommitted changes", "", text)


def read_markdown(folder: Path, name: str) -> str | None:
    """``<name>.md`` without the machine footer older bench code wrote (that sits in the JSON)."""
    try:
        text = (Path(folder) / f"{name}.md").read_text()
    except OSError:
        return None
    return clean_text(_FOOTER.sub("", text)).strip() + "\n"


# --------------------------------------------------------------------------------- provenance


def machine_key(data: dict) -> tuple:
    m = data.get("machine") or {}
    return (m.get("cpu_model"), m.get("cpu_count"), m.get("gpu"))


def main_machine_key(results: dict[str, dict]) -> tuple | None:
    """The machine most of the loaded results were measured on."""
    keys = Counter(machine_key(d) for d in results.values())
    return keys.most_common(1)[0][0] if keys else None


def measured_date(data: dict) -> str:
    """'2026-11-23 01:36 UTC' from the machine block's ISO date."""
    d = str((data.get("machine") or {}).get("date_utc") or "")
    if len(d) >= 16 and d[10] == "T":
        return d[:10] + " " + d[11:16] + " UTC"
    return d or "date unknown"


def machine_text(data: dict) -> str:
    """'AMD EPYC, 2 cores, 24 GB RAM, no GPU, torch 2.13.0+cpu'."""
    m = data.get("machine") or {}
    parts = [str(m.get("cpu_model") or "unknown CPU"), f"{m.get('cpu_count', '?')} cores"]
    if num(m.get("memory_total_mb")):
        parts.append(f"{m['memory_total_mb'] / 1024:.0f} GB RAM")
    parts.append(f"GPU {m['gpu']}" if m.get("gpu") else "no GPU")
    if m.get("torch"):
        parts.append(f"torch {m['torch']}")
    return ", ".join(parts)


def provenance(data: dict) -> dict[str, str]:
    """When, where, from which code and command: the fields folded away on the page."""
    m = data.get("machine") or {}
    out = {"measured": measured_date(data), "machine": machine_text(data)}
    if m.get("git_commit"):
        out["code"] = str(m["git_commit"])[:10]
    if data.get("command"):
        out["command"] = clean_text(str(data["command"]))
    if data.get("status"):
        out["run status"] = clean_text(str(data["status"]))
    return out


@lru_cache(maxsize=4)
def _fingerprint(path: str, mtime_ns: int) -> str | None:
    from safetensors.numpy import load_file

    try:
        tensors = load_file(path)
    except (OSError, ValueError):
        return None
    digest = hashlib.sha256()
    for key in sorted(tensors):
        digest.update(key.encode())
        digest.update(tensors[key].tobytes())
    return digest.hexdigest()[:16]


def backbone_id(folder: Path = DEFAULT_BACKBONE) -> str | None:
    """The shipped backbone's fingerprint without loading torch: the same hash as
    ``gate_core.models.fingerprint.backbone_fingerprint`` (a test keeps them equal)."""
    path = Path(folder) / "model.safetensors"
    try:
        return _fingerprint(str(path), path.stat().st_mtime_ns)
    except OSError:
        return None


def backbone_note(name: str, data: dict, shipped: str | None) -> str | None:
    """A plain sentence when a result is not from the shipped backbone (or cannot say)."""
    if name in BACKBONE_FREE:
        return None
    used = data.get("backbone_id") or ((data.get("reference") or {}).get("backbone_id"))
    if used and shipped and used != shipped:
        return (
            f"From an older backbone (`{used}`), not the shipped one (`{shipped}`): "
            f"re-run `{command_for(name)}` to update it."
        )
    if not used:
        return (
            f"This result does not record which backbone it used (measured "
            f"{measured_date(data)}); it may predate the shipped backbone."
        )
    return None
