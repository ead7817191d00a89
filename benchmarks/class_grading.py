"""A simulated class graded by the class command, with 1 job and with N jobs: where the time goes.

    sudo DOCKERCOURSE_STATE=.state .venv/bin/python benchmarks/class_grading.py [--size 30] [--jobs 2]
    ... --mix typical       # 18 correct, 3 beginners, 9 broken projects (no hostile notebook)
    ... --mix corpus        # every modelled student of tests/utils/corpus.py, then correct ones (default)
    ... --only reference-solution --size 1 --skip-serial   # one kind, e.g. to profile it

Each run grades a fresh copy of the course with ``python -m dockercourse grade``, sandboxes
included, and prints, from the records the command writes (``phases`` of each student):

* the run: wall time, per-submission median / 90th percentile / max (time in its sandbox),
  the sandboxes' CPU (their cgroups: engine, containers, kernel), the host passes' CPU
  (nbgrader's prepare and record, in the command's main thread), the machine's CPU over the
  run (every core, other users included) and the speed-up over one job;
* per phase, the median wall and CPU time over the submissions that reached it, correct
  ones (full automatic marks) apart: slot set-up, engine start, base image load, the engine
  probe, each check, the written answers, phase A, the kernel start, the notebook's cells,
  phase B, teardown, and nbgrader's two host passes;
* the slowest submission with its phases.
"""

from __future__ import annotations

import argparse
import json
import os
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

from tests.utils.corpus import AID, BENCH_ONLY, MAX, NB, differences, gradebook_cells  # noqa: E402
from tests.utils.corpus import STUDENTS as TERM  # noqa: E402

STUDENTS = {**TERM, **BENCH_ONLY}  # --only may name either

TYPICAL = (["reference-solution"] * 18 + ["naive-student"] * 3
           + ["shell-form-cmd", "runs-as-root", "listens-on-localhost", "crashing-app", "infinite-loop-at-import",
              "broken-dockerfile", "wrong-port", "untouched-release", "deleted-test-cell"])
FULL = float(sum(MAX.values()))


def mix(name: str, size: int, only: list[str] | None) -> list[str]:
    if only:
        kinds = only
    elif name == "typical":
        kinds = list(TYPICAL)
    else:  # every modelled student once, then correct ones
        kinds = sorted(TERM)
        kinds += ["reference-solution"] * max(0, size - len(kinds))
    return [kinds[i % len(kinds)] for i in range(size)]


def make_class(dest: Path, kinds: list[str]) -> None:
    import nbformat

    from tests.utils.corpus import COURSE_PLACEHOLDER

    dest.mkdir(parents=True)
    shutil.copy(ROOT / "nbgrader_config.py", dest)
    shutil.copytree(ROOT / "source" / AID, dest / "source" / AID)
    bindir = Path(sys.executable).parent
    subprocess.run([str(bindir / "nbgrader"), "generate_assignment", AID, "--force"], cwd=dest, check=True,
                   capture_output=True, env={"PATH": f"{bindir}:/usr/bin:/bin"})
    for i, kind in enumerate(kinds):
        folder = dest / "submitted" / f"{i:02d}-{kind}" / AID
        folder.mkdir(parents=True)
        text = nbformat.writes(STUDENTS[kind].build()).replace(COURSE_PLACEHOLDER, str(dest.resolve()))
        (folder / NB).write_text(text)


def machine_cpu() -> float:
    """CPU seconds the whole machine has spent so far (every core, /proc/stat)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    busy = sum(int(x) for i, x in enumerate(fields) if i not in (3, 4))  # minus idle and iowait
    return busy / os.sysconf("SC_CLK_TCK")


def run(kinds: list[str], jobs: int, keep: Path | None) -> dict:
    with tempfile.TemporaryDirectory(prefix="dockercourse-bench-class-") as tmp:
        course = Path(tmp) / "cours"
        make_class(course, kinds)
        bindir = Path(sys.executable).parent
        c0, t0 = machine_cpu(), time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "dockercourse", "grade", AID, "--course", str(course), "--jobs",
                               str(jobs), "--json", str(course / "summary.json")], capture_output=True, text=True,
                              env={"PATH": f"{bindir}:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
                                   "DOCKERCOURSE_STATE": os.environ.get("DOCKERCOURSE_STATE", "")})
        wall, cpu = time.monotonic() - t0, machine_cpu() - c0
        if not (course / "summary.json").exists():
            print(proc.stdout[-2000:], proc.stderr[-2000:], file=sys.stderr)
            raise SystemExit(1)
        records = []
        for path in sorted((course / ".dockercourse-grading" / AID).glob("*.json")):
            records.append(json.loads(path.read_text()))
        book = gradebook_cells(course) if (course / "gradebook.db").exists() else {}
        if keep:
            keep.mkdir(parents=True, exist_ok=True)
            (keep / f"records-{jobs}.json").write_text(json.dumps(records, indent=1, ensure_ascii=False))
            (keep / f"output-{jobs}.txt").write_text(proc.stdout + proc.stderr)
            shutil.copytree(course / "autograded", keep / f"autograded-{jobs}", dirs_exist_ok=True)
    return {"jobs": jobs, "wall": wall, "machine_cpu": cpu, "records": records, "book": book}


def lap(rec: dict, *path: str) -> tuple[float | None, float | None]:
    """(wall, cpu) of one phase of a record; ``path`` walks ``phases`` (or the record itself)."""
    node = rec
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
        if node is None:
            return None, None
    if isinstance(node, (int, float)):
        return float(node), None
    if isinstance(node, dict):
        return node.get("wall_s"), node.get("cpu_s")
    return None, None


def check_lap(rec: dict, check: str) -> tuple[float | None, float | None]:
    return (rec.get("check_s") or {}).get(check), (rec.get("check_cpu_s") or {}).get(check)


def med(values) -> str:
    values = [v for v in values if v is not None]
    return f"{statistics.median(values):.2f}" if values else "—"


def _notebook_end(rec: dict) -> tuple[float | None, float | None]:
    a, b = lap(rec, "phases", "notebook", "shutdown"), lap(rec, "phases", "notebook", "write")
    return tuple(None if x is None and y is None else (x or 0) + (y or 0) for x, y in ((a[0], b[0]), (a[1], b[1])))


def phase_specs(records: list[dict]) -> list[tuple[str, object]]:
    """(label, record -> (wall, cpu)) for every phase, in the order a submission meets them."""
    specs: list[tuple[str, object]] = [("slot set-up (host)", lambda r: lap(r, "phases", "setup"))]
    for phase, label in (("engine", "engine start"), ("base", "base image load"), ("probe", "engine probe"),
                         ("answers", "written answers (+ engine probe)"), ("checks", "checks (one process)")):
        specs.append((label, lambda r, phase=phase: lap(r, "phases", phase)))
    for check in dict.fromkeys(c for r in records for c in (r.get("check_s") or {})):
        specs.append((f"  {check}", lambda r, check=check: check_lap(r, check)))
    specs.append(("phase A (official results)", lambda r: lap(r, "phases", "A")))
    specs.append(("notebook: imports", lambda r: lap(r, "phases", "notebook", "import")))
    specs.append(("notebook: kernel start", lambda r: lap(r, "phases", "notebook", "kernel")))
    for cell in dict.fromkeys(c for r in records for c in ((r.get("phases") or {}).get("notebook") or {})
                              .get("cells", {})):
        specs.append((f"  cell {cell}", lambda r, cell=cell: lap(r, "phases", "notebook", "cells", cell)))
    specs.append(("notebook: shutdown + write", _notebook_end))
    specs.append(("phase B (notebook)", lambda r: lap(r, "phases", "B")))
    specs.append(("teardown (host)", lambda r: lap(r, "phases", "teardown")))
    specs.append(("nbgrader prepare (host)", lambda r: lap(r, "host", "prepare")))
    specs.append(("nbgrader record (host)", lambda r: lap(r, "host", "record")))
    specs.append(("total in sandbox", lambda r: (r.get("seconds"), (r.get("phases") or {}).get("cpu_s"))))
    return specs


def spans(rec: dict) -> dict[str, list[float]]:
    """{span name: [count, wall, cpu]} summed over a record's checks (builds, containers, waits)."""
    out: dict[str, list[float]] = {}
    for timings in (rec.get("check_spans") or {}).values():
        for sp in timings or []:
            acc = out.setdefault(sp["name"], [0, 0.0, 0.0])
            acc[0] += 1
            acc[1] += sp.get("wall_s") or 0
            acc[2] += sp.get("cpu_s") or 0
    return out


def print_spans(records: list[dict]) -> None:
    good = [r for r in records if correct(r)] or records
    per = [spans(r) for r in good]
    names = sorted({n for p in per for n in p}, key=lambda n: -statistics.median(p.get(n, [0, 0, 0])[2] for p in per))
    rows = [[n, med(p.get(n, [0])[0] for p in per), med(p.get(n, [0, 0])[1] for p in per),
             med(p.get(n, [0, 0, 0])[2] for p in per)] for n in names]
    print(f"\ninside the checks, per correct submission ({len(good)}): builds, containers and waits (medians)")
    print_table(["step", "count", "wall s", "CPU s"], rows)


def correct(rec: dict) -> bool:
    auto = {k: v for k, v in (rec.get("cells") or {}).items() if k in MAX}
    return bool(auto) and abs(sum(v or 0 for v in auto.values()) - FULL) < 0.01


def print_phases(result: dict) -> None:
    records = result["records"]
    good = [r for r in records if correct(r)]
    table = []
    for label, get in phase_specs(records):
        laps, good_laps = [get(r) for r in records], [get(r) for r in good]
        if all(w is None for w, _ in laps) or (label.startswith("  cell") and all(w is None or w < 0.5
                                                                                    for w, _ in laps)):
            continue  # phases no submission met, and cells that cost nothing: left out
        table.append([label, med(w for w, _ in good_laps), med(c for _, c in good_laps),
                      med(w for w, _ in laps), med(c for _, c in laps),
                      f"{max((w for w, _ in laps if w is not None), default=0):.1f}"])
    print(f"\nper phase, {result['jobs']} job(s): medians over the {len(good)} correct submissions (full "
          f"automatic marks) and over all {len(records)}; seconds (CPU: the sandbox's cgroup, or the host thread)")
    print_table(["phase", "correct wall", "correct CPU", "all wall", "all CPU", "max wall"], table)
    slow = max(records, key=lambda r: r.get("seconds") or 0)
    ph = slow.get("phases") or {}
    parts = [f"{k} {lap(slow, 'phases', k)[0]}" for k in ("setup", "engine", "base", "probe", "checks", "answers",
                                                          "A", "B", "teardown") if k in ph]
    print(f"slowest: {slow['student']} {slow.get('seconds')} s in its sandbox, CPU {ph.get('cpu_s')} s, "
          f"{slow.get('score')}/{slow.get('max')}; " + ", ".join(parts))
    cells = sorted(((k, v.get("wall_s") or 0) for k, v in ((ph.get("notebook") or {}).get("cells") or {}).items()),
                   key=lambda kv: -kv[1])[:5]
    if cells:
        print("  its slowest cells: " + ", ".join(f"{k} {w:.1f} s" for k, w in cells))


def print_students(result: dict) -> None:
    """One row per submission: the corpus's expected automatic score and the gradebook's, whether
    every cell matches (the cells the corpus asserts), flags, wall and CPU time in the sandbox."""
    rows, mismatched = [], 0
    for rec in sorted(result["records"], key=lambda r: r["student"]):
        sid = rec["student"]
        kind = sid.split("-", 1)[1] if "-" in sid else sid
        expected = STUDENTS[kind].expected if kind in STUDENTS else {}
        got = (result["book"].get(sid) or {}).get("cells") or {}
        bad = differences(expected, got)
        mismatched += bool(bad)
        rows.append([sid, f"{sum(v for v in expected.values() if v is not None):g}",
                     f"{sum(got.get(k) or 0 for k, v in expected.items() if v is not None):g}",
                     "✓" if not bad else f"✗ {bad[0]}" + (f" (+{len(bad) - 1})" if len(bad) > 1 else ""),
                     "yes" if (result["book"].get(sid) or {}).get("flagged") else "—",
                     f"{rec.get('seconds') or 0:.1f}", f"{(rec.get('phases') or {}).get('cpu_s') or 0:.1f}"])
    print(f"\nper submission, {result['jobs']} job(s): the corpus's expected automatic score (the cells it asserts) "
          f"and the gradebook's; {mismatched} differ")
    print_table(["submission", "expected", "got", "cells", "flagged", "wall s", "CPU s"], rows, left=(0, 3, 4))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=30)
    parser.add_argument("--jobs", type=int, default=2, help="the parallel run's jobs (default 2: the cores)")
    parser.add_argument("--mix", choices=("corpus", "typical"), default="corpus")
    parser.add_argument("--only", action="append", help="only these corpus students (repeatable)")
    parser.add_argument("--skip-serial", action="store_true", help="only the parallel run")
    parser.add_argument("--keep", type=Path, help="write every run's records and output there")
    args = parser.parse_args(argv)
    kinds = mix(args.mix, args.size, args.only)
    results = []
    for jobs in ([] if args.skip_serial else [1]) + [args.jobs]:
        print(f"grading {len(kinds)} submissions with {jobs} job(s)…", file=sys.stderr, flush=True)
        results.append(run(kinds, jobs, args.keep))
    base = results[0]["wall"]
    rows = []
    for r in results:
        recs = r["records"]
        secs = sorted(x.get("seconds") or 0 for x in recs)
        sandbox_cpu = sum((x.get("phases") or {}).get("cpu_s") or 0 for x in recs)
        host_cpu = sum(lap(x, "host", p)[1] or 0 for x in recs for p in ("prepare", "record"))
        rows.append([str(r["jobs"]), str(len(recs)), str(sum(x.get("status") == "recorded" for x in recs)),
                     f"{r['wall']:.0f}", f"{statistics.median(secs):.1f}", f"{secs[int(0.9 * (len(secs) - 1))]:.1f}",
                     f"{secs[-1]:.1f}", f"{sandbox_cpu:.0f}", f"{host_cpu:.0f}", f"{r['machine_cpu']:.0f}",
                     f"{base / r['wall']:.2f}"])
    print(f"class of {len(kinds)} ({args.mix if not args.only else ', '.join(args.only)} mix: "
          f"{len(set(kinds))} kinds of students), sandboxes included, {os.cpu_count()} CPUs")
    print_table(["jobs", "subs", "recorded", "wall s", "median s", "p90 s", "max s", "sandbox CPU s",
                 "host CPU s", "machine CPU s", "speed-up"], rows)
    for r in results:
        print_students(r)
        print_phases(r)
        print_spans(r["records"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
