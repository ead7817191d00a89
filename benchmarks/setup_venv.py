"""``make venv`` from scratch with each installer (pip, uv), cold and warm package caches.

    python3 benchmarks/setup_venv.py [--runs 1] [--installers pip,uv] [--no-pip-config]

Each run is the Makefile's own recipe, ``make venv INSTALLER=pip|uv``, on a copy of the project
(Makefile, pyproject.toml, README.md, src/) in a temp folder, with a fresh ``.venv`` every time:
python -m venv, the installer's bootstrap (pip upgrade, or the uv wheel) and the editable install
of ``.[test,image-tests]``. The caches are private temp folders (PIP_CACHE_DIR, UV_CACHE_DIR),
never the user's: cold = both empty, as on a fresh CI machine; warm = what the cold run left.
The checkout, its ``.venv`` and ``~/.cache`` are not touched. ``--no-pip-config`` makes pip
ignore its config files (PIP_CONFIG_FILE=/dev/null), e.g. a machine-wide local wheel mirror,
which uv never reads. The "used" column is the installer the recipe reports it ran (a failed uv
falls back to pip); "ok" checks the editable import, the console scripts and the .pyc files.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _table import print_table

ROOT = Path(__file__).resolve().parent.parent
PROJECT_FILES = ("Makefile", "pyproject.toml", "README.md")
# The parent's make, venv or cache switches would skew the runs.
DROP_ENV = ("VIRTUAL_ENV", "MAKEFLAGS", "MAKELEVEL", "MFLAGS", "UV_NO_CACHE", "PIP_NO_CACHE_DIR")
SCRIPTS = ("nbgrader", "jupyter", "pytest", "ruff", "jupyter-repo2docker", "alembic")


def copy_project(dest: Path) -> None:
    for name in PROJECT_FILES:
        shutil.copy2(ROOT / name, dest / name)
    shutil.copytree(ROOT / "src", dest / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))


def check(project: Path) -> str:
    """'ok', or what is wrong with the venv that make venv left."""
    bin_ = project / ".venv" / "bin"
    missing = [s for s in SCRIPTS if not os.access(bin_ / s, os.X_OK)]
    if missing:
        return "missing " + ",".join(missing)
    where = subprocess.run([bin_ / "python", "-c", "import dockercourse; print(dockercourse.__file__)"],
                           capture_output=True, text=True, env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))
    if not where.stdout.strip().startswith(str(project / "src")):
        return f"not editable: {where.stdout.strip() or where.stderr.strip()[-200:]}"
    site = next((project / ".venv" / "lib").glob("python3*/site-packages"))
    if not next(site.glob("jupyterlab/__pycache__/*.pyc"), None):
        return "no .pyc"
    return "ok"


def children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def run_make(project: Path, installer: str, env: dict[str, str]) -> tuple[float, float, str, str]:
    """(wall s, CPU s of make and all it ran, installer used, check)."""
    shutil.rmtree(project / ".venv", ignore_errors=True)
    t0, cpu0 = time.monotonic(), children_cpu()
    proc = subprocess.run(["make", "--no-print-directory", "venv", f"INSTALLER={installer}"], cwd=project,
                          env=env, capture_output=True, text=True)
    seconds, cpu = time.monotonic() - t0, children_cpu() - cpu0
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-3000:])
        return seconds, cpu, "?", f"make failed ({proc.returncode})"
    used = re.findall(r"^== Installer: (\w+)", proc.stdout, re.M)
    return seconds, cpu, (used[-1] if used else "?"), check(project)


def installed_versions(project: Path) -> str:
    bin_ = project / ".venv" / "bin"
    out = subprocess.run([bin_ / "python", "-m", "pip", "--version"], capture_output=True, text=True).stdout
    uv = bin_ / "uv"
    if uv.exists():
        out += subprocess.run([uv, "--version"], capture_output=True, text=True).stdout
    return " / ".join(line.split(" from ")[0].strip() for line in out.splitlines() if line.strip())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=1, help="cold+warm pairs per installer (default 1)")
    ap.add_argument("--installers", default="pip,uv", help="comma-separated, in order (default pip,uv)")
    ap.add_argument("--no-pip-config", action="store_true", help="pip ignores pip.conf (PIP_CONFIG_FILE=/dev/null)")
    args = ap.parse_args()
    installers = [i.strip() for i in args.installers.split(",") if i.strip()]

    rows = []
    versions = {}
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="setup-venv-bench-") as tmp:
        tmp = Path(tmp)
        project = tmp / "project"
        project.mkdir()
        copy_project(project)
        times = {(i, c): [] for i in installers for c in ("cold", "warm")}
        cpus: dict[tuple[str, str], list[float]] = {k: [] for k in times}
        notes: dict[tuple[str, str], set[str]] = {k: set() for k in times}
        for _ in range(args.runs):  # installers interleaved: a change of machine load hits them all
            for installer in installers:
                caches = tmp / f"cache-{installer}"
                shutil.rmtree(caches, ignore_errors=True)
                env = {k: v for k, v in os.environ.items() if k not in DROP_ENV}
                env.update(PIP_CACHE_DIR=str(caches / "pip"), UV_CACHE_DIR=str(caches / "uv"))
                if args.no_pip_config:
                    env["PIP_CONFIG_FILE"] = os.devnull
                for cache in ("cold", "warm"):
                    seconds, cpu, used, ok = run_make(project, installer, env)
                    times[installer, cache].append(seconds)
                    cpus[installer, cache].append(cpu)
                    notes[installer, cache].add(f"{used}; {ok}")
                    print(f"{installer} {cache}: {seconds:.1f} s, CPU {cpu:.1f} s ({used}, {ok}; "
                          f"load {os.getloadavg()[0]:.1f})", file=sys.stderr, flush=True)
                versions[installer] = installed_versions(project)
        for (installer, cache), t in times.items():
            used_ok = sorted(notes[installer, cache])
            pip = times.get(("pip", cache))
            rows.append([installer, cache, str(len(t)), f"{statistics.median(t):.1f}", f"{min(t):.1f}",
                         f"{max(t):.1f}", f"{statistics.median(cpus[installer, cache]):.1f}",
                         f"{statistics.median(pip) / statistics.median(t):.1f}" if pip else "-",
                         " | ".join(n.split("; ")[0] for n in used_ok), " | ".join(n.split("; ")[1] for n in used_ok)])

    print(f"make venv from scratch (python -m venv + bootstrap + pip install -e '.[test,image-tests]'); "
          f"{os.cpu_count()} CPUs; pip config files {'ignored' if args.no_pip_config else 'read'}")
    print_table(["installer", "cache", "runs", "median s", "min s", "max s", "CPU s", "pip/this", "used", "ok"], rows,
                left=(0, 1, 8, 9))
    print(f"load average (1 min) before/after: {load_before:.1f} / {os.getloadavg()[0]:.1f}")
    for installer, v in versions.items():
        print(f"{installer}: {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
