"""The sandbox's engine: a current Docker Engine (the Debian root of :mod:`dockercourse.currentengine`), rootless.

Debian 12's ``docker.io`` is Engine 20.10, whose BuildKit predates heredocs, ``COPY --link``
and other syntax every student's Docker understands; grading builds with the current
engine's root instead (Engine 26 with BuildKit 0.13 on trixie, 28 on sid).

:func:`launch` runs as root inside the sandbox's mount namespace, cgroup and network
namespace (:func:`~.enter.enter` starts it before dropping to the sandbox user) as::

    unshare -m --propagation private python -I -m dockercourse.grading.engine_ns JOB.json

It builds a root of its own on a small tmpfs: the engine root's ``/usr`` and ``/etc``
read-only (the host's ``passwd``, ``group``, ``subuid`` and ``subgid`` bound over the root's,
so ``newuidmap`` knows the sandbox user), a fresh ``/proc``, the host's ``/sys`` and ``/dev``,
the sandbox's private ``/tmp`` and the slot's folder at its own path. It then pivots into it
(a chroot is not enough: rootlesskit's user namespace is refused in a chroot, and
``docker exec`` breaks), detaches the old root — nothing of the host is left in the
engine's sight, not even what the sandbox does not hide —, becomes the sandbox user and
executes the root's ``dockerd-rootless.sh`` (rootlesskit 2 + slirp4netns) with
:func:`engine_command`'s flags (``cgroupfs`` driver included); it also says how a sandbox's
engine is started (:func:`engine_command`, :func:`engine_env`) when it is the host's ``docker.io``.
"""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
from pathlib import Path

from .protocol import Job

#: dockerd-rootless.sh inside the engine root (Debian's docker.io ships it there).
ROOTLESS_SCRIPT = "/usr/share/docker.io/contrib/dockerd-rootless.sh"
#: The binaries of the root the sandbox user's ``docker`` CLI runs (wrappers; see :func:`write_wrappers`).
CLI = "/usr/bin/docker"
PLUGINS = ("docker-buildx", "docker-compose")
#: The host's account files bound over the engine root's (newuidmap reads the user's ranges there).
ACCOUNT_FILES = ("passwd", "group", "subuid", "subgid")
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_MNT_DETACH = 2


#: Extra ``dockerd`` flags for every sandbox engine (the instructor's, or a test's), shell-split.
DOCKERD_ARGS_ENV = "DOCKERCOURSE_SANDBOX_DOCKERD_ARGS"
#: The cgroup driver of the sandbox engines: dockerd picks ``systemd`` on cgroup v2 when
#: ``/run/systemd/system`` exists, which needs a login session the sandbox user never has.
ENGINE_EXEC_OPTS = ("native.cgroupdriver=cgroupfs",)


#: Where an offline sandbox's engine sends its registry requests: nothing listens there, so a pull
#: (an unknown ``FROM``, ``docker run`` of a missing image, a ``# syntax=`` frontend) fails at once
#: instead of waiting for DNS answers that never come (10 s each through slirp4netns).
NO_REGISTRY_PROXY = "http://127.0.0.1:9"


def engine_env(isolated_net: bool) -> dict[str, str]:
    """Pure: what an engine's environment adds (the registry proxy of an offline sandbox)."""
    if not isolated_net:
        return {}
    return {k: NO_REGISTRY_PROXY for k in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")} | {
        "NO_PROXY": "", "no_proxy": ""}


def engine_command(slot_dir: Path, script: str, extra: list[str] | tuple[str, ...] = ()) -> list[str]:
    """The command line of a sandbox's rootless engine: its data and socket on the slot's
    disk, the ``cgroupfs`` driver (:data:`ENGINE_EXEC_OPTS`), then ``extra`` flags."""
    run = slot_dir / "run"
    home = slot_dir / "home"
    cmd = [script, "--data-root", str(home / "docker"), "--exec-root", str(run / "dockerd"),
           "--pidfile", str(run / "docker.pid"), "-H", f"unix://{run / 'docker.sock'}", "--log-level=warn"]
    for opt in ENGINE_EXEC_OPTS:
        cmd += ["--exec-opt", opt]
    return cmd + [str(a) for a in extra]


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True)


def root_layout(view: Path, slot_dir: Path) -> list[tuple[str, ...]]:
    """Pure: the mounts that make the engine's root at ``new`` (``mount`` arguments, ``{new}``
    standing for it), from the engine root bound read-only at ``view``."""
    out: list[tuple[str, ...]] = [("-t", "tmpfs", "-o", "size=16m,mode=755", "tmpfs", "{new}")]
    for d in ("usr", "etc"):
        out += [("--bind", str(view / d), "{new}/" + d), ("-o", "remount,bind,ro", "{new}/" + d)]
    for f in ACCOUNT_FILES:
        out.append(("--bind", f"/etc/{f}", "{new}/etc/" + f))
    out += [("-t", "proc", "-o", "nosuid,nodev,noexec", "proc", "{new}/proc"),
            ("--rbind", "/sys", "{new}/sys"), ("--rbind", "/dev", "{new}/dev"),
            ("--bind", "/tmp", "{new}/tmp"), ("--bind", str(slot_dir), "{new}" + str(slot_dir))]
    return out


def launch(job_path: str) -> None:
    job = Job.from_json(Path(job_path).read_text())
    view = Path(job.engine_root)
    slot_dir = Path(job.sandbox)
    new = slot_dir / "job" / ".enginefs"
    new.mkdir(mode=0o700, exist_ok=True)
    for args in root_layout(view, slot_dir):
        if args[-1] == "{new}":
            _mount(*args[:-1], str(new))
            for d in ("usr", "etc", "proc", "sys", "dev", "tmp", "run", "var/tmp", ".oldroot",
                      str(slot_dir).lstrip("/")):
                (new / d).mkdir(parents=True, exist_ok=True)
            for link, target in (("bin", "usr/bin"), ("sbin", "usr/sbin"), ("lib", "usr/lib"),
                                 ("lib64", "usr/lib64")):
                if (view / link).is_symlink() or (view / target).is_dir():
                    os.symlink(target, new / link)
            os.chmod(new / "tmp", 0o1777)
            continue
        if args[0] == "--bind" and not os.path.exists(args[1]):
            continue  # a host without /etc/subgid, say: the root's own stays
        _mount(*[a.replace("{new}", str(new)) for a in args])
    cmd = engine_command(slot_dir, ROOTLESS_SCRIPT, job.dockerd_args)
    env = {"HOME": str(slot_dir / "home"), "XDG_RUNTIME_DIR": str(slot_dir / "run"), "USER": job.user,
           "LOGNAME": job.user, "PATH": PATH, "LANG": "C.UTF-8"} | engine_env(job.isolated_net)
    os.chdir(new)
    subprocess.run(["pivot_root", ".", ".oldroot"], check=True, capture_output=True)
    os.chdir("/")
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.umount2(b"/.oldroot", _MNT_DETACH) != 0:
        raise OSError(ctypes.get_errno(), "umount /.oldroot")
    os.rmdir("/.oldroot")
    os.setgroups([])
    os.setresgid(job.gid, job.gid, job.gid)
    os.setresuid(job.uid, job.uid, job.uid)
    os.chdir(env["HOME"])
    os.execve(cmd[0], cmd, env)


def wrapper_text(view: Path, binary: str, machine: str | None = None) -> str:
    """Pure: a shell script that runs ``binary`` of the engine root bound at ``view`` with
    that root's own dynamic loader and libraries (its glibc is newer than the host's)."""
    libdir = view / "usr/lib" / f"{machine or os.uname().machine}-linux-gnu"
    loader = {"x86_64": "ld-linux-x86-64.so.2", "aarch64": "ld-linux-aarch64.so.1"}.get(
        machine or os.uname().machine, "ld-linux.so.2")
    return (f"#!/bin/sh\n# {binary} of the sandbox's engine root (dockercourse.grading.engine_ns).\n"
            f"exec {libdir / loader} --library-path {libdir} {view}{binary} \"$@\"\n")


def write_wrappers(bin_dir: Path, view: Path) -> Path:
    """``bin_dir/docker`` and ``bin_dir/cli-plugins/`` (buildx, compose) for the root bound at
    ``view``; returns the ``docker`` wrapper."""
    for path, binary in [(bin_dir / "docker", CLI)] + [(bin_dir / "cli-plugins" / p,
                                                         f"/usr/libexec/docker/cli-plugins/{p}") for p in PLUGINS]:
        text = wrapper_text(view, binary)
        path.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(path.parent, 0o755)
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
        os.chmod(path, 0o755)
    return bin_dir / "docker"


def link_plugins(home: Path, bin_dir: Path) -> None:
    """The sandbox user's ``~/.docker/cli-plugins`` point at the wrappers (buildx writes its
    state under ``~/.docker``, so the folder is the user's own)."""
    plugins = home / ".docker" / "cli-plugins"
    plugins.mkdir(parents=True, exist_ok=True)
    for name in PLUGINS:
        link = plugins / name
        if not link.is_symlink():
            link.symlink_to(bin_dir / "cli-plugins" / name)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: python -m dockercourse.grading.engine_ns JOB.json", file=sys.stderr)
        sys.exit(2)
    launch(sys.argv[1])
    sys.exit(1)
