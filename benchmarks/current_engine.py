"""The current-engine lane's costs: root creation, start, base image, stop (each image store).

    DOCKERCOURSE_STATE=.state .venv/bin/python benchmarks/current_engine.py [--cold-root] [--runs 3]

``--cold-root`` builds the Debian root from scratch in a throwaway state folder (about a
minute and 600 MB, deleted afterwards), so every row is measured cold there; without it the
cached root is used and its row shows the build time recorded in its marker. The base image
rows remove ``python:3.13-slim`` from the current engine (and, for "cold", the cached
``docker save`` archive) and make it available again: cold = save from the host engine +
load, warm = load from the cached archive, present = already there. Root only.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from _table import print_table

from dockercourse import engine
from dockercourse.currentengine import STORES, CurrentEngine


def timed(func):
    t0 = time.monotonic()
    result = func()
    return time.monotonic() - t0, result


def drop_base(ce: CurrentEngine, archive_too: bool) -> None:
    import docker

    c = ce.client()
    try:
        c.images.remove(engine.BASE_IMAGE, force=True)
    except docker.errors.ImageNotFound:
        pass
    c.close()
    if archive_too:
        shutil.rmtree(ce.base / "images", ignore_errors=True)


def measure_store(store: str, runs: int, fresh: bool) -> list[list[str]]:
    ce = CurrentEngine(store=store)
    ce.stop(quiet=True)
    first, done = timed(ce.start)
    rows = [[f"start ({store})" + (", new data root" if fresh else ""), "1", f"{first:.2f}", done]]
    for label, archive_too in (("cold: docker save on the host + load", True),
                               ("warm: load the cached archive", False)):
        drop_base(ce, archive_too)
        secs, res = timed(ce.ensure_base_image)
        rows.append([f"base image ({store}) {label}", "1", f"{secs:.2f}", res])
    secs, res = timed(ce.ensure_base_image)
    rows.append([f"base image ({store}) already present", "1", f"{secs:.3f}", res])
    starts, stops = [], []
    for _ in range(runs):
        stops.append(timed(ce.stop)[0])
        starts.append(timed(ce.start)[0])
    secs, res = timed(ce.start)
    rows.append([f"start ({store}), data root kept", str(runs), f"{statistics.median(starts):.2f}", "started"])
    rows.append([f"start ({store}) when it already runs", "1", f"{secs:.3f}", res])
    rows.append([f"stop ({store}), idle engine", str(runs), f"{statistics.median(stops):.2f}", "stopped"])
    c = ce.client()
    engine.remove_container(engine.name("bench", store), c)
    c.containers.run(engine.BASE_IMAGE, ["sleep", "600"], detach=True, name=engine.name("bench", store),
                     labels=engine.labels(purpose="bench"))
    c.close()
    secs, _ = timed(ce.stop)
    rows.append([f"stop ({store}), one container running", "1", f"{secs:.2f}", "stopped"])
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cold-root", action="store_true", help="build the root from scratch in a temporary folder")
    parser.add_argument("--runs", type=int, default=3, help="stop/start cycles per store (default 3)")
    args = parser.parse_args(argv)
    if not engine.available():
        print("error: the host engine must answer (it holds python:3.13-slim)", file=sys.stderr)
        return 2
    tmp = None
    if args.cold_root:
        tmp = tempfile.mkdtemp(prefix="cur-", dir=engine.state_dir())  # short: the socket path is limited
        os.environ["DOCKERCOURSE_STATE"] = tmp
    try:
        ce = CurrentEngine()
        secs, done = timed(ce.ensure_root)
        info = ce.root_info() or {}
        pkgs = info.get("packages", {})
        rows = [[f"root creation ({ce.suite}, debootstrap)" + ("" if done == "built" else ", recorded in its marker"),
                 "1", f"{secs if done == 'built' else info.get('seconds', float('nan')):.1f}",
                 f"docker.io {pkgs.get('docker.io')}, {_du(ce.root)}"]]
        for store in STORES:
            rows += measure_store(store, args.runs, fresh=args.cold_root)
    finally:
        if tmp:
            for store in STORES:
                CurrentEngine(store=store).stop(quiet=True)
            shutil.rmtree(tmp, ignore_errors=True)
    print_table(["step", "runs", "seconds (median)", "result"], rows, left=(0, 3))
    return 0


def _du(path) -> str:
    out = subprocess.run(["du", "-sm", str(path)], capture_output=True, text=True).stdout.split()
    return f"{out[0]} MiB" if out else "?"


if __name__ == "__main__":
    sys.exit(main())
