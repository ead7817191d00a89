"""A simulated class graded by the class command, with 1 job and with N jobs.

    sudo DOCKERCOURSE_STATE=.state .venv/bin/python benchmarks/class_grading.py [--size 30] [--jobs 4]

The class is built from the test corpus (tests/utils/corpus.py): mostly correct students,
some beginners and some broken projects (an app bound to 127.0.0.1, one that crashes,
one that loops at import, a shell-form CMD, a broken Dockerfile). Each run grades a
fresh copy of the course with ``python -m dockercourse grade``, sandboxes included,
and prints: wall time, the per-submission median and max (time in its sandbox), and
the speed-up over one job.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _table import print_table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.utils.corpus import AID, NB, STUDENTS  # noqa: E402

MIX = (["reference-solution"] * 18 + ["naive-student"] * 3 + ["shell-form-cmd", "runs-as-root", "listens-on-localhost",
       "crashing-app", "infinite-loop-at-import", "broken-dockerfile", "wrong-port", "untouched-release",
       "deleted-test-cell"])


def make_class(dest: Path, size: int) -> None:
    import nbformat

    dest.mkdir(parents=True)
    shutil.copy(ROOT / "nbgrader_config.py", dest)
    shutil.copytree(ROOT / "source" / AID, dest / "source" / AID)
    bindir = Path(sys.executable).parent
    subprocess.run([str(bindir / "nbgrader"), "generate_assignment", AID, "--force"], cwd=dest, check=True,
                   capture_output=True, env={"PATH": f"{bindir}:/usr/bin:/bin"})
    for i in range(size):
        kind = MIX[i % len(MIX)]
        folder = dest / "submitted" / f"{i:02d}-{kind}" / AID
        folder.mkdir(parents=True)
        nbformat.write(STUDENTS[kind].build(), folder / NB)


def run(size: int, jobs: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="dockercourse-bench-class-") as tmp:
        course = Path(tmp) / "cours"
        make_class(course, size)
        bindir = Path(sys.executable).parent
        t0 = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "dockercourse", "grade", AID, "--course", str(course), "--jobs",
                               str(jobs), "--json", str(course / "summary.json")], capture_output=True, text=True,
                              env={"PATH": f"{bindir}:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"})
        wall = time.monotonic() - t0
        if not (course / "summary.json").exists():
            print(proc.stdout[-2000:], proc.stderr[-2000:], file=sys.stderr)
            raise SystemExit(1)
        rows = json.loads((course / "summary.json").read_text())
    secs = [r["seconds"] for r in rows]
    return {"jobs": jobs, "wall": wall, "median": statistics.median(secs), "max": max(secs), "n": len(rows),
            "recorded": sum(r["status"] == "recorded" for r in rows)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=30)
    parser.add_argument("--jobs", type=int, default=4, help="the parallel run's jobs (default 4)")
    parser.add_argument("--skip-serial", action="store_true", help="only the parallel run")
    args = parser.parse_args(argv)
    results = []
    for jobs in ([] if args.skip_serial else [1]) + [args.jobs]:
        print(f"grading {args.size} submissions with {jobs} job(s)…", file=sys.stderr, flush=True)
        results.append(run(args.size, jobs))
    base = results[0]["wall"]
    rows = [[str(r["jobs"]), str(r["n"]), str(r["recorded"]), f"{r['wall']:.0f}", f"{r['median']:.1f}",
             f"{r['max']:.1f}", f"{base / r['wall']:.2f}"] for r in results]
    print(f"class of {args.size} (mix: {len(set(MIX))} kinds of students), sandboxes included")
    print_table(["jobs", "submissions", "recorded", "wall s", "median s", "max s", "speed-up"], rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
