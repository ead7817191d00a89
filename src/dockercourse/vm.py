"""A real, tiny virtual machine next to a container: QEMU + a Debian kernel + busybox.

What the lesson needs is a *real* VM boot that a notebook can time: a hypervisor
(QEMU), a guest kernel of its own (Debian's stock ``linux-image-*-amd64``) and a
minimal userspace (a static busybox in an initramfs whose ``/init`` prints a
marker, the guest's ``uname -r`` and memory, then powers off).

- :func:`ensure_artifacts` installs QEMU with apt when it is missing and we are
  root on Debian/Ubuntu, fetches the kernel and busybox with ``apt-get download``
  (nothing is installed into the host's ``/boot``), builds the initramfs in pure
  Python (cpio ``newc`` + gzip) and caches everything in ``state_dir()/vm``.
  Where that is impossible it raises :class:`VMUnavailable` with a French sentence.
- :func:`choose_accel` uses KVM only when it really works (``/dev/kvm`` usable,
  not the ``kvm_pvm`` flavour that needs a special guest kernel, and a short probe
  boot succeeds); otherwise software emulation (TCG).
- :func:`boot` is bounded: a timeout, qemu in its own process group, killed on
  any exit path (and at interpreter exit), peak RSS read from ``wait4``.
"""

from __future__ import annotations

import atexit
import functools
import gzip
import io
import lzma
import os
import platform
import re
import shutil
import signal
import subprocess
import tarfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import engine, hostpkg
from .errors import DockercourseError
from .waiting import wait_until

QEMU = "qemu-system-x86_64"
QEMU_PACKAGE = "qemu-system-x86"
BUSYBOX_PACKAGE = "busybox-static"
KERNEL_META_PACKAGE = "linux-image-amd64"
READY_MARKER = "DOCKERCOURSE_VM_READY"
UNAME_MARKER = "DOCKERCOURSE_VM_UNAME="
MEM_MARKER = "DOCKERCOURSE_VM_MEM"
#: Bump when the initramfs recipe changes (the cached file name carries it).
INITRAMFS_VERSION = "2"
DEFAULT_MEMORY_MB = 256
DEFAULT_TIMEOUT = 90.0
#: A KVM probe that has not reached the marker by then is a failed probe.
KVM_PROBE_TIMEOUT = 20.0
XZ_MAGIC = b"\xfd7zXZ\x00"

#: PID 1 of the guest (``data/vm_init.sh``): prints the markers above, then powers off. Notebook 01
#: shows it as it is (no comment in it: the students read it line by line); its ``@READY@``-style
#: names are replaced by the markers in :func:`init_script`.
INIT_SCRIPT = "vm_init.sh"


def init_script() -> bytes:
    """The guest's ``/init``, with this module's markers in place."""
    from importlib import resources

    text = resources.files("dockercourse").joinpath("data", INIT_SCRIPT).read_text()
    for key, marker in (("@READY@", READY_MARKER), ("@UNAME@", UNAME_MARKER), ("@MEM@", MEM_MARKER)):
        text = text.replace(key, marker)
    return text.encode()

_live: set[int] = set()  # process groups of qemu still running (killed at exit)


class VMUnavailable(DockercourseError, RuntimeError):
    """QEMU cannot run here; the message is one French sentence for students."""


class VMBootError(DockercourseError, RuntimeError):
    """QEMU ran but the guest did not reach the marker (timeout, crash). ``pgid`` is the process
    group qemu was started in (already killed and reaped)."""

    def __init__(self, message: str, pgid: int | None = None):
        super().__init__(message)
        self.pgid = pgid


# --------------------------------------------------------------------------- artefacts


def cache_dir() -> Path:
    path = engine.state_dir() / "vm"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def unavailable_reason() -> str | None:
    """Why QEMU cannot be used here (a French sentence), or ``None`` when it can
    (already installed, or installable: root on Debian/Ubuntu x86-64)."""
    if platform.system() != "Linux":
        return ("Cette machine n'est pas un Linux (macOS, Windows) : le notebook ne démarre pas de VM "
                "QEMU ici et montre à la place des mesures de référence.")
    if platform.machine() not in ("x86_64", "AMD64"):
        return (f"Processeur {platform.machine()} : la VM du cours est prévue pour x86-64, "
                "voici des mesures de référence à la place.")
    need_install = shutil.which(QEMU) is None and not (_is_root() and hostpkg.debian_like())
    need_fetch = (_cached_kernel() is None or _cached_busybox() is None) and shutil.which("apt-get") is None
    if not (need_install or need_fetch):
        return None
    if engine.on_binder() or engine.in_container():
        return ("Ce notebook tourne lui-même dans un conteneur (Binder ou image du cours) sans QEMU ni moyen "
                "de l'installer : voici des mesures de référence faites sur une vraie machine.")
    if need_install:
        return ("QEMU n'est pas installé et ne peut pas l'être ici (il faut être root sous Debian/Ubuntu : "
                "apt-get install qemu-system-x86) : voici des mesures de référence à la place.")
    return ("Impossible de récupérer un noyau Debian sans apt-get : voici des mesures de référence "
            "à la place.")


def _apt(args: list[str], cwd: Path | None = None, timeout: float = 600) -> str:
    try:
        return hostpkg.apt_run(args, cwd=cwd, timeout=timeout)
    except hostpkg.PackageError as err:
        raise VMUnavailable(f"La commande « apt-get {' '.join(args)} » a échoué : voici des mesures de "
                            f"référence à la place.\n{err}") from None


def _ensure_apt_lists(package: str) -> None:
    if not hostpkg.has_candidate(package) and _is_root():
        _apt(["update"])


def ensure_qemu(log=print) -> str:
    """Path of ``qemu-system-x86_64``; installs ``qemu-system-x86`` with apt
    (no recommends) when missing and allowed. Raises :class:`VMUnavailable`."""
    exe = shutil.which(QEMU)
    if exe:
        return exe
    reason = unavailable_reason()
    if reason:
        raise VMUnavailable(reason)
    log("Installation de QEMU (apt-get install qemu-system-x86), une seule fois…")
    _ensure_apt_lists(QEMU_PACKAGE)
    _apt(["install", "-y", "--no-install-recommends", QEMU_PACKAGE])
    exe = shutil.which(QEMU)
    if not exe:
        raise VMUnavailable("QEMU reste introuvable après son installation : voici des mesures de référence.")
    return exe


def kernel_package_name() -> str:
    """The versioned kernel package ``linux-image-amd64`` points to (e.g. ``linux-image-6.1.0-56-amd64``)."""
    _ensure_apt_lists(KERNEL_META_PACKAGE)
    out = subprocess.run(["apt-cache", "depends", KERNEL_META_PACKAGE], capture_output=True, text=True).stdout
    m = re.search(r"Depends:\s*(linux-image-[0-9][^\s]*-amd64)", out)
    if not m:
        raise VMUnavailable("Impossible de trouver le paquet du noyau Debian (linux-image-amd64) : "
                            "voici des mesures de référence à la place.")
    return m.group(1)


def _download_member(package: str, pattern: str, dest: Path) -> Path:
    """``apt-get download`` a package into the cache and extract the one file
    whose path matches ``pattern`` (regex on the tar member name) to ``dest``."""
    import tempfile

    work = Path(tempfile.mkdtemp(prefix="download-", dir=cache_dir()))
    found = None
    try:
        _apt(["download", package], cwd=work)
        debs = sorted(work.glob("*.deb"))
        if not debs:
            raise VMUnavailable(f"apt-get download {package} n'a rien téléchargé : voici des mesures de référence.")
        proc = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(debs[0])], stdout=subprocess.PIPE)
        try:
            with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
                for member in tar:
                    if member.isfile() and re.fullmatch(pattern, member.name):
                        tmp = work / dest.name
                        with open(tmp, "wb") as f:
                            shutil.copyfileobj(tar.extractfile(member), f)
                        tmp.chmod(0o755 if "bin" in pattern else 0o644)
                        tmp.replace(dest)  # atomic: a concurrent reader sees all or nothing
                        found = dest
                        break
        finally:
            proc.stdout.close()
            proc.kill()
            proc.wait()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if found is None:
        raise VMUnavailable(f"Fichier introuvable dans le paquet {package} : voici des mesures de référence.")
    return found


def _cached_kernel() -> Path | None:
    found = sorted(cache_dir().glob("vmlinuz-*"))
    return found[-1] if found else None


def _cached_busybox() -> Path | None:
    p = cache_dir() / "busybox"
    return p if p.exists() else None


def fetch_kernel(log=print) -> Path:
    """Debian's stock kernel image (bzImage ``vmlinuz-*``), cached."""
    cached = _cached_kernel()
    if cached:
        return cached
    reason = unavailable_reason()
    if reason:
        raise VMUnavailable(reason)
    pkg = kernel_package_name()
    version = pkg.removeprefix("linux-image-")
    log(f"Téléchargement du noyau Debian ({pkg}), une seule fois…")
    return _download_member(pkg, r"\./boot/vmlinuz-.*", cache_dir() / f"vmlinuz-{version}")


def extract_vmlinux(bzimage: bytes) -> bytes | None:
    """The uncompressed ELF kernel inside a bzImage whose payload is xz-compressed
    (Debian's), or ``None``. QEMU boots an ELF ``vmlinux`` through PVH, which
    skips the in-guest decompression: much faster under emulation."""
    start = 0
    while True:
        idx = bzimage.find(XZ_MAGIC, start)
        if idx < 0:
            return None
        try:
            data = lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(bzimage[idx:])
        except lzma.LZMAError:
            data = b""
        if data.startswith(b"\x7fELF"):
            return data
        start = idx + 1


def kernel_image(fast: bool = True, log=print) -> tuple[Path, str]:
    """``(path, kind)``: the uncompressed ``vmlinux`` (kind ``"vmlinux"``) when
    ``fast`` and it can be extracted, else the ``vmlinuz`` bzImage."""
    vmlinuz = fetch_kernel(log=log)
    if not fast:
        return vmlinuz, "vmlinuz"
    vmlinux = vmlinuz.with_name(vmlinuz.name.replace("vmlinuz-", "vmlinux-"))
    if not vmlinux.exists():
        data = extract_vmlinux(vmlinuz.read_bytes())
        if data is None:
            return vmlinuz, "vmlinuz"
        tmp = vmlinux.with_name(f"{vmlinux.name}.part{os.getpid()}")
        tmp.write_bytes(data)
        tmp.replace(vmlinux)
    return vmlinux, "vmlinux"


def fetch_busybox(log=print) -> Path:
    """A static busybox binary (from Debian's ``busybox-static``), cached."""
    cached = _cached_busybox()
    if cached:
        return cached
    reason = unavailable_reason()
    if reason:
        raise VMUnavailable(reason)
    _ensure_apt_lists(BUSYBOX_PACKAGE)
    log("Téléchargement de busybox (busybox-static), une seule fois…")
    return _download_member(BUSYBOX_PACKAGE, r"\./bin/busybox", cache_dir() / "busybox")


def cpio_newc(entries: list[tuple[str, int, bytes, tuple[int, int]]]) -> bytes:
    """A cpio archive in the ``newc`` format the kernel unpacks as initramfs.

    ``entries``: ``(name, mode, data, (rdev_major, rdev_minor))``; the mode
    includes the file type bits (``0o100755`` file, ``0o40755`` dir, ``0o20600``
    char device, ``0o120777`` symlink whose data is the target)."""
    out = io.BytesIO()

    def pad(n: int) -> None:
        out.write(b"\0" * ((4 - n % 4) % 4))

    def header(ino: int, name: str, mode: int, data: bytes, rdev: tuple[int, int]) -> None:
        raw_name = name.encode() + b"\0"
        nlink = 2 if mode & 0o170000 == 0o040000 else 1
        fields = [ino, mode, 0, 0, nlink, 0, len(data), 0, 0, rdev[0], rdev[1], len(raw_name), 0]
        head = b"070701" + b"".join(f"{v:08X}".encode() for v in fields)
        out.write(head + raw_name)
        pad(len(head) + len(raw_name))
        out.write(data)
        pad(len(data))

    for ino, (name, mode, data, rdev) in enumerate(entries, start=1):
        header(ino, name, mode, data, rdev)
    header(0, "TRAILER!!!", 0, b"", (0, 0))
    return out.getvalue()


def build_initramfs(busybox: Path, dest: Path) -> Path:
    """Pack busybox + ``/init`` into a gzipped newc cpio (no root, no cpio tool)."""
    entries = [
        (".", 0o40755, b"", (0, 0)),
        ("bin", 0o40755, b"", (0, 0)),
        ("bin/busybox", 0o100755, busybox.read_bytes(), (0, 0)),
        ("dev", 0o40755, b"", (0, 0)),
        ("dev/console", 0o20600, b"", (5, 1)),
        ("proc", 0o40755, b"", (0, 0)),
        ("sys", 0o40755, b"", (0, 0)),
        ("init", 0o100755, init_script(), (0, 0)),
    ]
    tmp = dest.with_name(f"{dest.name}.part{os.getpid()}")
    tmp.write_bytes(gzip.compress(cpio_newc(entries), compresslevel=6, mtime=0))
    tmp.replace(dest)
    return dest


def initramfs(log=print) -> Path:
    dest = cache_dir() / f"initramfs-v{INITRAMFS_VERSION}.cpio.gz"
    if not dest.exists():
        build_initramfs(fetch_busybox(log=log), dest)
    return dest


@dataclass
class Artifacts:
    qemu: str
    kernel: Path
    kernel_kind: str
    initramfs: Path


def ensure_artifacts(fast_kernel: bool = True, log=print) -> Artifacts:
    """QEMU, kernel and initramfs, installed/fetched/built once and cached."""
    qemu = ensure_qemu(log=log)
    kernel, kind = kernel_image(fast=fast_kernel, log=log)
    return Artifacts(qemu=qemu, kernel=kernel, kernel_kind=kind, initramfs=initramfs(log=log))


# --------------------------------------------------------------------------- accelerator


def kvm_static_check() -> str | None:
    """Why KVM certainly cannot run a stock kernel here (French), or ``None``
    when it may: then only a real probe boot tells."""
    dev = Path("/dev/kvm")
    if not dev.exists():
        return "pas de /dev/kvm (pas de virtualisation matérielle exposée à cette machine)"
    if not os.access(dev, os.R_OK | os.W_OK):
        return "/dev/kvm existe mais vous n'avez pas le droit de l'utiliser (groupe kvm)"
    if Path("/sys/module/kvm_pvm").exists():
        return ("/dev/kvm existe, mais il est fourni par une virtualisation « paravirtuelle » (PVM) qui "
                "exige un noyau invité spécialement compilé : un noyau Debian standard ne peut pas y démarrer")
    return None


@functools.lru_cache(maxsize=1)
def choose_accel() -> tuple[str, str]:
    """``(accel, why)``: ``"kvm"`` when a probe boot under KVM reaches the
    marker, else ``"tcg"``; ``why`` is a French explanation.

    ``DOCKERCOURSE_VM_ACCEL=tcg|kvm`` forces the choice."""
    forced = os.environ.get("DOCKERCOURSE_VM_ACCEL", "").strip().lower()
    if forced in ("tcg", "kvm"):
        return forced, f"accélérateur imposé par DOCKERCOURSE_VM_ACCEL={forced}"
    reason = kvm_static_check()
    if reason:
        return "tcg", reason
    try:
        boot(accel="kvm", timeout=KVM_PROBE_TIMEOUT)
    except (VMBootError, VMUnavailable) as err:
        return "tcg", f"l'essai de démarrage sous KVM a échoué ({err})"
    return "kvm", "KVM fonctionne : le processeur exécute directement le code de la VM (virtualisation matérielle)"


ACCEL_MEANING = {
    "kvm": ("KVM : virtualisation matérielle, le processeur exécute le code de l'invité presque à pleine "
            "vitesse ; c'est la situation normale d'une VM de production."),
    "tcg": ("TCG : émulation logicielle, QEMU traduit chaque instruction de l'invité ; c'est bien une vraie "
            "VM (son propre noyau), mais bien plus lente qu'avec KVM : les temps de démarrage mesurés ici "
            "sont ceux d'une émulation, pas d'un hyperviseur matériel."),
}


# --------------------------------------------------------------------------- boot


@dataclass
class BootResult:
    accel: str
    kernel_kind: str
    launch_to_ready_s: float
    total_s: float
    guest_uptime_s: float | None
    guest_kernel: str | None
    guest_mem_total_kib: int | None
    guest_mem_available_kib: int | None
    qemu_peak_rss_kib: int
    qemu_rss_at_ready_kib: int | None
    exit_code: int
    console: list[str] = field(default_factory=list, repr=False)
    pgid: int = 0  # the process group (and session) qemu ran in: empty once boot() returns

    @property
    def guest_mem_used_kib(self) -> int | None:
        if self.guest_mem_total_kib is None or self.guest_mem_available_kib is None:
            return None
        return self.guest_mem_total_kib - self.guest_mem_available_kib


def parse_console(lines: list[str]) -> dict[str, object]:
    """Pure: the guest's reports in its console output (uptime, uname, memory)."""
    out: dict[str, object] = {"uptime": None, "uname": None, "mem_total_kib": None, "mem_available_kib": None}
    for line in lines:
        if READY_MARKER in line:
            m = re.search(READY_MARKER + r" uptime=([0-9.]+)", line)
            out["uptime"] = float(m.group(1)) if m else None
        if UNAME_MARKER in line:
            m = re.search(re.escape(UNAME_MARKER) + r"(\S+)", line)
            out["uname"] = m.group(1) if m else None
        if MEM_MARKER in line:
            t = re.search(r"total_kb=(\d+)", line)
            a = re.search(r"available_kb=(\d+)", line)
            out["mem_total_kib"] = int(t.group(1)) if t else None
            out["mem_available_kib"] = int(a.group(1)) if a else None
    return out


def qemu_command(art: Artifacts, accel: str, memory_mb: int = DEFAULT_MEMORY_MB) -> list[str]:
    cmd = [art.qemu, "-accel", accel, "-m", str(memory_mb), "-nographic", "-no-reboot", "-nic", "none",
           "-kernel", str(art.kernel), "-initrd", str(art.initramfs),
           "-append", "console=ttyS0 quiet panic=-1"]
    if accel == "kvm":
        cmd[1:1] = ["-cpu", "host"]
    return cmd


def _rss_kib(pid: int) -> int | None:
    try:
        m = re.search(r"^VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text(), re.M)
    except OSError:
        return None
    return int(m.group(1)) if m else None


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


@atexit.register
def _kill_leftovers() -> None:
    for pgid in list(_live):
        _kill_group(pgid)
        _live.discard(pgid)


def boot(accel: str | None = None, memory_mb: int = DEFAULT_MEMORY_MB, timeout: float = DEFAULT_TIMEOUT,
         artifacts: Artifacts | None = None) -> BootResult:
    """Boot the VM once and time it: launch of qemu → the guest's ``/init``
    prints its marker (ready), and launch → qemu exited (after ``poweroff``).

    Never leaves qemu behind: on timeout, error or interrupt its process group
    is killed. Raises :class:`VMBootError` when the marker does not come."""
    art = artifacts or ensure_artifacts()
    accel = accel or choose_accel()[0]
    cmd = qemu_command(art, accel, memory_mb)
    lines: list[str] = []
    ready_at: list[float] = []
    rss_at_ready: list[int | None] = []

    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    _live.add(proc.pid)

    def reader() -> None:
        for raw in proc.stdout:
            line = raw.decode(errors="replace").rstrip("\r\n")
            if not ready_at and READY_MARKER in line:
                ready_at.append(time.perf_counter())
                rss_at_ready.append(_rss_kib(proc.pid))
            lines.append(line)

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    status = rusage = None
    try:
        def reaped():
            pid, st, ru = os.wait4(proc.pid, os.WNOHANG)
            return (st, ru) if pid else None

        done, _ = wait_until(reaped, max(0.0, t0 + timeout - time.perf_counter()), interval=0.01)
        if done:
            status, rusage = done
        ended = time.perf_counter()
    finally:
        if status is None:  # timeout or interrupt: kill the whole group, reap it
            _kill_group(proc.pid)
            try:
                _, status, rusage = os.wait4(proc.pid, 0)
            except ChildProcessError:
                pass
        _live.discard(proc.pid)
        proc.returncode = os.waitstatus_to_exitcode(status) if status is not None else -9
        thread.join(timeout=5)
        proc.stdout.close()
    if not ready_at:
        tail = " | ".join(line for line in lines[-4:] if line.strip())
        if ended - t0 > timeout:
            raise VMBootError(f"pas de démarrage en {timeout:.0f} s avec {accel}" + (f" : {tail}" if tail else ""),
                              pgid=proc.pid)
        raise VMBootError(f"qemu s'est arrêté (code {proc.returncode}) sans que la VM démarre"
                          + (f" : {tail}" if tail else ""), pgid=proc.pid)
    info = parse_console(lines)
    return BootResult(
        accel=accel,
        kernel_kind=art.kernel_kind,
        launch_to_ready_s=ready_at[0] - t0,
        total_s=ended - t0,
        guest_uptime_s=info["uptime"],
        guest_kernel=info["uname"],
        guest_mem_total_kib=info["mem_total_kib"],
        guest_mem_available_kib=info["mem_available_kib"],
        qemu_peak_rss_kib=rusage.ru_maxrss if rusage is not None else 0,
        qemu_rss_at_ready_kib=rss_at_ready[0] if rss_at_ready else None,
        exit_code=proc.returncode,
        console=lines,
        pgid=proc.pid,
    )


_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Za-z0-9]|\x1bc")


def clean_console(lines: list[str]) -> list[str]:
    """Pure: console lines without terminal escape sequences and blank lines."""
    out = []
    for line in lines:
        line = _ANSI.sub("", line).replace("\r", "").strip()
        if line:
            out.append(line)
    return out


def command_line(accel: str | None = None, artifacts: Artifacts | None = None) -> str:
    """The qemu command :func:`boot` runs, with file names instead of full paths."""
    import shlex

    art = artifacts or ensure_artifacts()
    cmd = qemu_command(art, accel or choose_accel()[0])
    short = [Path(a).name if a.startswith("/") else a for a in cmd]
    return " ".join(shlex.quote(a) for a in short)


def explain() -> None:
    """Print, in French, whether a VM can run here and which accelerator it uses, and why."""
    reason = unavailable_reason()
    if reason:
        print(reason)
        return
    accel, why = choose_accel()
    print(f"Accélérateur choisi : {accel.upper()} — {why}.")
    print(ACCEL_MEANING[accel])


def qemu_processes(pgid: int | None = None) -> list[int]:
    """PIDs of running ``qemu-system-*`` processes on this host; with ``pgid``, only those of
    that process group (one :func:`boot`'s: other VMs may run meanwhile, e.g. another test
    session's notebook)."""
    pids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                comm = (d / "comm").read_text().strip()
                stat = (d / "stat").read_text()
            except OSError:
                continue
            if not comm.startswith("qemu-system"):
                continue
            if pgid is None or int(stat.rsplit(")", 1)[1].split()[2]) == pgid:
                pids.append(int(d.name))
    return pids
