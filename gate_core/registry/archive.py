"""One-file export of a task, and an import that checks the file before trusting it.

Why: tasks travel between machines as a single zip. Its ``manifest.json`` names the format
version, the task record, the backbone the task was trained against and a sha256 for every
member, so an import can refuse — with a message a chemist can act on — a file that is not an
archive, was damaged or edited, belongs to another backbone, or tries to write outside its
folder (zip-slip). The checksums detect damage and casual edits; they are not a signature.

Layout of the zip: ``manifest.json``, ``model/<relative path>`` for each model file, and
``dataset.csv`` when the task has a stored dataset.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from gate_core import __version__
from gate_core.registry.errors import ArchiveError, InvalidNameError, RegistryError
from gate_core.registry.files import CHUNK, fsync_dir
from gate_core.registry.names import validate_member_path
from gate_core.registry.records import BROKEN, TaskRecord

if TYPE_CHECKING:
    from gate_core.registry.store import TaskRegistry

FORMAT = "gate-task"
FORMAT_VERSION = 1
KNOWN_FORMAT_VERSIONS = frozenset({1})
MANIFEST = "manifest.json"
MODEL_PREFIX = "model/"
DATASET_MEMBER = "dataset.csv"
MAX_MANIFEST_BYTES = 16 << 20
MAX_ARCHIVE_BYTES = 8 << 30
_SHA256_RE = re.compile(r"[0-9a-f]{64}")


# -- export -------------------------------------------------------------------------------


def export_task(registry: TaskRegistry, name: str, dest: str | os.PathLike | BinaryIO) -> None:
    """Write task ``name`` as one zip to a path (atomically, via a temp file) or a binary stream."""
    record = registry.get_task(name)
    root = registry.task_dir(record.name)
    dataset = registry.dataset_bytes(record.dataset_hash) if record.dataset_hash else None
    members = {MODEL_PREFIX + validate_member_path(rel): digest for rel, digest in record.files.items()}
    if dataset is not None:
        members[DATASET_MEMBER] = hashlib.sha256(dataset).hexdigest()
    manifest = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "backbone_id": record.backbone_id,
        "task": record.describe(), "members": members, "written_by": f"gate_core {__version__}",
    }
    if hasattr(dest, "write"):
        _write_zip(dest, manifest, record, root, dataset)
        return
    dest = Path(dest)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".partial", dir=dest.parent)
    try:
        with os.fdopen(fd, "w+b") as fh:
            _write_zip(fh, manifest, record, root, dataset)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, dest)
        fsync_dir(dest.parent)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_zip(fh: BinaryIO, manifest: dict, record: TaskRecord, root: Path, dataset: bytes | None) -> None:
    with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(MANIFEST, json.dumps(manifest, indent=2, sort_keys=True))
        for rel, expected in sorted(record.files.items()):
            digest = hashlib.sha256()
            with open(root / rel, "rb") as src, zf.open(MODEL_PREFIX + rel, "w", force_zip64=True) as out:
                while chunk := src.read(CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
            if digest.hexdigest() != expected:
                raise RegistryError(
                    f"Model file {rel!r} of task {record.name!r} changed on disk since it was registered; "
                    "refusing to export a damaged task."
                )
        if dataset is not None:
            zf.writestr(DATASET_MEMBER, dataset)


# -- import -------------------------------------------------------------------------------


def import_task(
    registry: TaskRegistry,
    source: str | os.PathLike | BinaryIO,
    expected_backbone_id: str,
    name: str | None = None,
    replace: bool = False,
) -> TaskRecord:
    """Check an exported archive completely, then register its task atomically.

    ``name`` renames the task on import; ``replace`` swaps an existing task of that name.
    Raises :class:`ArchiveError` for any problem with the file itself.
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
        dataset = dataset_path.read_bytes() if dataset_path.is_file() else None
        return registry.register_task(record, Path(tmp) / MODEL_PREFIX, dataset, replace=replace)


def _read_archive(zf: zipfile.ZipFile, tmp: Path, expected_backbone_id: str, name: str | None) -> TaskRecord:
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
        raise ArchiveError(f"The archive holds files its manifest does not list: {', '.join(extra)}.")
    if sum(i.file_size for i in infos) > MAX_ARCHIVE_BYTES:
        raise ArchiveError("The archive unpacks to more than 8 GiB; refusing to import it.")
    for member, digest in members.items():
        _extract_verified(zf, member, tmp / member, digest)
    return _record(manifest["task"], backbone_id, name)


def _check_member_names(infos: list[zipfile.ZipInfo]) -> None:
    seen: set[str] = set()
    for info in infos:
        if info.filename in seen:
            raise ArchiveError(f"The archive lists {info.filename!r} twice; refusing to import it.")
        seen.add(info.filename)
        if info.filename == MANIFEST:
            continue
        try:
            validate_member_path(info.filename.rstrip("/") if info.is_dir() else info.filename)
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
    if info.file_size > MAX_MANIFEST_BYTES:
        raise ArchiveError(f"The archive's {MANIFEST} is implausibly large.")
    try:
        manifest = json.loads(zf.read(info).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArchiveError(f"The archive's {MANIFEST} cannot be parsed ({exc}).") from exc
    if not isinstance(manifest, dict):
        raise ArchiveError(f"The archive's {MANIFEST} is not a JSON object.")
    return manifest


def _check_manifest(manifest: dict[str, Any]) -> dict[str, str]:
    """Check the format fields; return the ``{member: sha256}`` table."""
    if manifest.get("format") != FORMAT:
        raise ArchiveError(f"The archive is not a GATE task archive (format {manifest.get('format')!r}).")
    version = manifest.get("format_version")
    if version not in KNOWN_FORMAT_VERSIONS:
        raise ArchiveError(
            f"The archive uses format version {version!r}, which this GATE Studio cannot read "
            f"(it reads {', '.join(map(str, sorted(KNOWN_FORMAT_VERSIONS)))}). Upgrade GATE Studio."
        )
    members = manifest.get("members")
    if not isinstance(members, dict) or not isinstance(manifest.get("task"), dict):
        raise ArchiveError(f"The archive's {MANIFEST} lacks its 'members' or 'task' table.")
    for member, digest in members.items():
        if not isinstance(digest, str) or not _SHA256_RE.fullmatch(digest):
            raise ArchiveError(f"The manifest's checksum for {member!r} is malformed.")
        if member != DATASET_MEMBER and not member.startswith(MODEL_PREFIX):
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


def _extract_verified(zf: zipfile.ZipFile, member: str, dest: Path, expected: str) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    try:
        with zf.open(member) as src, open(dest, "xb") as out:
            while chunk := src.read(CHUNK):
                digest.update(chunk)
                out.write(chunk)
    except zipfile.BadZipFile as exc:
        raise ArchiveError(f"Archive member {member!r} is damaged ({exc}); refusing to import it.") from exc
    if digest.hexdigest() != expected:
        raise ArchiveError(
            f"Archive member {member!r} does not match its checksum in the manifest: it was modified "
            "or damaged after export. Refusing to import it."
        )


def _record(task: dict[str, Any], backbone_id: str, name: str | None) -> TaskRecord:
    def text(key: str, default: str = "") -> str:
        value = task.get(key, default)
        if not isinstance(value, str):
            raise ArchiveError(f"The manifest's task field {key!r} must be text.")
        return value

    status = text("status", "ready")
    return TaskRecord(
        name=name if name is not None else text("name"),
        task_type=text("task_type"),  # type: ignore[arg-type]  # checked by register_task
        unit=text("unit"), description=text("description"), backbone_id=backbone_id,
        status="ready" if status == BROKEN else status,
        sizes=task.get("sizes", {}), metrics=task.get("metrics", {}), ratios=task.get("ratios", {}),
        created=text("created"),
    )
