"""Debian packages on the host and Debian roots in folders: one place for ``apt-get`` and
``mmdebstrap`` (the engine, the offline kit, the current engine, the local registry, QEMU and the
grading sandboxes all install something the first time).

* :func:`apt_install` installs what is missing, reads the package lists again only when a package
  has no candidate, waits for another ``apt-get`` rather than failing on the dpkg lock, and raises
  the caller's exception class with the tail of apt's output;
* :func:`debian_root` makes a Debian ``minbase`` root with extra packages in a folder, with
  ``mmdebstrap`` (apt's resolver and parallel downloads: about 30 s for a root that ``debootstrap``
  takes one to two minutes to make, ``benchmarks/setup_roots.py``); ``debootstrap`` when mmdebstrap
  cannot be had. Progress: one line per stage, everything in a log file.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from .errors import DockercourseError

MIRROR = os.environ.get("DOCKERCOURSE_DEBIAN_MIRROR", "http://deb.debian.org/debian")
LOCK_WAIT_S = 300


class PackageError(DockercourseError, RuntimeError):
    """A package could not be installed (the default exception class of this module)."""


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def debian_like() -> bool:
    return Path("/etc/debian_version").exists() and shutil.which("apt-get") is not None


def can_apt() -> bool:
    """Root on a Debian-like host: packages can be installed here."""
    return is_root() and debian_like()


def apt_env() -> dict[str, str]:
    return dict(os.environ, DEBIAN_FRONTEND="noninteractive")


def has_candidate(package: str) -> bool:
    out = subprocess.run(["apt-cache", "policy", package], capture_output=True, text=True).stdout
    return "Candidate:" in out and "Candidate: (none)" not in out


def installed(package: str) -> bool:
    out = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True).stdout
    return out.endswith("installed") and "not-installed" not in out


def apt_command(args: list[str]) -> list[str]:
    """``apt-get`` with this module's options (quiet, wait for the dpkg lock)."""
    return ["apt-get", "-q", "-o", f"DPkg::Lock::Timeout={LOCK_WAIT_S}", *args]


@contextlib.contextmanager
def apt_lock():
    """One ``apt-get`` of the course's at a time on this host: ``make test`` sets up the kit, the
    current engine's root and the browser side by side, and dpkg's own lock timeout does not
    cover ``apt-get update``'s lists lock."""
    folder = Path("/run/lock") if os.access("/run/lock", os.W_OK) else Path(tempfile.gettempdir())
    with open(folder / "dockercourse-apt.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def apt_run(args: list[str], error: type[Exception] = PackageError, cwd: Path | None = None,
            timeout: float = 900) -> str:
    """Run ``apt-get args`` under :func:`apt_lock`; its standard output, or ``error`` with the
    last lines it printed."""
    cmd = apt_command(args)
    with apt_lock():
        proc = subprocess.run(cmd, capture_output=True, text=True, env=apt_env(), cwd=cwd, timeout=timeout)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-8:])
        raise error(f"`{' '.join(cmd)}` failed (exit {proc.returncode}):\n{tail}")
    return proc.stdout


def ensure_lists(packages: Iterable[str], error: type[Exception] = PackageError) -> None:
    """``apt-get update`` once if one of ``packages`` has no candidate (a fresh machine's lists)."""
    if not all(has_candidate(p) for p in packages):
        apt_run(["update"], error)


def apt_install(packages: Iterable[str], error: type[Exception] = PackageError, recommends: bool = False,
                log: Callable[[str], None] | None = None) -> list[str]:
    """Install the ``packages`` that are not installed yet; returns those it installed.
    Raises ``error`` (with apt's last lines) when not root on Debian, or when apt fails."""
    missing = [p for p in dict.fromkeys(packages) if not installed(p)]
    if not missing:
        return []
    if not can_apt():
        raise error(f"missing Debian packages: {' '.join(missing)} (install them as root with apt-get)")
    if log:
        log(f"apt-get install {' '.join(missing)}")
    ensure_lists(missing, error)
    apt_run(["install", "-y", *([] if recommends else ["--no-install-recommends"]), *missing], error)
    return missing


def ensure_command(exe: str, package: str, error: type[Exception] = PackageError) -> str:
    """Path of ``exe``, installing ``package`` when it is missing (root on Debian)."""
    found = shutil.which(exe) or (f"/usr/sbin/{exe}" if os.access(f"/usr/sbin/{exe}", os.X_OK) else None)
    if found:
        return found
    apt_install([package], error)
    found = shutil.which(exe) or (f"/usr/sbin/{exe}" if os.access(f"/usr/sbin/{exe}", os.X_OK) else None)
    if not found:
        raise error(f"{exe} is still missing after installing {package}")
    return found


def deb_arch(machine: str) -> str:
    """Pure: Debian's name for a ``uname -m`` architecture."""
    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "armhf"}.get(machine, machine)


def bootstrap_command(tool: str, suite: str, packages: Iterable[str], dest: Path, arch: str,
                      mirror: str = MIRROR) -> list[str]:
    """Pure: the ``mmdebstrap`` or ``debootstrap`` command line of a ``minbase`` root."""
    include = f"--include={','.join(packages)}"
    if Path(tool).name == "mmdebstrap":
        return [tool, "--variant=minbase", f"--architectures={arch}", include, "--mode=root", suite, str(dest),
                mirror]
    return [tool, "--variant=minbase", f"--arch={arch}", include, suite, str(dest), mirror]


def bootstrap_tool(error: type[Exception] = PackageError) -> str:
    """``mmdebstrap``, installed if need be; ``debootstrap`` when only that one can be had."""
    for exe, package in (("mmdebstrap", "mmdebstrap"), ("debootstrap", "debootstrap")):
        try:
            return ensure_command(exe, package, error)
        except error:
            continue
    raise error("neither mmdebstrap nor debootstrap is installed, and they cannot be installed here "
                "(root on Debian/Ubuntu: apt-get install mmdebstrap)")


def debian_root(suite: str, packages: Iterable[str], dest: Path, log_path: Path, arch: str,
                error: type[Exception] = PackageError, echo: Callable[[str], None] = print) -> str:
    """Make a Debian ``minbase`` root of ``suite`` with ``packages`` in the folder ``dest`` (which
    must not exist) with :func:`bootstrap_tool`; returns the tool's name, raises ``error``."""
    tool = bootstrap_tool(error)
    run_logged(bootstrap_command(tool, suite, packages, dest, arch), log_path, error, echo)
    return Path(tool).name


def run_logged(cmd: list[str], log_path: Path, error: type[Exception] = PackageError,
               echo: Callable[[str], None] = print) -> None:
    """Run a bootstrap command line: every line it prints goes to ``log_path``, the first line of
    each stage (:func:`stage_of`) to ``echo``; a failure raises ``error`` naming the log."""
    stages: set[str] = set()
    with open(log_path, "w") as log:
        log.write("$ " + " ".join(cmd) + "\n")
        log.flush()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=apt_env())
        for line in proc.stdout:
            log.write(line)
            stage = stage_of(line)
            if stage and stage not in stages:
                stages.add(stage)
                echo(f"      {line.strip()}")
        if proc.wait() != 0:
            raise error(f"{Path(cmd[0]).name} failed (exit {proc.returncode}); see {log_path}")


def stage_of(line: str) -> str | None:
    """Pure: the stage an ``I:`` progress line belongs to, or ``None`` for any other line:
    debootstrap's first two words (« I: Retrieving » covers one line per package), mmdebstrap's
    first three (« I: installing essential », « I: installing remaining »)."""
    if not line.startswith("I: "):
        return None
    words = line.split()
    return " ".join(words[:3] if len(words) > 1 and words[1][:1].islower() else words[:2])


def main(argv: list[str] | None = None) -> int:
    """``python -m dockercourse.hostpkg install PACKAGE…`` (the Makefile's browser target)."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) < 2 or argv[0] != "install":
        print("usage: python -m dockercourse.hostpkg install PACKAGE...", file=sys.stderr)
        return 2
    try:
        done = apt_install(argv[1:], log=lambda m: print(f"== {m}", flush=True))
    except PackageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if not done:
        print(f"already installed: {' '.join(argv[1:])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
