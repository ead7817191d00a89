"""The grading host (root, once per class command): what sandboxes need from the machine.

Debian's rootless helpers installed (:func:`ensure_host_support`), the current engine's root that
the sandboxes run (:func:`current_engine_root`), one system user per slot with its own
subordinate ids (:func:`ensure_user`), and the names every other part agrees on: the sandboxes'
root folder, the users' prefix, the cgroup's name.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import stat
import subprocess
import threading
from pathlib import Path

from .. import engine, hostpkg
from ..errors import SandboxError

USER_PREFIX = "dcgrade"
#: First subordinate uid/gid of slot 0; slot k gets [BASE + k * SPAN, BASE + (k + 1) * SPAN).
SUBID_BASE = 1_500_000_000
SUBID_SPAN = 65536
#: At most this many slots: the sandboxes' subordinate ids end below SUBID_END (the class server's
#: members start above it).
MAX_SLOTS = 1024
SUBID_END = SUBID_BASE + MAX_SLOTS * SUBID_SPAN
DEFAULT_ROOT = Path("/var/lib/dockercourse-grading")
#: The Debian packages rootless engines need, and a program of each that says it is there.
PACKAGES = {"rootlesskit": "rootlesskit", "uidmap": "newuidmap", "slirp4netns": "slirp4netns",
            "e2fsprogs": "mkfs.ext4", "iproute2": "ip"}
ROOTLESS_SCRIPTS = ("/usr/share/docker.io/contrib/dockerd-rootless.sh", "/usr/bin/dockerd-rootless.sh")
CGROUP_NAME = "dockercourse-grading"
#: ``current`` (default): the sandboxes run the current engine's root; ``host``: the host's docker.io.
ENGINE_ENV = "DOCKERCOURSE_SANDBOX_ENGINE"
#: Under the sandboxes' root: where each sandbox sees the engine root (read-only), and the CLI wrappers.
ENGINE_VIEW, ENGINE_BIN = "engine", "engine-bin"


def rootless_script() -> str | None:
    for p in ROOTLESS_SCRIPTS:
        if os.access(p, os.X_OK):
            return p
    return shutil.which("dockerd-rootless.sh")


def buildkit_cli() -> str:
    """A docker client that builds with BuildKit: one with the buildx plugin, or a 20.x
    client (BuildKit built in). Falls back to ``docker``."""
    cands = [shutil.which("docker"), "/usr/bin/docker", "/usr/local/bin/docker"]
    for c in dict.fromkeys(x for x in cands if x and os.access(x, os.X_OK)):
        if subprocess.run([c, "buildx", "version"], capture_output=True).returncode == 0:
            return c
        out = subprocess.run([c, "--version"], capture_output=True, text=True).stdout
        with contextlib.suppress(ValueError, IndexError):
            if int(out.split("version", 1)[1].strip().split(".")[0]) < 23:
                return c
    return shutil.which("docker") or "docker"


def cgroup_version() -> int:
    if Path("/sys/fs/cgroup/cgroup.controllers").exists():
        return 2
    return 1


def ensure_host_support(quiet: bool = False) -> list[str]:
    """Install what rootless engines need (Debian packages, ``/dev/net/tun`` usable by
    unprivileged users). Returns what was done; raises :class:`SandboxError`."""
    done = []
    if os.geteuid() != 0:
        raise SandboxError("la correction en bac à sable doit être lancée en root (elle crée des utilisateurs, "
                           "des cgroups et des montages) : sudo python -m dockercourse grade …")
    missing = [p for p, exe in PACKAGES.items() if shutil.which(exe) is None and not Path(f"/usr/sbin/{exe}").exists()]
    if missing:
        if not hostpkg.debian_like():
            raise SandboxError(f"installez d'abord : {', '.join(missing)} (paquets Debian/Ubuntu de Docker rootless).")
        try:
            hostpkg.apt_install(missing, recommends=True)
        except hostpkg.PackageError as err:
            raise SandboxError(f"apt-get install {' '.join(missing)} a échoué :\n{err}") from None
        done.append("installed " + " ".join(missing))
    root = current_engine_root(quiet)
    if root is not None:
        done.append(f"engine {root}")
    elif rootless_script() is None:
        raise SandboxError("dockerd-rootless.sh est introuvable (paquet docker.io ou docker-ce-rootless-extras).")
    tun = Path("/dev/net/tun")
    if tun.exists() and stat.S_IMODE(tun.stat().st_mode) & 0o006 != 0o006:
        os.chmod(tun, 0o666)  # slirp4netns, run by the sandbox user, opens it
        done.append("chmod 0666 /dev/net/tun")
    if not quiet:
        for d in done:
            print(f"  bac à sable : {d}", flush=True)
    return done


_ENGINE_ROOT: dict[str, Path | None] = {}


def current_engine_root(quiet: bool = True) -> Path | None:
    """The current engine's Debian root the sandboxes run (built once, about a minute, then
    cached), or None for the host's engine (:data:`ENGINE_ENV` = ``host``, or no root can be
    built: the instructor is told)."""
    if os.environ.get(ENGINE_ENV, "current") == "host":
        return None
    if "root" not in _ENGINE_ROOT:
        from ..currentengine import CurrentEngine

        ce = CurrentEngine()
        try:
            if not ce._root_ok() and not quiet:
                print(f"  bac à sable : préparation du moteur Docker récent ({ce.suite}, une minute environ)…",
                      flush=True)
            ce.ensure_root()
            _ENGINE_ROOT["root"] = ce.root
        except engine.SetupError as err:
            print(f"  bac à sable : moteur récent indisponible ({str(err)[:200]}) : les copies sont corrigées "
                  "avec le docker.io de l'hôte, dont le BuildKit ne comprend pas toute la syntaxe récente "
                  "(heredocs…).", flush=True)
            _ENGINE_ROOT["root"] = None
    return _ENGINE_ROOT["root"]


def identity_pids(uid: int, subid_lo: int) -> list[int]:
    """Processes running as ``uid`` (0: none) or one of its subordinate ids ``[subid_lo, subid_lo +
    SUBID_SPAN)`` — an identity's own processes and its rootless engine's containers."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                owner = entry.stat().st_uid
                if (uid and owner == uid) or subid_lo <= owner < subid_lo + SUBID_SPAN:
                    found.append(int(entry.name))
    return found


def cached_save(cache: Path, key: str, images: list[str]) -> Path:
    """``docker save`` of ``images`` (by name: the archive tags them) as ``cache/base-<key>.tar``,
    readable by the sandboxes' users, made once per key (the archive of another key is removed
    first). Raises :class:`SandboxError`."""
    cache.mkdir(parents=True, exist_ok=True)
    os.chmod(cache, 0o755)
    path = cache / f"base-{key}.tar"
    if not path.exists():
        for old in cache.glob("base-*.tar"):
            old.unlink()
        tmp = path.with_suffix(".part")
        proc = subprocess.run(["docker", "save", "-o", str(tmp), *images], capture_output=True, text=True)
        if proc.returncode != 0:
            tmp.unlink(missing_ok=True)
            raise SandboxError("docker save de l'image de base a échoué : " + proc.stderr[-300:])
        tmp.rename(path)
    os.chmod(path, 0o644)
    return path


#: The files that give each slot's user its subordinate ids (read, changed, written back).
SUBID_FILES = ("/etc/subuid", "/etc/subgid")
#: The class command makes its slots on several threads at once: without it, two read-modify-writes
#: of /etc/subgid lost one slot's line (its engine then failed: "No subgid ranges found"), and two
#: useradd calls could meet on /etc/passwd's lock.
_USERS_LOCK = threading.Lock()


def ensure_user(slot: int) -> tuple[int, int, str]:
    """The system user of sandbox slot ``slot`` and its subordinate ids."""
    return ensure_account(f"{USER_PREFIX}{slot}", SUBID_BASE + slot * SUBID_SPAN)


def ensure_account(name: str, subid_lo: int, *, home: str | None = None, comment: str = "",
                   groups: tuple[str, ...] = ()) -> tuple[int, int, str]:
    """A Unix account ``name`` (made if missing: a system user without a home on the host unless
    ``home`` is given, an account with a password then, whose shell is still ``nologin``) whose
    subordinate uid/gid range is ``[subid_lo, subid_lo + SUBID_SPAN)`` in :data:`SUBID_FILES`.
    Returns (uid, gid, name)."""
    with _USERS_LOCK:
        try:
            pw = pwd.getpwnam(name)
        except KeyError:
            for g in groups:
                subprocess.run(["groupadd", "-f", "--system", g], check=True, capture_output=True)
            if home is None:
                opts = ["--system", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin"]
            else:  # a login through JupyterHub only: no shell for sshd, su or a console (sessions set SHELL)
                opts = ["--no-create-home", "--home-dir", home, "--shell", "/usr/sbin/nologin"]
            opts += ["--comment", comment] if comment else []
            opts += ["--groups", ",".join(groups)] if groups else []
            subprocess.run(["useradd", *opts, "--user-group", name], check=True, capture_output=True)
            pw = pwd.getpwnam(name)
        for path in SUBID_FILES:
            lines = Path(path).read_text().splitlines() if Path(path).exists() else []
            want = f"{name}:{subid_lo}:{SUBID_SPAN}"
            if want not in lines:
                lines = [ln for ln in lines if not ln.startswith(f"{name}:")] + [want]
                Path(path).write_text("\n".join(lines) + "\n")
    return pw.pw_uid, pw.pw_gid, name
