"""The contract between the processes that grade one submission.

* :class:`Result` — what a check returns: weighted items, each passed or failed, French
  feedback (:meth:`Result.render`) and a machine payload (:meth:`Result.payload`).
* The marker lines: every line one process writes for another is ``MARK {json}``, one of the
  named marks below, written by :func:`mark_line` and read by :func:`parse_mark_line`
  (:func:`is_mark` for a bare mark; :func:`read_marked`, :func:`last_marked` for a whole
  output). The scripts that run where this package is not installed (``probe_app.py``,
  ``collect_answers.py``, ``score_answers.py``, in containers or a bare interpreter) write their
  own mark, the same string (a unit test checks it).
* :class:`Job` — what a sandbox is asked to do (the class command's part, then the slot's),
  written to ``job.json`` and read back by every process inside (:meth:`Job.to_json`,
  :meth:`Job.from_json`); :class:`Limits` — the sandbox's limits; :class:`Outcome` — what came
  back from it.
* :func:`scale` — a result's score on a cell worth other points (the gradebook, the returned
  notebook and the kernel's test cells all use it).

A process believes only the lines of a process it started itself, and the grader only the
results sent before any student code ran, never a score the student's kernel reports.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json

#: A check's or a written answer's official result (``check-all`` → the worker → the class command).
RESULT_MARK = "@@DOCKERCOURSE-RESULT@@"
#: A step of the worker's phase A with its wall and cgroup CPU time (the worker → the class command).
PHASE_MARK = "@@DOCKERCOURSE-PHASE@@"
#: Grading itself broke (no engine, an engine that cannot start a container): ``{"reason": French}``,
#: on one line (:func:`grader_broken_line`, :func:`grader_broken_reason`).
GRADER_BROKEN = "@@DOCKERCOURSE-GRADER-BROKEN@@"
#: The official results are all sent: nothing the sandbox writes after it is believed.
PHASE_A_DONE = "@@DOCKERCOURSE-PHASE-A-DONE@@"
#: The student's answer values (``collect_answers.py``, in a container of the base image).
ANSWERS_MARK = "@@ANSWERS@@"
#: A source test cell run on those values (``score_answers.py``, in a fresh interpreter).
SCORE_MARK = "@@SCORE@@"
#: The probe's calls to the student's app (``probe_app.py``, in a container).
PROBE_MARK = "@@PROBE@@"


def mark_line(mark: str, payload: dict | None = None) -> str:
    """One machine line: ``mark``, then its payload as compact JSON (nothing for a bare mark)."""
    if payload is None:
        return mark
    return mark + " " + json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def parse_mark_line(line: str, mark: str) -> dict | None:
    """The payload of one line written by :func:`mark_line` with ``mark`` and a payload; None for
    any other line, a bare mark, or a payload that is not a JSON object."""
    if not line.startswith(mark):
        return None
    try:
        value = json.loads(line[len(mark):])
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def is_mark(line: str, mark: str) -> bool:
    """Whether ``line`` is ``mark`` written without a payload (:data:`PHASE_A_DONE`)."""
    return line.startswith(mark)


def read_marked(text: str, mark: str) -> list[dict]:
    """Every well-formed ``mark`` line of ``text``, in order (garbage lines are skipped)."""
    out = []
    for line in text.splitlines():
        value = parse_mark_line(line, mark)
        if value is not None:
            out.append(value)
    return out


def last_marked(text: str, mark: str) -> dict | None:
    """The payload of the last ``mark`` line of ``text`` (a script prints its own line last), or
    None when there is none or that line is not well formed: an earlier line is not believed."""
    for line in reversed(text.splitlines()):
        if line.startswith(mark):
            return parse_mark_line(line, mark)
    return None


def grader_broken_line(reason: str) -> str:
    """The worker's line saying why grading broke (one line of French)."""
    return mark_line(GRADER_BROKEN, {"reason": " ".join(str(reason).splitlines())})


def grader_broken_reason(line: str) -> str | None:
    """The reason a :func:`grader_broken_line` gives (at most 500 characters), or None for any other line."""
    value = parse_mark_line(line, GRADER_BROKEN)
    if value is None:
        return None
    return str(value.get("reason") or "").strip()[:500] or "(aucun message)"


def scale(score: float, points: float, worth: float) -> float:
    """A score out of ``points`` as a score out of ``worth`` (a cell's points), within 0..worth,
    rounded to the hundredth."""
    try:
        value = float(score) * float(worth) / max(float(points), 1e-9)
    except (TypeError, ValueError):
        return 0.0
    return round(max(0.0, min(float(worth), value)), 2)


def last_line(text) -> str:
    """The last non-blank line of a process's output or log (300 characters at most), for a French
    message that says why something failed."""
    lines = [ln for ln in str(text or "").strip().splitlines() if ln.strip()]
    return lines[-1][:300] if lines else "(aucun message)"


# =========================================================================== a check's result


@dataclasses.dataclass
class Result:
    """Outcome of one check: weighted items, each passed or failed, and hints."""

    title: str
    points: float
    items: list = dataclasses.field(default_factory=list)  # (weight, ok, lines)
    hints: list = dataclasses.field(default_factory=list)
    notes: list = dataclasses.field(default_factory=list)
    fatal: str | None = None  # a single message and score 0 (daemon down, no build...)
    timings: dict = dataclasses.field(default_factory=dict)
    #: Set when the check failed because of the grader (its engine), not of the submission:
    #: the class command then marks the submission « correction à refaire » instead of scoring it.
    grader_error: str | None = None
    #: What the check found that the notebook's own helpers may use during class grading (the
    #: app never answered, its import never ends): they need not wait as long for it again.
    facts: dict = dataclasses.field(default_factory=dict)

    def ok(self, text: str, weight: float = 1.0) -> None:
        self.items.append((weight, True, [text]))

    def fail(self, what: str, expected: str, found: str, todo: str, weight: float = 1.0) -> None:
        self.items.append((weight, False, [what, f"Attendu : {expected}", f"Trouvé : {found}",
                                           f"À faire : {todo}"]))

    def hint(self, text: str) -> None:
        self.hints.append(text)

    def note(self, text: str) -> None:
        self.notes.append(text)

    @property
    def fraction(self) -> float:
        if self.fatal is not None:
            return 0.0
        total = sum(w for w, _, _ in self.items)
        return sum(w for w, ok, _ in self.items if ok) / total if total else 0.0

    @property
    def score(self) -> float:
        return round(self.points * self.fraction, 2)

    def payload(self, check: str) -> dict:
        """What travels on a result line: score, points, the rendered feedback, timings."""
        out = {"check": check, "score": self.score, "points": self.points, "text": self.render(),
               "timings": self.timings}
        if self.grader_error:
            out["grader_error"] = self.grader_error
        if self.facts:
            out["facts"] = self.facts
        return out

    def render(self) -> str:
        icon = "✅" if self.score >= self.points else ("🟡" if self.score > 0 else "❌")
        lines = [f"{icon} {self.title} : {_num(self.score)}/{_num(self.points)}"]
        if self.fatal is not None:
            lines += ["   " + ln for ln in self.fatal.splitlines()]
        for _, ok, texts in self.items:
            lines.append(("   ✔ " if ok else "   ✘ ") + texts[0])
            lines += ["       " + t for t in texts[1:]]
        lines += [f"   💡 {h}" for h in self.hints]
        lines += [f"   ℹ️  {n}" for n in self.notes]
        return "\n".join(lines)


def _num(x: float) -> str:
    return f"{x:g}"


def result_line(payload: dict) -> str:
    """One machine-readable result line (:data:`RESULT_MARK`)."""
    return mark_line(RESULT_MARK, payload)


def read_results(text: str) -> list[dict]:
    """Every well-formed result line of ``text``, in order (garbage lines are skipped)."""
    return read_marked(text, RESULT_MARK)


# =========================================================================== a sandbox's job and outcome


@dataclasses.dataclass
class Limits:
    """A sandbox's limits, for its whole process tree (engine, kernel, checks, containers)."""

    memory_mib: int = 3072
    pids: int = 2048
    cpus: float = 1.0  # a submission that burns CPU (a loop at import) takes one core at most
    disk_gib: int = 6
    tmp_mib: int = 256
    wall_s: float = 600.0
    phase_a_s: float = 300.0
    #: The notebook (phase B) runs for feedback only, once the official results are sent: each cell
    #: gets ``cell_s`` at most (the student's own build is served by the official build's cache),
    #: the whole notebook ``feedback_s`` from its kernel's start.
    cell_s: float = 30.0
    feedback_s: float = 60.0
    #: Seen from the host, the notebook phase ends at most ``feedback_slack_s`` after its budget
    #: (the kernel's start, its shutdown, the last write): a kernel starved by the student's own
    #: processes (a fork bomb in a container of the sandbox shares its one core) cannot hold the
    #: sandbox longer. The notebook is written after every cell: what ran is kept.
    feedback_slack_s: float = 10.0

    @property
    def phase_b_s(self) -> float:
        """The longest the host waits for the notebook phase once the official results are in."""
        return self.feedback_s + self.feedback_slack_s


class JsonRecord:
    """JSON for a dataclass that crosses a process boundary; keys the reader does not know are
    ignored (a newer writer, an older reader)."""

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: dict):
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    @classmethod
    def from_json(cls, text: str):
        return cls.from_dict(json.loads(text))


@dataclasses.dataclass
class Job(JsonRecord):
    """What a sandbox does for one submission. The class command fills the first part; the
    sandbox adds its slot's (identity, folders, engine) before writing ``job.json``, which the
    processes inside read (:func:`~.enter.enter` as root, :mod:`.engine_ns`, :func:`~.worker.worker`)."""

    notebook_name: str
    base_tar: str
    isolated_net: bool = True  # the offline base: the sandbox gets a network namespace of its own
    hidden: list[str] = dataclasses.field(default_factory=list)  # folders covered inside (course root…)
    points: dict[str, float] = dataclasses.field(default_factory=dict)  # {check: points}
    answers: dict = dataclasses.field(default_factory=dict)  # {"sources": [...], "tests": {grade id: ...}}
    template_only: bool = False  # load the base images, stop the engine, nothing else (the slot's template)
    # ---- the slot's part
    slot: int = 0
    user: str = ""
    uid: int = 0
    gid: int = 0
    sandbox: str = ""  # the slot's folder (its disk)
    limits: Limits = dataclasses.field(default_factory=Limits)
    docker_cli: str = ""
    dockerd_args: list[str] = dataclasses.field(default_factory=list)
    engine_source: str = ""  # the current engine's root on the host ("" for the host's docker.io)
    engine_root: str = ""  # where the sandbox sees it (read-only)
    engine_bin: str = ""  # the CLI wrappers
    base_loaded: bool = False  # the disk is a copy of the slot's template: the base images are there

    @classmethod
    def from_json(cls, text: str) -> Job:
        data = json.loads(text)
        data["limits"] = Limits(**data.get("limits") or {})
        return cls.from_dict(data)


@dataclasses.dataclass
class Outcome(JsonRecord):
    """What came back from a sandbox."""

    results: dict[str, dict]          # official results, by check (or grade cell) name
    notebook: dict | None             # the executed notebook (feedback), None if unreadable
    seconds: float
    timed_out: bool = False
    error: str = ""                   # French, when the sandbox itself failed
    grader_error: str = ""            # French, when the worker said grading broke (GRADER_BROKEN)
    memory_peak_mib: float | None = None
    oom_kills: int = 0
    phases: dict = dataclasses.field(default_factory=dict)
    log_tail: str = ""



@dataclasses.dataclass
class Channel:
    """What a sandbox's worker said before it closed the grader's channel: :meth:`read` takes its
    lines one by one (the only reader of :data:`PHASE_MARK`, :data:`GRADER_BROKEN`,
    :data:`PHASE_A_DONE`; the first result of each name is kept)."""

    results: dict = dataclasses.field(default_factory=dict)
    phases: dict = dataclasses.field(default_factory=dict)
    grader_error: str = ""
    done: bool = False  # PHASE_A_DONE seen
    timed_out: bool = False  # the sandbox's wall time ran out
    feedback_cut: bool = False  # the host ended the notebook phase at Limits.phase_b_s

    def phase_b_wait(self, limits: Limits, left: float) -> tuple[float, bool]:
        """Once the worker stopped talking: how long the host waits for it to exit, and whether
        running out of that time ends the notebook phase (``True``: :attr:`Limits.phase_b_s`, the
        results are in) or is the sandbox's wall time (``False``); ``left``: the wall time left."""
        if self.done and limits.phase_b_s < left:
            return limits.phase_b_s, True
        return max(0.0, left), False

    def read(self, line: str, progress=None) -> None:
        if (phase := parse_mark_line(line, PHASE_MARK)) is not None:
            name = str(phase.pop("phase", "?"))[:40]
            self.phases[name] = {k: v for k, v in phase.items() if isinstance(v, (int, float, str, type(None)))}
        elif (broken := grader_broken_reason(line)) is not None:
            self.grader_error = broken
        elif is_mark(line, PHASE_A_DONE):
            self.done = True
        elif (result := parse_mark_line(line, RESULT_MARK)) is not None:
            name = result.get("check")
            if isinstance(name, str) and name not in self.results:
                self.results[name] = result
                if progress:
                    with contextlib.suppress(Exception):
                        progress(name)
