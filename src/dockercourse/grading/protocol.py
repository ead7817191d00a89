"""The result protocol: what a check returns and how it travels.

A check fills a :class:`Result` (weighted items, each passed or failed, with French
feedback). The grader process prints :meth:`Result.render` for people and one
machine line, ``RESULT_MARK {json}``, for the caller; :func:`result_line` writes it
and :func:`read_results` reads it back. The caller believes only the lines of a
process it started itself, never a score the student's kernel reports.
"""

from __future__ import annotations

import dataclasses
import json

RESULT_MARK = "@@DOCKERCOURSE-RESULT@@"


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
    """One machine-readable line (``RESULT_MARK`` then compact JSON)."""
    return RESULT_MARK + " " + json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def read_results(text: str) -> list[dict]:
    """Every well-formed result line of ``text``, in order (garbage lines are skipped)."""
    out = []
    for line in text.splitlines():
        if line.startswith(RESULT_MARK):
            try:
                value = json.loads(line[len(RESULT_MARK):])
            except ValueError:
                continue
            if isinstance(value, dict):
                out.append(value)
    return out
