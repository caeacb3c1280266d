"""Validation of task names and of relative file paths inside a task.

Why: a task name becomes a directory name and an archive member path comes from an untrusted
file, so both are checked before they touch the filesystem (no traversal, no zip-slip, no
names that Windows or a case-insensitive disk would treat specially).
"""

from __future__ import annotations

import re

from gate_core.registry.errors import InvalidNameError

MAX_NAME_LENGTH = 64
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_WINDOWS_RESERVED = frozenset(
    {"con", "prn", "aux", "nul"}
    | {f"com{i}" for i in range(1, 10)}
    | {f"lpt{i}" for i in range(1, 10)}
)
_MEMBER_PART_RE = re.compile(r"[A-Za-z0-9_.+-][A-Za-z0-9 _.+=-]{0,127}")


def validate_task_name(name: object) -> str:
    """Return ``name`` unchanged if it is a valid task name, else raise :class:`InvalidNameError`.

    Allowed: 1–64 characters of letters, digits, ``_``, ``.`` and ``-``, starting with a letter
    or digit, no ``..``, not ending with ``.``, not a reserved device name such as ``CON``.
    Names are unique regardless of case (``LogP`` and ``logp`` are the same task).
    """
    if not isinstance(name, str) or not name:
        raise InvalidNameError("A task name is required.")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidNameError(
            f"Task name is {len(name)} characters long; at most {MAX_NAME_LENGTH} are allowed."
        )
    if "/" in name or "\\" in name or ".." in name:
        raise InvalidNameError(f"Task name {name!r} must not contain '/', '\\' or '..'.")
    if not _NAME_RE.fullmatch(name):
        raise InvalidNameError(
            f"Task name {name!r} may only use letters, digits, '_', '.' and '-', and must start "
            "with a letter or digit."
        )
    if name.endswith(".") or name.split(".")[0].lower() in _WINDOWS_RESERVED:
        raise InvalidNameError(f"Task name {name!r} is not allowed as a folder name.")
    return name


def suggest_task_name(text: str) -> str:
    """Turn free text (a column header, a file name) into a valid task name, e.g. for a form default."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", text.strip()).strip("_.-")
    slug = re.sub(r"\.{2,}", ".", slug)[:MAX_NAME_LENGTH].rstrip(".")
    try:
        return validate_task_name(slug)
    except InvalidNameError:
        return f"task_{slug}"[:MAX_NAME_LENGTH].rstrip(".") if slug else "task"


def validate_member_path(path: object) -> str:
    """Return a relative file path (``/``-separated) if it stays inside its directory.

    Rejects absolute paths, drive letters, backslashes, ``.``/``..`` parts and odd characters:
    this is the zip-slip guard for imports and the guard for ``register_task`` file names.
    """
    if not isinstance(path, str) or not path:
        raise InvalidNameError("A file path inside a task must be a non-empty string.")
    if path.startswith("/") or "\\" in path or ":" in path or "\x00" in path:
        raise InvalidNameError(f"File path {path!r} must be relative and use '/' separators.")
    parts = path.split("/")
    for part in parts:
        if part in ("", ".", "..") or not _MEMBER_PART_RE.fullmatch(part):
            raise InvalidNameError(f"File path {path!r} has a part ({part!r}) that is not allowed.")
    if len(parts) > 8:
        raise InvalidNameError(f"File path {path!r} is nested too deeply.")
    return path
