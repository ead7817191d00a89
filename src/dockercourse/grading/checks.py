"""The checks of the TP, and how they run: each judges one property of the submission, in the
student's image.

The checks live by what they look at — :mod:`.check_files` (requirements, the app through the
probe, the build context, hadolint), :mod:`.check_image` (build, start command, user, port, size,
layer cache), :mod:`.check_app` (the app running once: health, HTTP, environment, logs, stop) —
and share a :class:`~.context.Context`. :func:`grade_all` runs every check in one process (the
grading sandbox's ``check-all``), in :data:`ORDER`: the app's checks last and together, stopping
the shared app last; :func:`grade` runs one (a test cell in a student's own session).
"""

from __future__ import annotations

import time
from pathlib import Path

from .. import engine
from . import check_app, check_files, check_image, timing  # noqa: F401 (importing them registers their checks)
from .build import in_sandbox
from .check_files import _parse_requirements, hadolint_fr  # noqa: F401 (the package's names for them)
from .check_image import SIZE_BUDGET_MB, _pip_steps  # noqa: F401
from .containers import engine_fault
from .context import CHECKS, MESSAGE_VAR, REQUIRED_PINS, Context, check  # noqa: F401
from .probe import PROBE_TIMEOUT_S, probe_app  # noqa: F401
from .protocol import Result

#: The checks that use the shared running app (:class:`~.context.AppRun`), in the order they run;
#: ``arret`` stops it, so it runs last.
APP_CHECKS = ("healthcheck", "http", "env", "logs", "arret")
#: The order :func:`grade_all` runs the checks in: the app's checks last and together, so the app
#: (and its health probe every second) runs only while they need it.
ORDER = ["requirements", "application", "construction", "cmd", "utilisateur", "expose", "cache", "dockerignore",
         "taille", "hadolint", *APP_CHECKS]
#: The order the checks are listed in (``list``, ``audit``, the benchmarks' ``run_check`` loop), the
#: TP's own: the order they were declared in before they were split by what they look at.
LISTED = ("requirements", "application", "construction", "cmd", "utilisateur", "expose", "healthcheck", "cache",
          "dockerignore", "taille", "http", "env", "logs", "arret", "hadolint")
assert sorted(ORDER) == sorted(CHECKS) == sorted(LISTED), "every check has its place in ORDER and LISTED"
for _name in LISTED:  # the registry in the listed order (each module registered its own checks)
    CHECKS[_name] = CHECKS.pop(_name)
del _name


def _grade_in(ctx: Context, name: str, points: float) -> Result:
    title, func = CHECKS[name]
    res = Result(title, points)
    try:
        func(res, ctx)
    except engine.DockerUnavailable as err:
        res.fatal = f"Vérification impossible : {err}"
        res.grader_error = f"moteur Docker injoignable : {err}"[:400]
    except Exception as err:  # a hostile or broken submission: one French message, score 0
        if not engine.available():
            res.fatal = f"Vérification impossible : {engine._unreachable_message(err)}"
            res.grader_error = "moteur Docker injoignable : " + engine._unreachable_message(err)[:300]
        else:
            res.fatal = (f"Erreur interne du correcteur ({type(err).__name__}: {str(err)[:300]}). "
                         "Prévenez l'enseignant.")
            try:  # the engine, or this submission's image?
                fault = engine_fault(ctx.client)
            except Exception as probe_err:
                fault = f"moteur Docker injoignable ({type(probe_err).__name__})"
            if fault:
                res.grader_error = fault
    if res.grader_error:
        res.fatal = ("Vérification impossible, à cause du correcteur et non de votre copie : "
                     f"{res.grader_error}. L'enseignant relancera la correction.")
    return res


def grade(name: str, project: str | Path, points: float) -> Result:
    """Run one check in this process (the CLI calls this; tests may too)."""
    ctx = Context(project, run_name=name)
    try:
        return _grade_in(ctx, name, points)
    finally:
        ctx.close()


def grade_all(project: str | Path, points: dict[str, float] | None = None, client=None,
              on_result=None) -> dict[str, Result]:
    """Every check of ``points`` (default: all, 1 point each) on one submission, in one
    process, sharing its build and its running app. ``on_result(name, result)`` is
    called as each check ends."""
    from .timing import own_cpu_seconds

    points = points or {n: 1.0 for n in CHECKS}
    ctx = Context(project, client=client)
    out: dict[str, Result] = {}
    cpu = own_cpu_seconds if in_sandbox() else (lambda: None)  # elsewhere the counter is the machine's
    if in_sandbox():
        timing.enable_spans()
    try:
        for name in [n for n in ORDER if n in points]:
            t0, c0 = time.monotonic(), cpu()
            out[name] = _grade_in(ctx, name, points[name])
            out[name].timings.setdefault("check_s", round(time.monotonic() - t0, 2))
            c1 = cpu()
            if c0 is not None and c1 is not None:
                out[name].timings["cpu_s"] = round(c1 - c0, 2)
            spans = timing.take_spans()
            if spans:
                out[name].timings["spans"] = spans
            if on_result:
                on_result(name, out[name])
    finally:
        ctx.close()
    return out
