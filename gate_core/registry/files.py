"""Crash-safe file helpers: write, fsync, rename into place.

Why: a task's files must appear all at once or not at all. Everything is written into a
staging directory on the same filesystem, flushed to disk, then published with one
``os.rename`` — the only step the kernel guarantees to be atomic. The registry calls these
through the module (``files.publish``) so tests can inject crashes between the steps.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: only threads of one process are serialised
    fcntl = None

CHUNK = 1 << 20
_FALLBACK_LOCK = threading.Lock()


@contextmanager
def exclusive_lock(path: Path, blocking: bool = True) -> Iterator[bool]:
    """Hold an exclusive ``flock`` on ``path`` across threads and processes; yield whether it was got.

    The kernel drops the lock when its holder dies, so a SIGKILL never leaves it stuck.
    With ``blocking=False`` the body runs with ``False`` instead of waiting.
    """
    if fcntl is None:
        got = _FALLBACK_LOCK.acquire(blocking)
        try:
            yield got
        finally:
            if got:
                _FALLBACK_LOCK.release()
        return
    with open(path, "a+b") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def fsync_dir(path: Path) -> None:
    """Flush a directory entry (a rename or new file) to disk; a no-op where unsupported."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def write_bytes(path: Path, data: bytes) -> str:
    """Write ``data`` to a new file, fsync it and return its sha256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "xb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    return hashlib.sha256(data).hexdigest()


def copy_file(src: Path, dst: Path) -> str:
    """Copy ``src`` to a new file ``dst`` in chunks, fsync it and return its sha256."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with open(src, "rb") as fin, open(dst, "xb") as fout:
        while chunk := fin.read(CHUNK):
            digest.update(chunk)
            fout.write(chunk)
        fout.flush()
        os.fsync(fout.fileno())
    return digest.hexdigest()


def link_or_copy(src: Path, dst: Path) -> None:
    """Hard-link ``src`` to ``dst`` (free, same inode) or copy it where links are unsupported."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        copy_file(src, dst)


def iter_files(root: Path) -> Iterator[tuple[str, Path]]:
    """Yield ``(relative '/' path, path)`` for every regular file under ``root``, sorted."""
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()):
        yield path.relative_to(root).as_posix(), path


def new_staging_dir(tmp_root: Path, prefix: str = "stage-") -> Path:
    """Create an empty, uniquely named directory under ``tmp_root`` (same filesystem as the tasks)."""
    tmp_root.mkdir(parents=True, exist_ok=True)
    path = tmp_root / f"{prefix}{secrets.token_hex(8)}"
    path.mkdir()
    return path


def sync_tree(root: Path) -> None:
    """fsync every directory under ``root`` (files are fsynced as they are written)."""
    for path in sorted((p for p in root.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
        fsync_dir(path)
    fsync_dir(root)


def publish(stage: Path, dest: Path) -> None:
    """Atomically move a complete staging directory to ``dest`` (which must not exist)."""
    parent = dest.parent
    if not parent.is_dir():
        parent.mkdir(parents=True)
        fsync_dir(parent.parent)
    os.rename(stage, dest)
    fsync_dir(parent)
    fsync_dir(stage.parent)


def remove_tree(path: Path) -> None:
    """Delete a directory that is no longer referenced; leftovers are swept on the next open."""
    shutil.rmtree(path, ignore_errors=True)


def discard(path: Path) -> None:
    """Delete a leftover file, link or folder, whichever it is."""
    if path.is_dir() and not path.is_symlink():
        remove_tree(path)
    else:
        try:
            path.unlink()
        except OSError:
            pass
