"""Immutable model artifacts on disk: written once, hashed, verified before every load.

No pickle: arrays go to .npz (loaded with allow_pickle=False), scikit-learn objects
through skops with an explicit allow-list, gensim models in gensim's own format.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import numpy as np


class ArtifactError(RuntimeError):
    """An artifact is missing or does not match its recorded sha256."""


def directory_sha256(directory: Path) -> str:
    """One digest over every file's relative path and bytes, in a stable order."""
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        digest.update(path.relative_to(directory).as_posix().encode())
        digest.update(b"\0")
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        digest.update(b"\0")
    return digest.hexdigest()


def write_artifact(directory: Path, save: Callable[[Path], None]) -> str:
    """Write into a temporary sibling, then rename into place and make it read-only."""
    if directory.exists():
        raise ArtifactError(f"Artifact {directory} exists; artifacts are immutable.")
    staging = directory.with_name(directory.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    save(staging)
    sha = directory_sha256(staging)
    for path in staging.rglob("*"):
        if path.is_file():
            path.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    os.replace(staging, directory)
    return sha


def verify_artifact(directory: Path, expected_sha256: str) -> None:
    if not directory.is_dir():
        raise ArtifactError(f"Artifact {directory} is missing.")
    actual = directory_sha256(directory)
    if actual != expected_sha256:
        raise ArtifactError(
            f"Artifact {directory} is corrupted: sha256 {actual} != recorded {expected_sha256}."
        )


def save_arrays(path: Path, **arrays: np.ndarray) -> None:
    np.savez(path, **arrays)


def load_arrays(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {name: data[name] for name in data.files}


def library_versions(names: tuple[str, ...]) -> dict[str, str]:
    versions = {}
    for name in ("numpy", *names):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions
