"""The two Debian roots ``make test`` makes, with each bootstrap tool: wall and CPU time.

    sudo .venv/bin/python benchmarks/setup_roots.py [--runs 1] [--tools mmdebstrap,debootstrap]

The roots are the offline kit's (trixie minbase + python3, pip, venv) and the current engine's
(trixie minbase + docker.io, buildx, Compose v2, containerd, rootlesskit…), each made in a temp
folder with the project's own command line (:func:`dockercourse.hostpkg.bootstrap_command`) and
deleted afterwards; the package downloads are not cached between runs (as on a fresh machine).
Root on Debian: both tools are installed with apt when missing.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _table import print_table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from dockercourse import currentengine, hostpkg, offline  # noqa: E402

ROOTS = {"offline kit": offline.PACKAGES, "current engine": currentengine.PACKAGES}


def children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def one(tool: str, packages: tuple[str, ...]) -> tuple[float, float, float]:
    """(wall s, CPU s, MiB) of one root made with ``tool``."""
    with tempfile.TemporaryDirectory(prefix="dockercourse-bench-root-") as tmp:
        dest = Path(tmp) / "root"
        cpu0, t0 = children_cpu(), time.monotonic()
        hostpkg.run_logged(hostpkg.bootstrap_command(tool, offline.SUITE, packages, dest, "amd64"),
                           Path(tmp) / "log", echo=lambda _line: None)
        wall, cpu = time.monotonic() - t0, children_cpu() - cpu0
        size = sum(p.lstat().st_size for p in dest.rglob("*")) / 2**20
    return wall, cpu, size


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--tools", default="mmdebstrap,debootstrap")
    args = ap.parse_args()
    tools = {name: hostpkg.ensure_command(name, name) for name in args.tools.split(",")}
    rows = []
    for root, packages in ROOTS.items():
        for name, exe in tools.items():
            runs = [one(exe, packages) for _ in range(args.runs)]
            print(f"{root} with {name}: " + ", ".join(f"{w:.0f} s" for w, _c, _s in runs), flush=True)
            rows.append([root, name, f"{statistics.median(r[0] for r in runs):.0f}",
                         f"{statistics.median(r[1] for r in runs):.0f}", f"{runs[-1][2]:.0f}", str(args.runs)])
    print()
    print_table(["root", "tool", "wall (s)", "CPU (s)", "size (MiB)", "runs"], rows, left=(0, 1))
    return 0


if __name__ == "__main__":
    if shutil.which("apt-get") is None:
        sys.exit("Debian/Ubuntu only")
    sys.exit(main())
