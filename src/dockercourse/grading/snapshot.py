"""The submission snapshot: which files make a student's project, read once.

A project is the TP's build context: ``Dockerfile``, ``.dockerignore`` and ``app/**``
(minus caches and virtualenvs). :class:`Snapshot` walks it once and keeps the bytes,
so the hash, the size cap and the staged build context all describe the same files
even if the folder changes meanwhile. :func:`files_from_notebook` reads the same
files out of a submitted notebook's ``%%writefile`` cells without running any of
its code: that is what the class grader builds and judges.
"""

from __future__ import annotations

import dataclasses
import getpass
import hashlib
import os
import shlex
import socket
from pathlib import Path, PurePosixPath

from .. import engine

#: The TP's contract (stated in the notebook).
APP_PORT = 8000
APP_DIR = "app"
PROJECT_FILES = ("Dockerfile", ".dockerignore")
#: Never copied into the staged build context (the .dockerignore check adds them on purpose).
STAGE_EXCLUDED = {"__pycache__", ".venv", ".git", ".ipynb_checkpoints", "venv", "node_modules"}
#: Largest build context the grader stages (a hostile or careless app/ folder).
MAX_CONTEXT_MB = 50
#: Most files a project may hold (a folder of a million small files is refused, not walked).
MAX_FILES = 2000
#: Bump when the build/caching logic changes in a way the files do not show.
GRADER_VERSION = "2"
SUB_LABEL = f"{engine.LABEL}.tp.submission"
FILES_LABEL = f"{engine.LABEL}.tp.files"


# =========================================================================== identity


def submission_id(project: str | Path) -> str:
    """Stable id of a submission folder on this machine: hash of its resolved
    path, the user and the host. Two students (or two copies) never share it."""
    try:
        user = getpass.getuser()
    except Exception:  # no passwd entry (some containers)
        user = str(os.getuid())
    key = f"{Path(project).resolve()}|{user}|{socket.gethostname()}"
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def image_repo(sub: str) -> str:
    return engine.name("tp", sub)


def container_name(sub: str, check: str) -> str:
    return engine.name("tp", sub, check)


def student_names(project: str | Path = ".") -> dict[str, str]:
    """Names for the student's own commands (image, container, label)."""
    sub = submission_id(project)
    return {"IMAGE": engine.name("tp", sub, "mon-app"), "CONTENEUR": engine.name("tp", sub, "mon-conteneur"),
            "ETIQUETTE": f"{SUB_LABEL}={sub}"}


# =========================================================================== the snapshot


def _is_project_path(rel: str) -> bool:
    parts = PurePosixPath(rel).parts
    if not parts or rel.startswith("/") or ".." in parts:
        return False
    if rel in PROJECT_FILES:
        return True
    return parts[0] == APP_DIR and len(parts) > 1 and not (set(parts[:-1]) & STAGE_EXCLUDED) \
        and not rel.endswith((".pyc", ".pyo"))


@dataclasses.dataclass
class Snapshot:
    """The project's files as ``{relative posix path: bytes}``, read once.

    Walking stops past :data:`MAX_CONTEXT_MB` or :data:`MAX_FILES` (``oversize``):
    such a project is refused before any build, so the rest need not be read."""

    files: dict[str, bytes]
    oversize: bool = False
    measured_bytes: int = 0

    @classmethod
    def of(cls, project: str | Path) -> Snapshot:
        project = Path(project)
        files: dict[str, bytes] = {}
        for name in PROJECT_FILES:
            p = project / name
            if p.is_file() and not p.is_symlink():
                files[name] = p.read_bytes()
        total = sum(len(b) for b in files.values())
        app = project / APP_DIR
        if app.is_dir() and not app.is_symlink():
            for dirpath, dirnames, filenames in os.walk(app):
                dirnames[:] = sorted(d for d in dirnames if d not in STAGE_EXCLUDED)
                for f in sorted(filenames):
                    p = Path(dirpath) / f
                    rel = p.relative_to(project).as_posix()
                    if not _is_project_path(rel) or p.is_symlink() or not p.is_file():
                        continue
                    total += p.stat().st_size
                    if total > MAX_CONTEXT_MB * 1_000_000 or len(files) >= MAX_FILES:
                        return cls(files, True, total)
                    files[rel] = p.read_bytes()
        return cls(files, False, total)

    @property
    def size_mb(self) -> float:
        return max(self.measured_bytes, sum(len(b) for b in self.files.values())) / 1e6

    def hash(self, base_id: str = "") -> str:
        h = hashlib.sha256(f"v{GRADER_VERSION}|{base_id}".encode())
        for rel, data in sorted(self.files.items()):
            h.update(rel.encode() + b"\0" + data + b"\0")
        return h.hexdigest()[:16]

    def stage(self, dest: Path) -> None:
        """Write the files under ``dest`` (the build context)."""
        for rel, data in self.files.items():
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)

    def text(self, rel: str) -> str | None:
        data = self.files.get(rel)
        return None if data is None else data.decode(errors="replace")


def staged_files(project: str | Path) -> dict[str, bytes]:
    """The project's files (see :class:`Snapshot`)."""
    return Snapshot.of(project).files


def stage(project: str | Path, dest: Path) -> dict[str, bytes]:
    snap = Snapshot.of(project)
    snap.stage(dest)
    return snap.files


def files_hash(project: str | Path, base_id: str = "") -> str:
    return Snapshot.of(project).hash(base_id)


# =========================================================================== files in a notebook


def _writefile_target(first_line: str) -> tuple[str, bool] | None:
    """``(path, append)`` of a ``%%writefile [-a] path`` line, else None."""
    try:
        words = shlex.split(first_line)
    except ValueError:
        return None
    if not words or words[0] != "%%writefile":
        return None
    args = words[1:]
    append = False
    while args and args[0].startswith("-"):
        append = append or args[0] in ("-a", "--append")
        args = args[1:]
    if len(args) != 1:
        return None
    return os.path.normpath(args[0]).replace(os.sep, "/").removeprefix("./"), append


def files_from_notebook(nb: dict) -> dict[str, bytes]:
    """The project files a notebook's ``%%writefile`` cells write, in cell order,
    read without executing anything. Only project paths count (``Dockerfile``,
    ``.dockerignore``, ``app/**``); later cells overwrite earlier ones, ``-a`` appends.
    IPython writes the cell body after the magic line, ending with a newline."""
    files: dict[str, bytes] = {}
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else str(source)
        first, _, body = source.partition("\n")
        target = _writefile_target(first.strip())
        if target is None or not _is_project_path(target[0]):
            continue
        rel, append = target
        data = body.encode()
        if body and not body.endswith("\n"):
            data += b"\n"
        files[rel] = files.get(rel, b"") + data if append else data
    return files


def write_files(files: dict[str, bytes], dest: Path) -> None:
    """Materialise ``files`` under ``dest`` (regular files only, project paths only)."""
    for rel, data in files.items():
        if not _is_project_path(rel):
            continue
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
