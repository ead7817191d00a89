"""What every lesson of notebooks 03, 04 and 05 shares: names, labels, the
``docker`` command shown like in a terminal, sizes, and the build folder.

Everything the notebooks create is named ``dockercourse-<unit>-*`` and labelled
``dockercourse.unit=<unit>`` (``nb03``, ``nb04`` or ``nb05``), so that
:func:`dockercourse.architecture.cleanup.cleanup` removes exactly that.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

from .. import engine

UNIT = "nb03"
UNIT04 = "nb04"
UNIT05 = "nb05"
UNIT_LABEL = f"{engine.LABEL}.unit"
IMAGE = engine.name(UNIT, "app")          # dockercourse-nb03-app
APP04 = engine.name(UNIT04, "app")        # dockercourse-nb04-app
COMMIT_IMAGE = engine.name(UNIT04, "commit")
VOLUME = engine.name(UNIT04, "data")
REPO = engine.name(UNIT04, "app")         # repository name inside the registry
APP05 = engine.name(UNIT05, "app")        # dockercourse-nb05-app

OUI_NON = {True: "oui", False: "non"}
BASE_IMAGE_TAG = engine.BASE_IMAGE
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")  # colours and cursor moves (CSI sequences)
CONTENT_HASH = re.compile(r"\b(file|multi|dir):([0-9a-f]{64})\b")

#: The package's one decorator for notebook-facing helpers (one French sentence per cell without a daemon).
needs_docker = engine.needs_docker


def unit_labels(unit: str | None = None, **extra: str) -> dict[str, str]:
    return engine.labels(unit=unit or UNIT, **extra)


def script(name: str) -> str:
    """The text of a script of ``architecture/scripts/`` (run inside containers)."""
    return resources.files(__package__).joinpath("scripts", name).read_text()


@needs_docker
def cli(*args: str) -> None:
    """``docker <args>`` shown like in a terminal (one French sentence without a daemon)."""
    engine.docker_cli(*args)


def short_id(image_id: str | None) -> str:
    return (image_id or "").removeprefix("sha256:")[:12]


def human_size(n: float) -> str:
    """Pure: bytes → ``"12,3 Mio"`` (binary units, the course's one unit; French decimal comma)."""
    for unit in ("o", "Kio", "Mio", "Gio"):
        if n < 1024 or unit == "Gio":
            return f"{n:.0f} {unit}" if unit == "o" else f"{decimal(n)} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def french_number(size_text: str) -> str:
    """Pure: ``"4.8 Mio"`` → ``"4,8 Mio"`` (decimal comma; idempotent)."""
    return size_text.replace(".", ",")


def decimal(x: float, digits: int = 1) -> str:
    """Pure: ``2.456`` → ``"2,5"`` (French decimal comma, for printed numbers)."""
    return french_number(f"{x:.{digits}f}")


def verdict_line(claim: str, holds: bool, why_not: str | None = None) -> str:
    """Pure: ``✔ <claim>`` when the claim holds, ``✘ <claim> — <what was measured
    instead>`` when it does not. A ✔ is a verdict: it is never followed by « non »."""
    if holds:
        return f"✔ {claim}"
    return f"✘ {claim}" + (f" — {why_not}" if why_not else " — ce n'est pas ce qui a été mesuré ici")


def verdict(claim: str, holds: bool, why_not: str | None = None) -> bool:
    """Print :func:`verdict_line` and return ``holds`` (so a caller can count)."""
    print(verdict_line(claim, bool(holds), why_not))
    return bool(holds)


def containerd_store(info: dict) -> bool:
    """Pure: does ``docker info`` describe the containerd image store? (``DriverStatus``
    holds ``["driver-type", "io.containerd.snapshotter.v1"]``; the classic store
    has ``overlay2`` and no driver-type.)"""
    for row in info.get("DriverStatus") or []:
        if len(row) == 2 and row[0] == "driver-type" and "snapshotter" in str(row[1]):
            return True
    return False


def french_units(size_text: str) -> str:
    """Pure: the docker CLI's decimal sizes in French: ``"4.8 MB"`` → ``"4,8 Mo"``."""
    number, _, unit = size_text.partition(" ")
    unit = {"B": "o", "kB": "ko", "MB": "Mo", "GB": "Go"}.get(unit, unit)
    return f"{number.replace('.', ',')} {unit}"


def workdir(unit: str = UNIT, sub: str = "build") -> Path:
    """A build folder in the state directory (not in the repository)."""
    path = engine.state_dir() / unit / sub
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_context(files: dict[str, str], unit: str = UNIT, sub: str = "build") -> Path:
    """Write the build context (``{"Dockerfile": ..., "app.py": ...}``), removing
    files of a previous run that are not in ``files``. Returns the folder."""
    import shutil

    path = workdir(unit, sub)
    for old in path.iterdir():
        if old.name not in files:
            shutil.rmtree(old) if old.is_dir() else old.unlink()
    for fname, text in files.items():
        (path / fname).parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            (path / fname).write_bytes(text)
        else:
            (path / fname).write_text(text)
    return path
