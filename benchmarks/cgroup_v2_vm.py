"""The class command on cgroup v2, with and without systemd, in a QEMU VM (issue 18, item 6).

    sudo DOCKERCOURSE_STATE=.state .venv/bin/python benchmarks/cgroup_v2_vm.py
        [--config systemd|plain|both] [--student NAME ...] [--prepare-only]

This machine is cgroup v1 (hybrid) and cannot run a privileged Docker-in-Docker, so the
harness boots a Debian trixie guest under QEMU (TCG, 2 vCPUs, ``cgroup_no_v1=all``) at
``nice -n 15`` and grades a small class inside it, as an instructor would:

* **prepare** (cached under ``$DOCKERCOURSE_STATE/cgroup-v2-vm/``, rebuilt only when the recipe
  changes: packages, the guest's files in ``benchmarks/cgroup_v2_guest/``, the project's
  dependencies): one root made by mmdebstrap (systemd, docker.io 26, rootlesskit, uidmap,
  slirp4netns, tini, Python 3.13 and a venv holding the project's dependencies, installed from
  PyPI on the host side through ``chroot`` — the guest has no network), Debian's kernel and an
  initramfs made in that root, the whole written to a sparse ext4 image by ``mkfs.ext4 -d``
  (no loop device, no mount); the host engine's ``python:3.13-slim`` saved once;
* **run**, for each configuration, one boot on a fresh copy-on-write overlay of that image
  (QEMU's ``snapshot=on``):
  ``systemd`` (systemd is PID 1, so ``/run/systemd/system`` exists and dockerd would pick the
  systemd cgroup driver; the root engine runs as Debian's ``docker.service``) or ``plain``
  (``benchmarks/cgroup_v2_guest/init.sh``, then tini, is PID 1: the same files, no systemd
  running). The course is the worktree's files (``git ls-files``), given to the guest as a tar
  on a 9p share, with the job; the guest's results come back on that share;
* **inside** (``guest``, run by ``cgroup_v2_guest/run.sh``): ``python -m dockercourse engine``,
  the base image loaded with ``python -m dockercourse offline --from-tar``, a course made with
  ``nbgrader generate_assignment`` and the test corpus's students
  (``tests/utils/corpus.py``), then ``python -m dockercourse grade tp-conteneurisation
  --jobs 1 --json …``; meanwhile a poller reads the sandbox's cgroup (controllers, limits,
  owner, the groups created below it) and its engine's ``docker info``;
* **report**: per student, expected per-cell scores (the corpus's) vs the gradebook's, the
  total, flags, wall time and the cgroup facts, as a table on the host; the raw outputs stay in
  the run's folder (``runs/<date>-<config>/``). No qemu, mount or loop device is left behind.

The current engine's root the sandboxes run is the guest's own root (the same trixie packages
as :data:`dockercourse.currentengine.PACKAGES`, marked as that root), so the guest needs no
mirror. Everything in TCG is about ten times slower than on the host: the harness gives the
class command a larger ``--wall`` and ``--cell-timeout`` (the corpus's expected scores do not
depend on them), and reports the times as measured.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import dataclasses
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import threading
import time
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
GUEST_FILES = HERE / "cgroup_v2_guest"
SUITE = "trixie"
#: The guest's packages: the current engine's (docker.io, buildx, compose, containerd, rootlesskit,
#: slirp4netns, uidmap, iptables…), the sandbox host's (e2fsprogs, iproute2), a kernel, both inits.
PACKAGES = ("linux-image-amd64", "initramfs-tools", "zstd", "systemd", "systemd-sysv", "dbus", "tini",
            "docker.io", "docker-cli", "docker-buildx", "docker-compose", "containerd", "runc", "iptables",
            "iproute2", "procps", "ca-certificates", "kmod", "rootlesskit", "slirp4netns", "uidmap", "e2fsprogs",
            "util-linux", "mount", "python3", "python3-venv")
#: Bump when the preparation changes in a way the packages, the guest's files and the
#: requirements do not show.
RECIPE_VERSION = "1"
DISK_GIB = 16
MEMORY_MIB = 6144
CPUS = 2
NICE = 15
CONFIGS = ("systemd", "plain")
#: PID 1 of each configuration (the kernel's ``init=``).
INITS = {"systemd": "/lib/systemd/systemd", "plain": "/usr/local/sbin/dc-init"}
DEFAULT_STUDENTS = ("reference-solution", "memory-hog-at-import")
AID = "tp-conteneurisation"
#: TCG is ~10x slower than the host: the class command's limits for the guest (defaults 600 s, 120 s).
GUEST_WALL_S = 3600
GUEST_CELL_S = 120
#: The checks' fixed limits are multiplied by this in the guest (cgroup_v2_guest/dcvm_timescale.py).
TIME_SCALE = 10.0
BOOT_TIMEOUT_S = 5400
DONE_MARK = "DCVM-DONE"
RESULT = "result.json"
#: Inside the guest (cgroup_v2_guest/run.sh): where the course is unpacked, the share, the cache.
GUEST_COURSE = Path("/srv/course")
GUEST_CACHE = Path("/mnt/cache")
GUEST_SANDBOX_ROOT = Path("/var/lib/dockercourse-grading")
SLOT_CGROUP = Path("/sys/fs/cgroup/dockercourse-grading/slot0")


# =========================================================================== pure helpers


def requirements(pyproject_text: str) -> list[str]:
    """Pure: the project's runtime dependencies (``[project].dependencies``)."""
    return list(tomllib.loads(pyproject_text)["project"]["dependencies"])


def recipe_hash(packages: tuple[str, ...], guest_files: dict[str, bytes], reqs: list[str],
                version: str = RECIPE_VERSION, suite: str = SUITE) -> str:
    """Pure: what the cached image depends on, hashed."""
    h = hashlib.sha256()
    h.update(json.dumps({"suite": suite, "packages": sorted(packages), "requirements": sorted(reqs),
                         "version": version, "disk_gib": DISK_GIB}, sort_keys=True).encode())
    for name in sorted(guest_files):
        h.update(name.encode() + b"\0" + hashlib.sha256(guest_files[name]).digest())
    return h.hexdigest()[:16]


def kernel_cmdline(config: str) -> str:
    """Pure: the guest kernel's command line for ``config`` (cgroup v1 off, the config's PID 1)."""
    if config not in INITS:
        raise ValueError(f"unknown configuration {config!r}: expected one of {', '.join(CONFIGS)}")
    return (f"root=/dev/vda rw console=ttyS0 cgroup_no_v1=all init={INITS[config]} panic=-1 "
            "mitigations=off quiet loglevel=3 systemd.show_status=0")


def qemu_command(qemu: str, kernel: Path, initrd: Path, disk: Path, share: Path, cache: Path, config: str,
                 memory_mib: int = MEMORY_MIB, cpus: int = CPUS, nice: int = NICE) -> list[str]:
    """Pure: the niced QEMU TCG command line of one boot."""
    # QEMU's default CPU model (qemu64), as dockercourse.vm boots: with ``-cpu max`` QEMU 7.2's TCG
    # double-faulted the guest kernel in SLUB's cmpxchg16b path within 20 minutes (one run)
    return ["nice", "-n", str(nice), qemu, "-accel", "tcg,thread=multi", "-smp", str(cpus),
            "-m", str(memory_mib), "-nographic", "-no-reboot", "-nic", "none",
            "-device", "virtio-rng-pci",
            "-kernel", str(kernel), "-initrd", str(initrd), "-append", kernel_cmdline(config),
            # snapshot=on: the writes go to a temporary overlay QEMU makes in $TMPDIR and deletes
            "-drive", f"file={disk},if=virtio,format=raw,snapshot=on,cache=unsafe",
            "-virtfs", f"local,path={share},mount_tag=dcshare,security_model=none,id=dcshare",
            "-virtfs", f"local,path={cache},mount_tag=dccache,security_model=none,readonly=on,id=dccache"]


_PROGRESS = re.compile(r"▏\s+\d+/\d+\s+[\d.]+ s\s+(\S+) : ")


def finished_student(line: str) -> str | None:
    """Pure: the student a progress line of the class command reports as done, or None."""
    m = _PROGRESS.search(line)
    return m.group(1) if m else None


def assign_sessions(sessions: list[dict], finished: list[tuple[float, str]]) -> dict[str, list[dict]]:
    """Pure: engine sessions (each with ``first_seen``) attributed to students by time: with one
    job, a session belongs to the first student that finished after it appeared."""
    out: dict[str, list[dict]] = {}
    ends = sorted(finished)
    for s in sessions:
        who = next((sid for t, sid in ends if t >= s["first_seen"]), "?")
        out.setdefault(who, []).append(s)
    return out


def compare(expected: dict[str, float | None], got: dict[str, float | None]) -> list[str]:
    """Pure: the cells whose score differs from the corpus's (``None`` expected: not compared)."""
    from tests.utils.corpus import differences

    return differences(expected, got)


def _short(text: str, width: int = 70) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"


def _num(x: float | None) -> str:
    return "—" if x is None else f"{x:g}"


def table_rows(result: dict) -> list[list[str]]:
    """Pure: one row per student of a guest's ``result.json``."""
    rows = []
    for st in result.get("students", []):
        expected = {k: v for k, v in st["expected"].items()}
        got = st.get("got") or {}
        bad = compare(expected, got)
        exp_total = sum(v for v in expected.values() if v is not None)
        got_total = sum(got.get(k) or 0 for k, v in expected.items() if v is not None)
        eng = st.get("engine") or {}
        cg = st.get("cgroup") or {}
        rows.append([
            st["name"], f"{exp_total:g}", f"{got_total:g}", "✓" if not bad else f"✗ {len(bad)}",
            _short("; ".join(st.get("flags") or []) or "—"), f"{st.get('seconds', 0):.0f}",
            f"v{eng.get('CgroupVersion', '?')}/{eng.get('CgroupDriver', '?')}",
            " ".join(cg.get("controllers", [])) or "?", cg.get("limits", "?"),
            str(cg.get("child_groups", "?")),
        ])
    return rows


TABLE_HEADER = ["student", "expected", "got", "cells", "flags", "wall s", "engine cgroup",
                "slot controllers", "slot limits", "child groups"]


def course_files(root: Path) -> list[str]:
    """The worktree's files the guest needs: tracked and untracked-not-ignored (``git ls-files``)."""
    out = subprocess.run(["git", "-C", str(root), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                         capture_output=True, check=True).stdout
    return sorted(p for p in out.decode().split("\0") if p and (root / p).is_file())


# =========================================================================== host: preparation


def state() -> Path:
    sys.path.insert(0, str(ROOT / "src"))
    from dockercourse import engine

    path = engine.state_dir() / "cgroup-v2-vm"
    path.mkdir(parents=True, exist_ok=True)
    return path


#: The guest's files baked into the image (the rest of cgroup_v2_guest/ comes with the course at each run).
IMAGE_FILES = ("init.sh", "run.sh", "customize.sh", "dc-harness.service")


def guest_files() -> dict[str, bytes]:
    return {name: (GUEST_FILES / name).read_bytes() for name in IMAGE_FILES}


def current_recipe() -> str:
    return recipe_hash(PACKAGES, guest_files(), requirements((ROOT / "pyproject.toml").read_text()))


@dataclasses.dataclass
class Image:
    folder: Path
    disk: Path
    kernel: Path
    initrd: Path
    info: dict


def _uv() -> str:
    for cand in (ROOT / ".venv/bin/uv", Path(sys.executable).parent / "uv"):
        if os.access(cand, os.X_OK):
            return str(cand)
    found = shutil.which("uv")
    if not found:
        raise SystemExit("uv is needed to fill the guest's venv: run `make venv` first")
    return found


def prepare(log=print) -> Image:
    """The cached guest image of the current recipe, built when missing (root)."""
    base = state()
    from dockercourse import hostpkg, vm

    recipe = current_recipe()
    folder = base / f"image-{recipe}"
    marker = folder / "image.json"
    if marker.exists():
        info = json.loads(marker.read_text())
        log(f"guest image {recipe}: cached (built in {info['seconds']:.0f} s)")
        return Image(folder, folder / "disk.img", folder / info["kernel"], folder / info["initrd"], info)
    if os.geteuid() != 0:
        raise SystemExit("preparing the guest image needs root (mmdebstrap --mode=root, chroot)")
    t0 = time.monotonic()
    log(f"guest image {recipe}: building (mmdebstrap {SUITE}, the project's dependencies, kernel, ext4)…")
    for old in base.glob("image-*"):  # one image at a time: the old recipe's is of no use
        shutil.rmtree(old, ignore_errors=True)
    work = base / f"build-{recipe}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    rootdir = work / "root"
    reqs = work / "requirements.txt"
    reqs.write_text("\n".join(requirements((ROOT / "pyproject.toml").read_text())) + "\n")
    uv_cache = Path(os.environ.get("UV_CACHE_DIR") or Path.home() / ".cache" / "uv")
    uv_cache.mkdir(parents=True, exist_ok=True)
    ca = next((p for p in ("/etc/ssl/certs/ca-certificates.crt",) if os.path.exists(p)), "/dev/null")
    tool = hostpkg.bootstrap_tool()
    if Path(tool).name != "mmdebstrap":
        raise SystemExit("the guest image needs mmdebstrap (its customize hook): apt-get install mmdebstrap")
    hook = " ".join(["sh", str(GUEST_FILES / "customize.sh"), '"$1"', _uv(), str(reqs), ca, str(uv_cache),
                     str(GUEST_FILES)])
    cmd = [tool, "--variant=minbase", "--architectures=amd64", f"--include={','.join(PACKAGES)}", "--mode=root",
           f"--customize-hook={hook}", SUITE, str(rootdir), hostpkg.MIRROR]
    t_root = time.monotonic()
    hostpkg.run_logged(cmd, work / "mmdebstrap.log", echo=log)
    t_root = time.monotonic() - t_root
    status = (rootdir / "var/lib/dpkg/status").read_text()
    versions = {}
    for block in status.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line and line[0] != " ")
        if fields.get("Package") in PACKAGES or fields.get("Package", "").startswith("linux-image-6"):
            versions[fields["Package"]] = fields.get("Version", "?")
    kernels = sorted((rootdir / "boot").glob("vmlinuz-*"))
    if not kernels:
        raise SystemExit(f"no kernel in {rootdir}/boot: see {work / 'mmdebstrap.log'}")
    kver = kernels[-1].name.removeprefix("vmlinuz-")
    staging = work / "image"
    staging.mkdir()
    vmlinux = vm.extract_vmlinux(kernels[-1].read_bytes())
    if vmlinux is not None:  # PVH boot of the ELF kernel: no decompression under emulation
        kernel_name = f"vmlinux-{kver}"
        (staging / kernel_name).write_bytes(vmlinux)
    else:
        kernel_name = f"vmlinuz-{kver}"
        shutil.copy(kernels[-1], staging / kernel_name)
    initrd_name = f"initrd.img-{kver}"
    shutil.copy(rootdir / "boot" / initrd_name, staging / initrd_name)
    py = subprocess.run(["chroot", str(rootdir), "/opt/venv/bin/python", "-c",
                         "import sys, nbgrader, docker; print(sys.version.split()[0], nbgrader.__version__, "
                         "docker.__version__)"], capture_output=True, text=True)
    t_disk = time.monotonic()
    disk = staging / "disk.img"
    subprocess.run(["mkfs.ext4", "-q", "-F", "-L", "dcvm", "-E", "lazy_itable_init=1,lazy_journal_init=1",
                    "-d", str(rootdir), str(disk), f"{DISK_GIB}G"], check=True, capture_output=True)
    t_disk = time.monotonic() - t_disk
    used = int(subprocess.run(["du", "-sk", str(rootdir)], capture_output=True, text=True).stdout.split()[0])
    info = {"recipe": recipe, "suite": SUITE, "kernel": kernel_name, "initrd": initrd_name, "kernel_version": kver,
            "packages": versions, "python_nbgrader_docker": py.stdout.strip(), "root_mib": used // 1024,
            "initrd_kib": (staging / initrd_name).stat().st_size // 1024,
            "seconds_root": round(t_root, 1), "seconds_disk": round(t_disk, 1)}
    shutil.rmtree(rootdir)
    staging.rename(folder)
    shutil.move(str(work / "mmdebstrap.log"), folder / "mmdebstrap.log")
    shutil.rmtree(work, ignore_errors=True)
    info["seconds"] = round(time.monotonic() - t0, 1)
    marker.write_text(json.dumps(info, indent=1) + "\n")
    log(f"guest image {recipe}: built in {info['seconds']:.0f} s (root {t_root:.0f} s, ext4 {t_disk:.0f} s; "
        f"kernel {kver}, docker.io {versions.get('docker.io')}, {info['python_nbgrader_docker']})")
    return Image(folder, folder / "disk.img", folder / kernel_name, folder / initrd_name, info)


def base_archive(log=print) -> Path:
    """The host engine's base image as a ``docker save`` archive, cached by image id."""
    sys.path.insert(0, str(ROOT / "src"))
    from dockercourse import engine

    cache = state() / "cache"
    cache.mkdir(exist_ok=True)
    image_id = subprocess.run(["docker", "image", "inspect", "-f", "{{.Id}}", engine.BASE_IMAGE],
                              capture_output=True, text=True)
    if image_id.returncode != 0:
        raise SystemExit(f"{engine.BASE_IMAGE} is missing on the host engine: make kit (or make setup) first")
    path = cache / f"base-{image_id.stdout.strip().split(':')[-1][:16]}.tar"
    if not path.exists():
        for old in cache.glob("base-*.tar"):
            old.unlink()
        log(f"saving {engine.BASE_IMAGE} from the host engine…")
        tmp = path.with_suffix(".part")
        subprocess.run(["docker", "save", "-o", str(tmp), engine.BASE_IMAGE], check=True)
        tmp.rename(path)
    return path


# =========================================================================== host: one boot


_live: set[int] = set()


@atexit.register
def _kill_leftovers() -> None:
    for pgid in list(_live):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
        _live.discard(pgid)


def course_tar(dest: Path) -> int:
    files = course_files(ROOT)
    with tarfile.open(dest, "w") as tar:
        for rel in files:
            tar.add(ROOT / rel, arcname=rel, recursive=False)
    return len(files)


def boot(image: Image, config: str, students: list[str], wall: float, cell: float, timeout: float,
         log=print, time_scale: float = TIME_SCALE) -> tuple[Path, dict | None]:
    """Boot the guest once in ``config``; returns the run's folder and its ``result.json`` (None
    when the guest gave none). qemu is killed on any exit path; its copy-on-write overlay (a
    deleted file in the run's folder) goes with it."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    run = state() / "runs" / f"{stamp}-{config}"
    share = run / "share"
    share.mkdir(parents=True)
    n = course_tar(share / "course.tar")
    (share / "job.json").write_text(json.dumps({"config": config, "students": students, "wall": wall,
                                                "cell_timeout": cell, "time_scale": time_scale}))
    qemu = shutil.which("qemu-system-x86_64")
    if not qemu:
        raise SystemExit("qemu-system-x86_64 is missing: apt-get install qemu-system-x86")
    cmd = qemu_command(qemu, image.kernel, image.initrd, image.disk, share, base_archive(log).parent, config)
    (run / "qemu-command.txt").write_text(" ".join(cmd) + "\n")
    log(f"[{config}] booting ({n} course files; console: {run / 'console.log'})")
    t0 = time.monotonic()
    done_at: list[float] = []
    with open(run / "console.log", "w") as console:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                start_new_session=True, env=dict(os.environ, TMPDIR=str(run)))
        _live.add(proc.pid)

        def reader() -> None:
            for raw in proc.stdout:
                line = raw.decode(errors="replace").rstrip("\r\n")
                console.write(f"{time.monotonic() - t0:8.1f} {line}\n")
                console.flush()
                if "DCVM" in line or "@@" in line or finished_student(line) or "copie(s)" in line:
                    log(f"[{config}] {time.monotonic() - t0:6.0f} s  {line.strip()[:160]}")
                if DONE_MARK in line and not done_at:
                    done_at.append(time.monotonic() - t0)

        thread = threading.Thread(target=reader, daemon=True)
        thread.start()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            log(f"[{config}] no end after {timeout:.0f} s: qemu killed")
        finally:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            _live.discard(proc.pid)
            thread.join(timeout=10)
    total = time.monotonic() - t0
    result = None
    if (share / RESULT).exists():
        result = json.loads((share / RESULT).read_text())
        result["host"] = {"boot_to_done_s": round(done_at[0], 1) if done_at else None, "qemu_s": round(total, 1),
                          "qemu_exit": proc.returncode, "command": cmd}
        (share / RESULT).write_text(json.dumps(result, indent=1, ensure_ascii=False))
    with contextlib.suppress(OSError):
        (share / "course.tar").unlink()
    log(f"[{config}] qemu exited ({proc.returncode}) after {total:.0f} s; outputs in {run}")
    return run, result


def print_report(config: str, result: dict | None, run: Path) -> None:
    from _table import print_table

    print(f"\n== cgroup v2, {config} ({run})")
    if not result:
        print("   the guest returned no result: see console.log and share/guest.log")
        return
    g = result.get("guest", {})
    print(f"   PID 1: {g.get('pid1')}; /run/systemd/system: {g.get('run_systemd_system')}; kernel "
          f"{g.get('kernel')}; /sys/fs/cgroup: {g.get('cgroup_fs')} (controllers: {g.get('root_controllers')})")
    he = g.get("host_engine") or {}
    print(f"   root engine: Docker {he.get('ServerVersion')}, cgroup v{he.get('CgroupVersion')} driver "
          f"{he.get('CgroupDriver')}; the grader runs in {g.get('grader_cgroup')}")
    done = result.get("host", {}).get("boot_to_done_s")
    print(f"   class command: exit {result.get('grade_exit')}, {result.get('grade_s', 0):.0f} s; guest "
          f"preparation {result.get('setup_s', 0):.0f} s; boot to done {done} s")
    print(f"   the checks' fixed limits ×{result.get('time_scale', 1)} (TCG); --wall {result.get('wall')} "
          f"--cell-timeout {result.get('cell_timeout')}")
    print_table(TABLE_HEADER, table_rows(result), left=(0, 3, 4, 6, 7, 8))
    for st in result.get("students", []):
        bad = compare(st["expected"], st.get("got") or {})
        if bad:
            print(f"   {st['name']}: " + "; ".join(bad))
        eng = st.get("engine") or {}
        if eng.get("Warnings"):
            print(f"   {st['name']} engine warnings: " + " | ".join(eng["Warnings"]))


# =========================================================================== guest side


def _sh(cmd: list[str], timeout: float = 900, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _docker_info(host: str | None = None) -> dict:
    cmd = ["docker"] + (["-H", host] if host else []) + ["info", "--format", "{{json .}}"]
    with contextlib.suppress(Exception):
        proc = _sh(cmd, timeout=60)
        if proc.returncode == 0:
            info = json.loads(proc.stdout)
            keep = ("ServerVersion", "CgroupDriver", "CgroupVersion", "MemoryLimit", "SwapLimit", "PidsLimit",
                    "CpuCfsQuota", "CpuCfsPeriod", "CPUShares", "KernelMemory", "OomKillDisable", "SecurityOptions",
                    "Warnings", "Driver")
            return {k: info.get(k) for k in keep} if info.get("ServerVersion") else {}
    return {}


class SandboxPoller(threading.Thread):
    """Reads slot 0's cgroup and engine while the class command runs: one session per engine
    started (by its pid file)."""

    def __init__(self):
        super().__init__(daemon=True)
        self.stop = threading.Event()
        self.sessions: list[dict] = []
        self.t0 = time.monotonic()

    def run(self) -> None:
        current: dict | None = None
        slot = GUEST_SANDBOX_ROOT / "slots" / "0"
        while not self.stop.is_set():
            pid = _read(slot / "run" / "docker.pid")
            if pid and (current is None or current["engine_pid"] != pid):
                current = {"engine_pid": pid, "first_seen": time.monotonic() - self.t0, "cgroup": {}, "engine": {},
                           "groups": set(), "memory_peak_mib": None}
                self.sessions.append(current)
            if current is not None:
                self._sample(current, slot)
            self.stop.wait(1.0)

    @staticmethod
    def _sample(s: dict, slot: Path) -> None:
        cg = SLOT_CGROUP
        if cg.is_dir():
            if not s["cgroup"]:
                st = cg.stat()
                s["cgroup"] = {
                    "path": str(cg), "owner_uid": st.st_uid,
                    "controllers": (_read(cg / "cgroup.controllers") or "").split(),
                    "subtree_control": (_read(cg / "cgroup.subtree_control") or "").split(),
                    "parent_subtree_control": (_read(cg.parent / "cgroup.subtree_control") or "").split(),
                    "memory.max": _read(cg / "memory.max"), "memory.swap.max": _read(cg / "memory.swap.max"),
                    "pids.max": _read(cg / "pids.max"), "cpu.max": _read(cg / "cpu.max"),
                }
            with contextlib.suppress(OSError):
                s["groups"] |= {str(p.relative_to(cg)) for p in cg.rglob("*") if p.is_dir()}
            with contextlib.suppress(OSError, ValueError):
                peak = int((cg / "memory.peak").read_text()) / 2**20
                s["memory_peak_mib"] = max(peak, s["memory_peak_mib"] or 0)
            for line in (_read(cg / "memory.events") or "").splitlines():
                k, _, v = line.partition(" ")
                if k in ("oom", "oom_kill", "max"):
                    s["cgroup"][f"memory.events.{k}"] = int(v)
            for line in (_read(cg / "pids.events") or "").splitlines():
                k, _, v = line.partition(" ")
                if k == "max":
                    s["cgroup"]["pids.events.max"] = int(v)
        sock = slot / "run" / "docker.sock"
        if not (s["engine"] or {}).get("ServerVersion") and sock.exists():
            s["engine"] = _docker_info(f"unix://{sock}")
        with contextlib.suppress(OSError):
            text = (slot / "home" / "dockerd.log").read_text(errors="replace")
            if text.strip():
                s["dockerd_log_tail"] = text[-3000:]


def _guest_facts() -> dict:
    cg = Path("/sys/fs/cgroup")
    fs = _sh(["stat", "-f", "-c", "%T", str(cg)]).stdout.strip()
    return {
        "pid1": _read(Path("/proc/1/comm")), "run_systemd_system": Path("/run/systemd/system").is_dir(),
        "kernel": os.uname().release, "cmdline": _read(Path("/proc/cmdline")), "cgroup_fs": fs,
        "root_controllers": _read(cg / "cgroup.controllers"),
        "root_subtree_control": _read(cg / "cgroup.subtree_control"),
        "grader_cgroup": (_read(Path("/proc/self/cgroup")) or "").split("::")[-1],
        "mounts_cgroup": [ln for ln in (_read(Path("/proc/self/mounts")) or "").splitlines() if "cgroup" in ln],
        "cpus": os.cpu_count(), "mem_total_kib": int(re.search(r"MemTotal:\s+(\d+)", _read(Path("/proc/meminfo"))
                                                              or "MemTotal: 0")[1]),
    }


def _make_course(dest: Path, students: list[str], env: dict) -> None:
    """As an instructor does: the source, ``nbgrader generate_assignment``, then collected
    submissions (the corpus's notebooks)."""
    import nbformat

    from tests.utils.corpus import COURSE_PLACEHOLDER, NB, STUDENTS

    dest.mkdir(parents=True)
    shutil.copy(GUEST_COURSE / "nbgrader_config.py", dest)
    shutil.copytree(GUEST_COURSE / "source" / AID, dest / "source" / AID)
    proc = _sh(["nbgrader", "generate_assignment", AID, "--force"], cwd=dest, env=env)
    if proc.returncode != 0:
        raise RuntimeError("nbgrader generate_assignment failed:\n" + (proc.stdout + proc.stderr)[-2000:])
    for i, name in enumerate(students):
        folder = dest / "submitted" / name / AID
        folder.mkdir(parents=True)
        text = nbformat.writes(STUDENTS[name].build()).replace(COURSE_PLACEHOLDER, str(dest.resolve()))
        (folder / NB).write_text(text)
        (folder / "timestamp.txt").write_text(f"2026-11-2{i % 8} 10:{i:02d}:00.000000 UTC")


def _gradebook(course: Path) -> dict[str, dict]:
    from tests.utils.corpus import gradebook_cells

    return gradebook_cells(course, AID)


def _mark_current_engine_root() -> dict:
    """The sandboxes run the current engine's root; here it is the guest's own root (same trixie
    packages), marked as :mod:`dockercourse.currentengine` marks the root it builds."""
    from dockercourse.currentengine import PACKAGES as CE_PACKAGES
    from dockercourse.currentengine import CurrentEngine, dpkg_versions

    ce = CurrentEngine()
    ce.suite_dir.mkdir(parents=True, exist_ok=True)
    if not ce.root.is_symlink():
        ce.root.symlink_to("/")
    versions = dpkg_versions(Path("/var/lib/dpkg/status").read_text(), CE_PACKAGES)
    ce.marker.write_text(json.dumps({"recipe": ce.recipe(), "suite": ce.suite, "tool": "the guest's own root",
                                     "packages": versions}, indent=1))
    return versions


def install_time_scale(scale: float) -> None:
    """In the guest's venv: :mod:`dcvm_timescale` and the ``.pth`` line that imports it."""
    import sysconfig

    site = Path(sysconfig.get_path("purelib"))
    Path("/etc/dcvm-timescale").write_text(f"{scale}\n")
    if scale > 1.0:
        shutil.copy(GUEST_COURSE / "benchmarks" / "cgroup_v2_guest" / "dcvm_timescale.py", site)
        (site / "dcvm-timescale.pth").write_text("import dcvm_timescale\n")


def guest(share: Path, config: str) -> int:
    """Inside the VM (cgroup_v2_guest/run.sh): set a course up, grade it, write ``result.json``."""
    sys.path.insert(0, str(GUEST_COURSE))
    job = json.loads((share / "job.json").read_text())
    students = job["students"]
    env = dict(os.environ, PATH=f"/opt/venv/bin:{os.environ.get('PATH', '/usr/sbin:/usr/bin:/sbin:/bin')}")
    result: dict = {"config": config, "students": [], "steps": {}, "time_scale": job.get("time_scale", 1.0)}
    t0 = time.monotonic()
    install_time_scale(float(job.get("time_scale", 1.0)))

    def step(name: str, cmd: list[str], **kw) -> subprocess.CompletedProcess:
        t = time.monotonic()
        proc = _sh(cmd, env=env, **kw)
        result["steps"][name] = {"exit": proc.returncode, "s": round(time.monotonic() - t, 1),
                                 "tail": (proc.stdout + proc.stderr)[-1500:]}
        print(f"DCVM: {name}: exit {proc.returncode} in {time.monotonic() - t:.0f} s", flush=True)
        return proc

    try:
        result["guest"] = _guest_facts()
        print(f"DCVM: PID 1 {result['guest']['pid1']}, /run/systemd/system "
              f"{result['guest']['run_systemd_system']}, cgroup fs {result['guest']['cgroup_fs']}", flush=True)
        step("engine", [sys.executable, "-m", "dockercourse", "engine"])
        tars = sorted(GUEST_CACHE.glob("base-*.tar"))
        step("base image", [sys.executable, "-m", "dockercourse", "offline", "--from-tar", str(tars[-1])])
        result["guest"]["host_engine"] = _docker_info()
        result["current_engine_root"] = _mark_current_engine_root()
        course = Path("/srv/cours")
        shutil.rmtree(course, ignore_errors=True)
        t = time.monotonic()
        _make_course(course, students, env)
        result["steps"]["course"] = {"s": round(time.monotonic() - t, 1)}
        print(f"DCVM: course ready in {time.monotonic() - t:.0f} s", flush=True)
        result["setup_s"] = round(time.monotonic() - t0, 1)

        poller = SandboxPoller()
        poller.start()
        cmd = [sys.executable, "-m", "dockercourse", "grade", AID, "--course", str(course), "--jobs", "1",
               "--json", str(course / "summary.json"), "--wall", str(job["wall"]),
               "--cell-timeout", str(job["cell_timeout"])]
        result["grade_command"] = cmd
        result["wall"], result["cell_timeout"] = job["wall"], job["cell_timeout"]
        finished: list[tuple[float, str]] = []
        t = time.monotonic()
        with open(share / "grade.out", "w") as out:
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                                    cwd=str(course))
            for line in proc.stdout:
                out.write(line)
                out.flush()
                print(line.rstrip("\n"), flush=True)
                who = finished_student(line)
                if who:
                    finished.append((time.monotonic() - poller.t0, who))
            proc.wait()
        result["grade_exit"] = proc.returncode
        result["grade_s"] = round(time.monotonic() - t, 1)
        poller.stop.set()
        poller.join(timeout=10)
        sessions = [dict(s, groups=sorted(s["groups"])) for s in poller.sessions]
        result["sessions"] = sessions
        by_student = assign_sessions(sessions, finished)
        summary = {r["student"]: r for r in json.loads((course / "summary.json").read_text())} \
            if (course / "summary.json").exists() else {}
        book = _gradebook(course) if (course / "gradebook.db").exists() else {}
        records = course / ".dockercourse-grading" / AID
        if records.is_dir():
            shutil.copytree(records, share / "records", dirs_exist_ok=True)
        if summary:
            shutil.copy(course / "summary.json", share / "summary.json")
        from tests.utils.corpus import STUDENTS

        for name in students:
            row = summary.get(name, {})
            sess = by_student.get(name) or [{}]
            s = sess[-1]
            cg = s.get("cgroup") or {}
            groups = s.get("groups") or []
            limits = (f"mem {_human(cg.get('memory.max'))} swap {_human(cg.get('memory.swap.max'))} "
                      f"pids {cg.get('pids.max')} cpu {cg.get('cpu.max')}")
            result["students"].append({
                "name": name, "expected": STUDENTS[name].expected, "corpus_flagged": STUDENTS[name].flagged,
                "got": (book.get(name) or {}).get("cells"), "gradebook_flagged": (book.get(name) or {}).get("flagged"),
                "score": row.get("score"), "max": row.get("max"), "status": row.get("status"),
                "flags": row.get("flags"), "error": row.get("error"), "seconds": row.get("seconds", 0),
                "phases": row.get("phases"), "engine": s.get("engine"), "redo": row.get("redo"),
                "dockerd_log_tail": s.get("dockerd_log_tail"),
                "cgroup": {**cg, "limits": limits, "child_groups": len(groups), "groups": groups[:40],
                           "memory_peak_mib": s.get("memory_peak_mib")},
            })
    except Exception as err:  # the host must still get what was measured
        import traceback

        result["error"] = f"{type(err).__name__}: {err}"
        result["traceback"] = traceback.format_exc()[-4000:]
        print(f"DCVM: error {result['error']}", flush=True)
    result["guest_s"] = round(time.monotonic() - t0, 1)
    (share / RESULT).write_text(json.dumps(result, indent=1, ensure_ascii=False, default=str))
    return 0 if "error" not in result else 1


def _human(value: str | None) -> str:
    if value is None:
        return "?"
    if value.isdigit():
        n = int(value)
        return f"{n / 2**30:g}G" if n >= 2**30 else f"{n / 2**20:g}M"
    return value


# =========================================================================== command line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd")
    g = sub.add_parser("guest", help="(inside the VM) set up a course, grade it, write result.json")
    g.add_argument("--config", required=True)
    g.add_argument("--share", required=True)
    r = sub.add_parser("report", help="print the table of a run folder again")
    r.add_argument("run", nargs="+")
    parser.add_argument("--config", choices=(*CONFIGS, "both"), default="both")
    parser.add_argument("--student", action="append", default=None,
                        help=f"a corpus student (repeatable; default: {' '.join(DEFAULT_STUDENTS)})")
    parser.add_argument("--wall", type=float, default=GUEST_WALL_S)
    parser.add_argument("--cell-timeout", type=float, default=GUEST_CELL_S)
    parser.add_argument("--time-scale", type=float, default=TIME_SCALE,
                        help="multiply the checks' fixed limits in the guest by this (1: as on a real host)")
    parser.add_argument("--timeout", type=float, default=BOOT_TIMEOUT_S, help="per boot, seconds")
    parser.add_argument("--prepare-only", action="store_true")
    args = parser.parse_args(argv)
    if args.cmd == "guest":
        return guest(Path(args.share), args.config)
    if args.cmd == "report":
        for folder in args.run:
            path = Path(folder) / "share" / RESULT
            res = json.loads(path.read_text()) if path.exists() else None
            print_report((res or {}).get("config", "?"), res, Path(folder))
        return 0

    def log(msg: str) -> None:
        print(f"{time.strftime('%H:%M:%S')} {msg}", flush=True)

    t0 = time.monotonic()
    image = prepare(log)
    base_archive(log)
    log(f"preparation: {time.monotonic() - t0:.1f} s")
    if args.prepare_only:
        return 0
    ok = True
    runs = []
    for config in (CONFIGS if args.config == "both" else (args.config,)):
        run, result = boot(image, config, args.student or list(DEFAULT_STUDENTS), args.wall, args.cell_timeout,
                           args.timeout, log, args.time_scale)
        runs.append((config, result, run))
        ok = ok and bool(result) and "error" not in result and all(
            not compare(s["expected"], s.get("got") or {}) for s in result.get("students", []))
    for config, result, run in runs:
        print_report(config, result, run)
    leftover = [p for p in _qemu_pids() if p in _live]
    if leftover:
        print(f"qemu still running: {leftover}", file=sys.stderr)
    return 0 if ok else 1


def _qemu_pids() -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit() and (_read(d / "comm") or "").startswith("qemu-system"):
            out.append(int(d.name))
    return out


if __name__ == "__main__":
    sys.path[:0] = [str(HERE), str(ROOT)]  # _table; tests.utils.corpus (the expected scores)
    sys.exit(main())
