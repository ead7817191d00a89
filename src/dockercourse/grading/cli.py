"""``python -m dockercourse.grading``: the grader's command line.

    check NAME      one check, French feedback then a result line (what run_check starts)
    check-all       every check on one project, one result line each as it ends
    cleanup         remove a submission's containers (and images)
    list            the checks
    audit           every check on a folder, as a table
    compare         regrade autograded folders and compare with the gradebook
    class           grade every collected submission in sandboxes (see classroom.py)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import time

from .. import engine
from .checks import CHECKS, grade, grade_all
from .containers import cleanup
from .protocol import Result, _num, result_line


def _record(project, name: str, res: Result) -> None:
    """Append the result to a ledger outside the submission folder."""
    from .build import _cache_path
    from .snapshot import Snapshot, submission_id

    with contextlib.suppress(Exception):
        line = {"time": time.time(), "check": name, "score": res.score, "points": res.points,
                "files": Snapshot.of(project).hash()}
        with open(_cache_path(submission_id(project)).with_suffix(".results.jsonl"), "a") as fh:
            fh.write(json.dumps(line) + "\n")


def add_class_arguments(p) -> None:
    """The class command's options (here, not in :mod:`.classroom`: building the parser must not import
    nbgrader, which every `check` a student's test cell starts would pay for)."""
    p.add_argument("assignment", nargs="?", default="tp-conteneurisation")
    p.add_argument("--course", default=".", help="the course root (nbgrader_config.py), default: here")
    p.add_argument("--jobs", "-j", type=int, default=max(2, (os.cpu_count() or 2)),
                   help="sandboxes in parallel (default: the number of CPUs, at least 2)")
    p.add_argument("--student", action="append", default=None, help="only these students (repeatable)")
    p.add_argument("--force", action="store_true", help="regrade submissions already recorded")
    p.add_argument("--wall", type=float, default=None, help="wall-time limit per submission, seconds (600)")
    p.add_argument("--cell-timeout", type=float, default=None,
                   help="per-cell timeout when the notebook runs for feedback (30)")
    p.add_argument("--feedback", type=float, default=None,
                   help="time the notebook runs for feedback, once the official results are in (60)")
    p.add_argument("--json", metavar="FILE", help="also write the summary as JSON")
    p.add_argument("--wait", action="store_true", help="wait for a class command already running instead of stopping")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dockercourse.grading", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_check = sub.add_parser("check", help="run one check and print French feedback + a result line")
    p_check.add_argument("name", choices=sorted(CHECKS))
    p_check.add_argument("--project", default=".")
    p_check.add_argument("--points", type=float, default=1.0)
    p_all = sub.add_parser("check-all", help="run every check on one project (one process, shared build and app)")
    p_all.add_argument("--project", default=".")
    p_all.add_argument("--points", help="JSON {check: points} (default: 1 point each)")
    p_clean = sub.add_parser("cleanup", help="remove this submission's containers (and images)")
    p_clean.add_argument("--project", default=".")
    p_clean.add_argument("--images", action="store_true")
    p_clean.add_argument("--forget", action="store_true", help="also drop the results ledger")
    sub.add_parser("list", help="list the checks")
    p_audit = sub.add_parser("audit", help="run every check on a submission folder, outside any notebook")
    p_audit.add_argument("--project", default=".")
    p_audit.add_argument("--notebook", help="take each check's points from this notebook's test cells")
    p_cmp = sub.add_parser("compare", help="regrade autograded folders and compare with gradebook.db")
    p_cmp.add_argument("--course", default=".")
    p_cmp.add_argument("--assignment", default="tp-conteneurisation")
    p_cmp.add_argument("--notebook", default="tp-conteneurisation.ipynb")
    p_cmp.add_argument("--student", action="append", default=None)
    p_class = sub.add_parser("class", help="grade every collected submission, each in its own sandbox")
    add_class_arguments(p_class)
    args = parser.parse_args(argv)

    if args.cmd == "class":
        from .classroom import class_main

        return class_main(args)
    if args.cmd == "compare":
        from .regrade import compare

        rows = compare(args.course, args.assignment, args.notebook, args.student)
        for r in rows:
            print(f"⚠️  {r['student']} / {r['check']} : carnet de notes {r['gradebook']}, "
                  f"recorrection {r['audit']} (sur {_num(r['points'])})")
        print(f"{len(rows)} écart(s) entre le carnet de notes et la recorrection.")
        return 1 if rows else 0
    if args.cmd == "list":
        for k, (title, _) in CHECKS.items():
            print(f"{k:14} {title}")
        return 0
    if args.cmd == "audit":
        from .assignment import notebook_points
        from .regrade import audit

        pts = notebook_points(args.notebook) if args.notebook else None
        try:
            table = audit(args.project, pts)
        finally:
            with contextlib.suppress(engine.DockerUnavailable):
                cleanup(args.project)
        for name, (score, p) in table.items():
            print(f"{name:14} {_num(score):>5}/{_num(p)}")
        total = sum(s for s, _ in table.values())
        print(f"{'total':14} {_num(round(total, 2)):>5}/{_num(sum(p for _, p in table.values()))}")
        return 0
    if args.cmd == "cleanup":
        try:
            counts = cleanup(args.project, images=args.images, forget=args.forget)
            time.sleep(1)  # a create request still in flight when the check was killed
            counts["containers"] += cleanup(args.project)["containers"]
            print(json.dumps(counts))
        except engine.DockerUnavailable as err:
            print(f"⚠️  {err}")
        return 0
    if args.cmd == "check-all":
        points = json.loads(args.points) if args.points else None

        def emit(name, res):
            print(result_line(res.payload(name)), flush=True)

        try:
            grade_all(args.project, points, on_result=emit)
        except engine.DockerUnavailable as err:
            print(f"⚠️  {err}", flush=True)
            return 2
        return 0
    res = grade(args.name, args.project, args.points)
    print(res.render(), flush=True)
    _record(args.project, args.name, res)
    print(result_line({"check": args.name, "score": res.score, "points": args.points, "timings": res.timings}),
          flush=True)
    return 0
