"""One-file export of a task, and an import that checks the file before trusting it.

Why: tasks travel between machines as a single zip. Its ``manifest.json`` names the format
version, the task record, the backbone the task was trained against and a sha256 for every
member, so an import can refuse — with a message a chemist can act on — a file that is not an
archive, was damaged or edited, belongs to another backbone, or tries to write outside its
folder (zip-slip). The checksums detect damage and casual edits; they are not a signature, so
everything else is checked as untrusted input before anything is written to the registry: the
manifest's schema (:mod:`gate_core.registry.schema`), regular files only, the size of each
member and of all of them (declared and actually read, :mod:`gate_core.limits`), and the caller's
``check`` of the unpacked model (the API loads it and runs a trial prediction).

Layout of the zip: ``manifest.json``, ``model/<relative path>`` for each model file,
``dataset.csv`` when the task has a stored dataset, and ``model_card.md`` / ``model_card.html``
when the exporter adds them.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from gate_core import __version__, limits
from gate_core.registry.errors import ArchiveError, InvalidNameError, RegistryError
from gate_core.registry.files import CHUNK, fsync_dir
from gate_core.registry.names import validate_member_path
from gate_core.registry.records import TaskRecord
from gate_core.registry.schema import check_manifest

if TYPE_CHECKING:
    from gate_core.registry.store import TaskRegistry

FORMAT = "gate-task"
FORMAT_VERSION = 1
KNOWN_FORMAT_VERSIONS = frozenset({1})
MANIFEST = "manifest.json"
MODEL_PREFIX = "model/"
DATASET_MEMBER = "dataset.csv"
#: Documents an export may carry for people (the model card); import reads past them, since they
#: are rebuilt from the task itself.
DOCUMENT_MEMBERS = frozenset({"model_card.md", "model_card.html"})
#: Called with the unpacked model folder, dataset file (``None`` without one) and the record
#: about to be registered; raises to refuse.
ImportCheck = Callable[[Path, "Path | None", TaskRecord], None]


# -- export -------------------------------------------------------------------------------


def export_task(
    registry: TaskRegistry,
    name: str,
    dest: str | os.PathLike | BinaryIO,
    documents: dict[str, bytes] | None = None,
) -> None:
    """Write task ``name`` as one zip to a path (atomically, via a temp file) or a binary stream.

    ``documents``: extra files for people, named from :data:`DOCUMENT_MEMBERS` (the model card).
    """
    record = registry.get_task(name)
    root = registry.task_dir(record.name)
    dataset = registry.dataset_bytes(record.dataset_hash) if record.dataset_hash else None
    if unknown := sorted(set(documents or {}) - DOCUMENT_MEMBERS):
        raise RegistryError(
            f"cannot export documents named {', '.join(unknown)}; allowed: {', '.join(sorted(DOCUMENT_MEMBERS))}"
        )
    extras = {**({DATASET_MEMBER: dataset} if dataset is not None else {}), **(documents or {})}
    members = {
        MODEL_PREFIX + validate_member_path(rel): digest for rel, digest in record.files.items()
    }
    members.update(
        {member: hashlib.sha256(content).hexdigest() for member, content in extras.items()}
    )
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "backbone_id": record.backbone_id,
        "task": record.describe(),
        "members": members,
        "written_by": f"gate_core {__version__}",
    }
    if hasattr(dest, "write"):
        _write_zip(dest, manifest, record, root, extras)
        return
    dest = Path(dest)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".partial", dir=dest.parent)
    try:
        with os.fdopen(fd, "w+b") as fh:
            _write_zip(fh, manifest, record, root, extras)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, dest)
        fsync_dir(dest.parent)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_zip(
    fh: BinaryIO, manifest: dict, record: TaskRecord, root: Path, extras: dict[str, bytes]
) -> None:
    with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(MANIFEST, json.dumps(manifest, indent=2, sort_keys=True))
        for rel, expected in sorted(record.files.items()):
            digest = hashlib.sha256()
            with (
                open(root / rel, "rb") as src,
                zf.open(MODEL_PREFIX + rel, "w", force_zip64=True) as out,
            ):
                while chunk := src.read(CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
            if digest.hexdigest() != expected:
                raise RegistryError(
                    f"Model file {rel!r} of task {record.name!r} changed on disk since it was registered; "
                    "refusing to export a damaged task."
                )
        for member, content in extras.items():
            zf.writestr(member, content)


# -- import -------------------------------------------------------------------------------


def import_task(
    registry: TaskRegistry,
    source: str | os.PathLike | BinaryIO,
    expected_backbone_id: str,
    name: str | None = None,
    replace: bool = False,
    check: ImportCheck | None = None,
) -> TaskRecord:
    """Check an exported archive completely, then register its task atomically.

    ``name`` renames the task on import; ``replace`` swaps an existing task of that name;
    ``check`` vets the unpacked model before anything is registered. Raises
    :class:`ArchiveError` for any problem with the file itself; a refused archive leaves
    nothing behind (it is unpacked into a temporary folder outside the registry).
    """
    label = "The uploaded file" if hasattr(source, "read") else f"The file {os.fspath(source)}"
    try:
        zf = zipfile.ZipFile(source)
    except FileNotFoundError as exc:
        raise ArchiveError(f"There is no file at {source}.") from exc
    except Exception as exc:  # zipfile raises many types for non-zip input
        raise ArchiveError(f"{label} is not a GATE task archive: it is not a zip file.") from exc
    with zf, tempfile.TemporaryDirectory(prefix="gate-import-") as tmp:
        try:
            record = _read_archive(zf, Path(tmp), expected_backbone_id, name)
        except RegistryError:
            raise
        except Exception as exc:  # a damaged zip fails in many ways; the message is what matters
            reason = str(exc) or type(exc).__name__
            raise ArchiveError(f"{label} is damaged and cannot be read ({reason}).") from exc
        dataset_path = Path(tmp) / DATASET_MEMBER
        if check is not None:
            check(
                Path(tmp) / MODEL_PREFIX, dataset_path if dataset_path.is_file() else None, record
            )
        dataset = dataset_path.read_bytes() if dataset_path.is_file() else None
        return registry.register_task(record, Path(tmp) / MODEL_PREFIX, dataset, replace=replace)


def _read_archive(
    zf: zipfile.ZipFile, tmp: Path, expected_backbone_id: str, name: str | None
) -> TaskRecord:
    """Validate the zip and extract its members into ``tmp``; return the task record to register."""
    infos = zf.infolist()
    _check_member_names(infos)
    manifest = _load_manifest(zf)
    members = _check_manifest(manifest)
    backbone_id = manifest.get("backbone_id")
    if backbone_id != expected_backbone_id:
        raise ArchiveError(
            f"This task was trained on backbone {backbone_id!r}, but the installed backbone is "
            f"{expected_backbone_id!r}. Retrain the task on the installed backbone from its dataset instead."
        )
    present = {i.filename for i in infos if not i.is_dir() and i.filename != MANIFEST}
    if missing := sorted(set(members) - present):
        raise ArchiveError(f"The archive is incomplete: missing {', '.join(missing)}.")
    if extra := sorted(present - set(members)):
        raise ArchiveError(
            f"The archive holds files its manifest does not list: {', '.join(extra)}."
        )
    total = sum(i.file_size for i in infos)
    if total > limits.MAX_ARCHIVE_TOTAL_BYTES:
        raise ArchiveError(
            f"The archive unpacks to {_mib(total)}; the limit is {_mib(limits.MAX_ARCHIVE_TOTAL_BYTES)}."
        )
    remaining = limits.MAX_ARCHIVE_TOTAL_BYTES
    for member, digest in members.items():
        remaining -= _extract_verified(zf, zf.getinfo(member), tmp / member, digest, remaining)
    return _record(manifest["task"], backbone_id, name)


def _mib(n: int) -> str:
    return f"{n / 2**20:,.1f} MiB"


def _check_member_names(infos: list[zipfile.ZipInfo]) -> None:
    """Unique, safe names of regular files within the size limits (as declared; reading re-checks)."""
    if len(infos) > limits.MAX_ARCHIVE_MEMBERS + 1:
        raise ArchiveError(
            f"The archive holds {len(infos)} files; a task has at most {limits.MAX_ARCHIVE_MEMBERS}."
        )
    seen: set[str] = set()
    for info in infos:
        kind = stat.S_IFMT(info.external_attr >> 16)
        if info.is_dir() or kind not in (0, stat.S_IFREG):
            raise ArchiveError(
                f"The archive member {info.filename!r} is not a regular file (a link or a folder); refusing to import it."
            )
        if info.filename != MANIFEST and info.file_size > limits.MAX_ARCHIVE_MEMBER_BYTES:
            raise ArchiveError(
                f"The archive member {info.filename!r} unpacks to {_mib(info.file_size)}; "
                f"the limit is {_mib(limits.MAX_ARCHIVE_MEMBER_BYTES)} per file."
            )
        if info.filename in seen:
            raise ArchiveError(f"The archive lists {info.filename!r} twice; refusing to import it.")
        seen.add(info.filename)
        if info.filename == MANIFEST:
            continue
        try:
            validate_member_path(info.filename)
        except InvalidNameError as exc:
            raise ArchiveError(
                f"The archive member {info.filename!r} has an unsafe name (it could be written outside "
                "the task folder); refusing to import it."
            ) from exc


def _load_manifest(zf: zipfile.ZipFile) -> dict[str, Any]:
    try:
        info = zf.getinfo(MANIFEST)
    except KeyError as exc:
        raise ArchiveError(
            f"The archive has no {MANIFEST}; it was not written by GATE Studio's export."
        ) from exc
    if info.file_size > limits.MAX_MANIFEST_BYTES:
        raise ArchiveError(f"The archive's {MANIFEST} is implausibly large.")
    try:
        manifest = json.loads(_read_bounded(zf, info, limits.MAX_MANIFEST_BYTES).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArchiveError(f"The archive's {MANIFEST} cannot be parsed ({exc}).") from exc
    if not isinstance(manifest, dict):
        raise ArchiveError(f"The archive's {MANIFEST} is not a JSON object.")
    return manifest


def _check_manifest(manifest: dict[str, Any]) -> dict[str, str]:
    """Check the format fields; return the ``{member: sha256}`` table."""
    if manifest.get("format") != FORMAT:
        raise ArchiveError(
            f"The archive is not a GATE task archive (format {manifest.get('format')!r})."
        )
    version = manifest.get("format_version")
    if version not in KNOWN_FORMAT_VERSIONS:
        raise ArchiveError(
            f"The archive uses format version {version!r}, which this GATE Studio cannot read "
            f"(it reads {', '.join(map(str, sorted(KNOWN_FORMAT_VERSIONS)))}). Upgrade GATE Studio."
        )
    check_manifest(manifest)
    members = manifest["members"]
    for member in members:
        if (
            member != DATASET_MEMBER
            and member not in DOCUMENT_MEMBERS
            and not member.startswith(MODEL_PREFIX)
        ):
            raise ArchiveError(f"The manifest lists an unexpected member {member!r}.")
        try:
            validate_member_path(member)
        except InvalidNameError as exc:
            raise ArchiveError(
                f"The manifest member {member!r} has an unsafe name "
                "(it could be written outside the task folder)."
            ) from exc
    if not any(m.startswith(MODEL_PREFIX) for m in members):
        raise ArchiveError("The archive holds no model files.")
    return members


def _read_bounded(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    """A member's bytes, refusing more than its declared size or ``limit`` (a lying header)."""
    with zf.open(info) as src:
        data = src.read(min(info.file_size, limit) + 1)
    if len(data) > min(info.file_size, limit):
        raise ArchiveError(
            f"The archive member {info.filename!r} holds more bytes than it declares; refusing to import it."
        )
    return data


def _extract_verified(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, dest: Path, expected: str, remaining: int
) -> int:
    """Unpack one member, counting the bytes actually read against its declared size and the
    ``remaining`` total allowance; return how many were written."""
    member = info.filename
    dest.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    allowed = min(info.file_size, limits.MAX_ARCHIVE_MEMBER_BYTES, remaining)
    written = 0
    try:
        with zf.open(info) as src, open(dest, "xb") as out:
            while chunk := src.read(CHUNK):
                written += len(chunk)
                if written > allowed:
                    raise ArchiveError(
                        f"Archive member {member!r} unpacks to more bytes than it declares or than the limits allow; "
                        "refusing to import it."
                    )
                digest.update(chunk)
                out.write(chunk)
    except zipfile.BadZipFile as exc:
        raise ArchiveError(
            f"Archive member {member!r} is damaged ({exc}); refusing to import it."
        ) from exc
    if digest.hexdigest() != expected:
        raise ArchiveError(
            f"Archive member {member!r} does not match its checksum in the manifest: it was modified "
            "or damaged after export. Refusing to import it."
        )
    return written


def _record(task: dict[str, Any], backbone_id: str, name: str | None) -> TaskRecord:
    """The record to register (fields already checked against the manifest schema)."""
    return TaskRecord(
        name=name if name is not None else task["name"],
        task_type=task["task_type"],
        unit=task.get("unit", ""),
        description=task.get("description", ""),
        backbone_id=backbone_id,
        status="ready",  # a broken task cannot be exported, and an imported one has all its files
        sizes=task.get("sizes", {}),
        metrics=task.get("metrics", {}),
        ratios=task.get("ratios", {}),
        created=task.get("created", ""),
    )
