"""Written answers checked out of the student's kernel (the TP's Q1–Q3).

A grade cell that is not a ``run_check`` call tests variables that the student's
answer cells define. Officially it is scored in two steps, neither of which trusts
the student's kernel:

1. ``collect_answers.py`` runs the student's answer cells in a throw-away container of the
   base image (no network, an unprivileged uid) and prints the values of the
   variables the tests read (strings, numbers, booleans, ``None``);
2. ``score_answers.py`` (:func:`score_cell`) runs the *source* test cell (hidden tests included) in a fresh
   interpreter with those values, and scores it as nbgrader does: an error or any
   stderr output gives 0, a last expression that is a number is the score, else
   full points.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from importlib import resources

from .protocol import ANSWERS_MARK, SCORE_MARK, last_marked


def _script(name: str) -> str:
    return resources.files("dockercourse.grading").joinpath(name).read_text()


def names_read(source: str) -> list[str]:
    """Pure: the global names a test cell reads (what the answers must provide)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    stored = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    loaded = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    import builtins

    return sorted(loaded - stored - set(dir(builtins)))


def collect(sources: list[str], names: list[str], image: str, client=None, timeout: float = 30) -> tuple[dict, str]:
    """Run the answer cells in a throw-away container of ``image`` (no network, an unprivileged
    uid, the checks' limits); returns ``({name: value}, engine fault)``. It is the first container
    the sandbox's engine starts: when it cannot, the fault says why in French (the grader's
    problem, not the student's); when it ran but said nothing (answers that killed their own
    interpreter), a plain ``true`` container decides (:func:`~.containers.engine_fault`)."""
    from .. import engine
    from .containers import engine_fault, run_once

    client = client or engine.client()
    job = json.dumps({"sources": sources, "names": names}).encode()
    files = {"/dockercourse/collect_answers.py": _script("collect_answers.py").encode(), "/dockercourse/job.json": job}
    try:
        code, out = run_once(client, image, "moteur", "reponses",
                             ["python", "-I", "/dockercourse/collect_answers.py", "/dockercourse/job.json"],
                             timeout=timeout, files=files, user="65534:65534", entrypoint="")
    except Exception as err:
        return {}, (f"le moteur Docker du correcteur ne démarre pas de conteneur "
                    f"({type(err).__name__} : {str(err)[:300]})")
    values = last_marked(out, ANSWERS_MARK)
    if values is None:
        return {}, engine_fault(client)
    return values, ""


def score_cell(source: str, answers: dict, points: float, timeout: float = 30) -> tuple[float, str]:
    """``(score, printed text)`` of a test cell run with ``answers``, scored as nbgrader does."""
    try:
        job = json.dumps({"answers": answers, "source": source})
        proc = subprocess.run([sys.executable, "-I", "-c", _script("score_answers.py")], input=job,
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return 0.0, "(le test a dépassé le temps imparti)"
    res = last_marked(proc.stdout, SCORE_MARK)
    if res is None:
        return 0.0, "(le test n'a rien rendu)"
    text = res.get("text", "")
    if res.get("failed") or res.get("stderr"):
        return 0.0, text + (f"\n{res['failed']}" if res.get("failed") else "")
    if res.get("number") is not None:
        return max(0.0, min(float(points), float(res["number"]))), text
    return float(points), text
