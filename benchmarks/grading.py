"""Per-check timings of the TP's autograder on the reference solution.

    DOCKERCOURSE_STATE=.state .venv/bin/python benchmarks/grading.py [--rounds 3] [--project DIR]

Each round starts cold for this submission (its images and build cache record
removed; the base image stays), builds once, then runs every check of
``dockercourse.grading.CHECKS`` in order through ``run_check``, the path the
notebook's test cells take (a subprocess per check). Prints one row per check:
median/min/max wall time and the score obtained. The project is copied to a
temp folder, so the benchmark never touches the fixture nor another submission.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _table import print_table

from dockercourse import engine, grading

REFERENCE = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "projects" / "reference"


def timed(func, *args, **kwargs):
    t0 = time.perf_counter()
    value = func(*args, **kwargs)
    return value, time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="cold rounds (default 3)")
    parser.add_argument("--project", type=Path, default=REFERENCE, help="a TP project folder (default: reference)")
    args = parser.parse_args(argv)

    try:
        engine.client().ping()
    except engine.DockerUnavailable as err:
        print(f"error: {err}", file=sys.stderr)
        return 2

    times: dict[str, list[float]] = {"(build, cold)": [], "(build, cached)": []}
    scores: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="dockercourse-bench-") as tmp:
        project = Path(tmp) / "tp"
        shutil.copytree(args.project, project)
        try:
            for r in range(args.rounds):
                print(f"round {r + 1}/{args.rounds}", file=sys.stderr, flush=True)
                grading.cleanup(project, images=True)
                build, secs = timed(grading.ensure_image, project)
                if not build.ok:
                    print(f"error: the project does not build: {build.reason}", file=sys.stderr)
                    return 1
                times["(build, cold)"].append(secs)
                times["(build, cached)"].append(timed(grading.ensure_image, project)[1])
                for name in grading.CHECKS:
                    with contextlib.redirect_stdout(io.StringIO()):
                        score, secs = timed(grading.run_check, name, 1.0, project)
                    times.setdefault(name, []).append(secs)
                    scores.setdefault(name, []).append(score)
        finally:
            grading.cleanup(project, images=True, forget=True)

    rows = []
    for name, ts in times.items():
        got = scores.get(name)
        rows.append([name, str(len(ts)), f"{statistics.median(ts):.2f}", f"{min(ts):.2f}", f"{max(ts):.2f}",
                     f"{min(got):.2f}" if got else "-"])
    print(f"project: {args.project}  (checks run through run_check: one subprocess each)")
    print_table(["check", "runs", "median s", "min s", "max s", "min score /1"], rows)
    total = sum(statistics.median(ts) for name, ts in times.items() if name in grading.CHECKS)
    print(f"all {len(grading.CHECKS)} checks, medians summed: {total:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
