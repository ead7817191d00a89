"""The instructor's class dashboard: how did the class do on the TP?

Reads a graded course root (``gradebook.db``, ``autograded/`` and the class command's
records ``.dockercourse-grading/<assignment>/<student>.json``) through nbgrader's own API
and returns tidy pandas frames (:func:`load`), then one function per question the
notebook ``notebooks/enseignant/tableau_de_bord.ipynb`` asks:

* :func:`overview`, :func:`score_distribution`, :func:`plot_scores` — how are the scores spread?
* :func:`pass_rates`, :func:`plot_pass_rates` — which lesson did not land?
* :func:`frequent_feedback` — which French feedback lines did students read most?
* :func:`submissions_over_time`, :func:`plot_submissions` — when did they hand in?
* :func:`late_submissions`, :func:`late_summary` — who was late?
* :func:`to_do` — who still needs a manual grade, or was flagged, and why?
* :func:`export_csv` — the same tables as CSV files.

The gradebook is opened read-only: looking at the class never writes to it.
:class:`CellsExport` is an nbgrader export plugin (one row per student × graded cell):
``nbgrader export --exporter=dockercourse.dashboard.CellsExport --to cellules.csv``.

Everything shown is French; an ordinary problem (no gradebook, no submission) raises
:class:`DashboardError`, whose French message a notebook shows without a traceback.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import re
import sqlite3
import urllib.parse
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
from nbgrader.plugins import ExportPlugin

from .errors import DockercourseError
from .grading.records import RECORDS  # the class command's per-student records

ASSIGNMENT = "tp-conteneurisation"
DASHBOARD_DIR = "tableau_de_bord"
ENV_COURSE = "DOCKERCOURSE_COURSE"
FAIL_MARK = "✘"

#: Short French titles of the TP's graded cells (bar labels, table rows). A cell that is not
#: here takes the title of its feedback's first line (« ❌ <titre> : 0/2 »), else its grade_id.
TITLES = {
    "test_q_memoire": "Q1 · cgroups (limiter la mémoire)",
    "test_q_isolation": "Q2 · namespaces (isoler la vue)",
    "test_q_noyau": "Q3 · le conteneur partage le noyau",
    "q_vm_reponse": "Q4 · conteneur ou VM (réponse écrite)",
    "test_requirements": "Dépendances épinglées",
    "test_application": "Application Flask",
    "test_construction": "Construction de l'image",
    "test_cmd": "CMD en forme exec, gunicorn",
    "test_utilisateur": "Utilisateur non root",
    "test_expose": "Port documenté (EXPOSE)",
    "test_healthcheck": "HEALTHCHECK, conteneur « healthy »",
    "test_cache": "Ordre des couches (cache)",
    "test_dockerignore": ".dockerignore",
    "test_taille": "Taille de l'image",
    "test_http": "Réponse sur le port publié",
    "test_env": "Variable d'environnement MESSAGE",
    "test_logs": "Journaux sur la sortie standard",
    "test_arret": "Arrêt rapide (SIGTERM)",
    "test_hadolint": "Lint du Dockerfile (hadolint)",
}

KINDS = ("auto", "manual", "written")  # autograded test, manually graded code, written (markdown) answer

_FIRST_LINE = re.compile(r"^(?:[^\w\s.]+\s+)?(?P<title>.+?)\s+:\s+[\d.,]+/[\d.,]+\s*$")  # « ❌ titre : 0/2 »
_KERNEL_CLAIM = re.compile(r"^(?P<cell>\w+) : le noyau annonçait [\d.]+, score officiel [\d.]+$")


class DashboardError(DockercourseError):
    """An ordinary condition the dashboard cannot work around (no gradebook, no submission).

    The message is French and says what to do; IPython shows it without a traceback."""

    def _render_traceback_(self) -> list[str]:  # IPython's hook: the message instead of a traceback
        return [f"❌ {self}"]


@dataclasses.dataclass
class Frames:
    """What :func:`load` read from one course root, for one assignment.

    ``cells``: one row per student × graded cell — student, cell (grade_id), title, kind
    (auto/manual/written), score (nbgrader's Grade.score: the manual score overrides the
    automatic one, plus extra credit; NaN while neither exists), auto_score, manual_score,
    max_score, needs_manual_grade, comment (the cell's nbgrader comment, if any), flagged (the
    submission is flagged) and cell_flags (the grader's flags that name this cell).

    ``submissions``: one row per submission — student, timestamp (UTC), duedate (UTC, with the
    student's extension), total_seconds_late (nbgrader's), late, late_penalty, score, max_score,
    needs_manual_grade, nbgrader_flagged, grader_flags (the records' French flags), grade_status,
    grade_error, flagged (nbgrader's flag or any grader flag).

    ``feedback``: one row per ``✘`` line read in an autograded notebook — student, cell, line.

    ``records``: the grader's records (one dict per student, submitted or not)."""

    course: Path
    assignment: str
    cells: pd.DataFrame
    submissions: pd.DataFrame
    feedback: pd.DataFrame
    duedate: pd.Timestamp | None
    max_score: float
    order: list[str]
    titles: dict[str, str]
    records: dict[str, dict]

    def title(self, cell: str) -> str:
        return self.titles.get(cell, cell)


# =========================================================================== finding and reading the course


def resolve_course(start: Path | str | None = None) -> Path:
    """The course root: ``$DOCKERCOURSE_COURSE`` if set, else the nearest folder holding
    ``nbgrader_config.py`` from ``start`` (default: the current folder — a notebook runs in its
    own folder, two levels below the repository root) upwards, else this package's repository."""
    env = os.environ.get(ENV_COURSE, "").strip()
    if env:
        course = Path(env).expanduser()
        if not course.is_dir():
            raise DashboardError(f"{ENV_COURSE} désigne « {env} », qui n'est pas un dossier : "
                                 "indiquez la racine du cours (le dossier de nbgrader_config.py).")
        return course.resolve()
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "nbgrader_config.py").is_file():
            return folder
    repo = Path(__file__).resolve().parents[2]
    if (repo / "nbgrader_config.py").is_file():
        return repo
    raise DashboardError(f"Aucun nbgrader_config.py dans {here} ni au-dessus : définissez {ENV_COURSE} "
                         "avec la racine du cours.")


def cell_title(cell: str, first_line: str | None = None) -> str:
    """A short French title for a graded cell: :data:`TITLES`, else the title in the first line
    of its feedback (« ❌ Utilisateur non root : 0/1 » → « Utilisateur non root »), else its id."""
    if cell in TITLES:
        return TITLES[cell]
    m = _FIRST_LINE.match(first_line or "")
    return m.group("title") if m else cell


def _readonly_url(db: Path) -> str:
    return f"sqlite:///file:{urllib.parse.quote(str(db.resolve()))}?mode=ro&uri=true"


def _course_id(db: Path, assignment: str) -> str:
    """The nbgrader course that holds ``assignment`` (read-only, without nbgrader: opening a
    Gradebook with another course id would add that course to the file)."""
    try:
        with sqlite3.connect(f"file:{urllib.parse.quote(str(db.resolve()))}?mode=ro", uri=True) as con:
            rows = con.execute("SELECT name, course_id FROM assignment").fetchall()
    except sqlite3.DatabaseError as err:
        raise DashboardError(f"{db} n'est pas un carnet de notes nbgrader lisible ({err}).") from None
    ids = {name: cid for name, cid in rows}
    if assignment not in ids:
        known = ", ".join(f"« {n} »" for n in sorted(ids)) or "aucun"
        raise DashboardError(f"Le devoir « {assignment} » n'est pas dans le carnet de notes {db} "
                             f"(devoirs connus : {known}). Créez-le et corrigez la classe d'abord.")
    return ids[assignment]


def _kinds(notebook) -> dict[str, str]:
    """``{grade_id: kind}`` for one nbgrader Notebook of the gradebook."""
    solutions = {c.name for c in notebook.solution_cells}
    kinds = {}
    for c in notebook.grade_cells:
        if c.cell_type == "markdown":
            kinds[c.name] = "written"
        else:
            kinds[c.name] = "manual" if c.name in solutions else "auto"
    for c in notebook.task_cells:
        kinds[c.name] = "manual"
    return kinds


def _score(grade) -> float | None:
    """nbgrader's Grade.score, but ``None`` while the cell has no score at all."""
    extra = grade.extra_credit or 0.0
    if grade.manual_score is not None:
        return grade.manual_score + extra
    if grade.auto_score is not None:
        return grade.auto_score + extra
    return None


def cell_rows(gradebook, assignment: str, students: Iterable[str] | None = None) -> list[dict]:
    """One dict per student × graded cell of ``assignment`` in an open nbgrader ``Gradebook``:
    student, notebook, cell, kind, score, auto_score, manual_score, max_score,
    needs_manual_grade, comment. Shared by :func:`load` and :class:`CellsExport`."""
    wanted = set(students) if students else None
    a = gradebook.find_assignment(assignment)
    kinds = {nb.name: _kinds(nb) for nb in a.notebooks}
    rows = []
    for sub in sorted(a.submissions, key=lambda s: s.student.id):
        if wanted is not None and sub.student.id not in wanted:
            continue
        for nb in sub.notebooks:
            comments = {c.name: c.comment for c in nb.comments}
            for g in nb.grades:
                rows.append({
                    "student": sub.student.id, "notebook": nb.name, "cell": g.name,
                    "kind": kinds.get(nb.name, {}).get(g.name, "auto"), "score": _score(g),
                    "auto_score": g.auto_score, "manual_score": g.manual_score, "max_score": g.max_score,
                    "needs_manual_grade": bool(g.needs_manual_grade), "comment": comments.get(g.name),
                })
    return rows


def _read_records(course: Path, assignment: str) -> dict[str, dict]:
    folder = course / RECORDS / assignment
    out = {}
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            rec = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            rec = {"flags": [f"fiche de correction illisible : {path.name}"], "status": "illisible"}
        if isinstance(rec, dict):
            out[str(rec.get("student") or path.stem)] = rec
    return out


def _stream_lines(cell: dict) -> list[str]:
    text = ""
    for out in cell.get("outputs") or []:
        if out.get("output_type") == "stream":
            t = out.get("text", "")
            text += "".join(t) if isinstance(t, list) else str(t)
    return text.splitlines()


def _read_feedback(path: Path) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """``([(cell, ✘ line)], {cell: first output line})`` from one autograded notebook."""
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return [], {}
    fails, first = [], {}
    for cell in nb.get("cells") or []:
        meta = ((cell.get("metadata") or {}).get("nbgrader")) or {}
        gid = meta.get("grade_id")
        if not (meta.get("grade") and gid and cell.get("cell_type") == "code"):
            continue
        lines = [ln.strip() for ln in _stream_lines(cell) if ln.strip()]
        if lines:
            first[gid] = lines[0]
        seen = []
        for ln in lines:
            if ln.startswith(FAIL_MARK):
                msg = ln[len(FAIL_MARK):].strip()
                if msg and msg not in seen:
                    seen.append(msg)
        fails += [(gid, msg) for msg in seen]
    return fails, first


def _utc(value) -> pd.Timestamp | None:
    if value is None:
        return None
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def load(course: Path | str, assignment: str = ASSIGNMENT) -> Frames:
    """Read one assignment of a graded course root into :class:`Frames` (read-only).

    Raises :class:`DashboardError` (French) when there is no gradebook, when the assignment
    is not in it, or when nobody's submission was graded yet."""
    from nbgrader.api import Gradebook

    course = Path(course).expanduser().resolve()
    db = course / "gradebook.db"
    if not db.is_file():
        raise DashboardError(f"Pas de carnet de notes dans {course} (gradebook.db absent) : corrigez d'abord la "
                             f"classe (python -m dockercourse grade {assignment}, ou make grade), ou indiquez "
                             f"la racine du cours dans {ENV_COURSE}.")
    course_id = _course_id(db, assignment)
    try:
        with Gradebook(_readonly_url(db), course_id=course_id) as gb:
            a = gb.find_assignment(assignment)
            duedate = _utc(a.duedate)
            max_score = float(a.max_score or 0.0)
            notebooks = [nb.name for nb in a.notebooks]
            order = [c.name for nb in a.notebooks for c in nb.grade_cells]
            order += [c.name for nb in a.notebooks for c in nb.task_cells if c.name not in order]
            cells = cell_rows(gb, assignment)
            subs = []
            for sub in sorted(a.submissions, key=lambda s: s.student.id):
                due = _utc(sub.duedate) if a.duedate is not None else None  # (an extension alone: no due date)
                subs.append({
                    "student": sub.student.id, "timestamp": _utc(sub.timestamp), "duedate": due,
                    "total_seconds_late": float(sub.total_seconds_late or 0.0) if due is not None else 0.0,
                    "late_penalty": float(sub.late_submission_penalty or 0.0),
                    "score": float(sub.score or 0.0), "max_score": float(sub.max_score or 0.0),
                    "needs_manual_grade": bool(sub.needs_manual_grade),
                    "nbgrader_flagged": any(bool(nb.flagged) for nb in sub.notebooks),
                })
    except DashboardError:
        raise
    except Exception as err:  # an unreadable or foreign database: say so, in French
        raise DashboardError(f"Lecture du carnet de notes {db} impossible : {type(err).__name__}: {err}") from None
    if not subs:
        raise DashboardError(f"Aucune copie corrigée pour le devoir « {assignment} » dans {course} : "
                             f"ramassez les copies (nbgrader collect) puis corrigez la classe "
                             f"(python -m dockercourse grade {assignment}).")

    records = _read_records(course, assignment)
    fails, first_lines = [], {}
    for row in subs:
        for name in notebooks:
            path = course / "autograded" / row["student"] / assignment / f"{name}.ipynb"
            found, first = _read_feedback(path)
            fails += [(row["student"], cell, line) for cell, line in found]
            for cell, line in first.items():
                first_lines.setdefault(cell, line)
    titles = {cell: cell_title(cell, first_lines.get(cell)) for cell in order}

    sub_df = pd.DataFrame(subs)
    sub_df["late"] = sub_df["total_seconds_late"] > 0
    sub_df["grader_flags"] = [list((records.get(s) or {}).get("flags") or []) for s in sub_df["student"]]
    sub_df["grade_status"] = [(records.get(s) or {}).get("status") for s in sub_df["student"]]
    sub_df["grade_error"] = [(records.get(s) or {}).get("error") or "" for s in sub_df["student"]]
    sub_df["flagged"] = sub_df["nbgrader_flagged"] | sub_df["grader_flags"].map(bool)
    sub_df = sub_df[["student", "timestamp", "duedate", "total_seconds_late", "late", "late_penalty", "score",
                     "max_score", "needs_manual_grade", "nbgrader_flagged", "grader_flags", "grade_status",
                     "grade_error", "flagged"]]

    cell_df = pd.DataFrame(cells, columns=["student", "notebook", "cell", "kind", "score", "auto_score",
                                           "manual_score", "max_score", "needs_manual_grade", "comment"])
    for col in ("score", "auto_score", "manual_score", "max_score"):
        cell_df[col] = pd.to_numeric(cell_df[col], errors="coerce").astype(float)
    flagged = dict(zip(sub_df["student"], sub_df["flagged"], strict=True))
    flags = dict(zip(sub_df["student"], sub_df["grader_flags"], strict=True))
    cell_df["title"] = [titles.get(c, c) for c in cell_df["cell"]]
    cell_df["flagged"] = [bool(flagged.get(s)) for s in cell_df["student"]]
    cell_df["cell_flags"] = ["; ".join(f for f in flags.get(s, []) if re.search(rf"\b{re.escape(c)}\b", f))
                             for s, c in zip(cell_df["student"], cell_df["cell"], strict=True)]
    rank = {c: i for i, c in enumerate(order)}
    cell_df = (cell_df.assign(_rank=cell_df["cell"].map(lambda c: rank.get(c, len(rank))))
               .sort_values(["student", "_rank"], kind="stable").drop(columns="_rank").reset_index(drop=True))
    cell_df = cell_df[["student", "cell", "title", "kind", "score", "max_score", "needs_manual_grade", "comment",
                       "flagged", "cell_flags", "auto_score", "manual_score", "notebook"]]

    feedback = pd.DataFrame(fails, columns=["student", "cell", "line"])
    return Frames(course=course, assignment=assignment, cells=cell_df, submissions=sub_df, feedback=feedback,
                  duedate=duedate, max_score=max_score, order=order, titles=titles, records=records)


# =========================================================================== French formatting


def _fr(x: float, digits: int = 1) -> str:
    """A number in French: « 27 », « 6,5 », « 19,6 »."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    r = round(float(x), digits)
    text = f"{int(r)}" if r == int(r) else f"{r:.{digits}f}".rstrip("0")
    return text.replace(".", ",")


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n <= 1 else (many or one + 's')}"


def duration_fr(seconds: float) -> str:
    """A duration in French: « 45 s », « 3 min 05 s », « 2 h 05 min », « 3 j 4 h »."""
    s = int(round(abs(seconds)))
    days, rest = divmod(s, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} j {hours} h" if hours else f"{days} j"
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


def _when(ts: pd.Timestamp | None) -> str:
    return "—" if ts is None or pd.isna(ts) else ts.strftime("%d/%m/%Y %H:%M:%S")


def _note(score: float, max_score: float) -> str:
    return f"{_fr(score, 2)}/{_fr(max_score, 2)}"


# =========================================================================== how are the scores spread?


def overview(frames: Frames) -> str:
    """A few French sentences: how many copies, the spread of scores, what is left to do."""
    subs = frames.submissions
    n = len(subs)
    scores = subs["score"]
    written = sorted({frames.title(c) for c in frames.cells.loc[frames.cells["needs_manual_grade"], "cell"]})
    lines = [
        f"Devoir « {frames.assignment} » : {_plural(n, 'copie corrigée', 'copies corrigées')}, "
        f"notées sur {_fr(frames.max_score)} points.",
        f"Moyenne {_fr(scores.mean())}, médiane {_fr(scores.median())}, de {_fr(scores.min())} à "
        f"{_fr(scores.max())}.",
    ]
    if frames.duedate is None:
        late = "pas de date limite dans le carnet de notes"
    else:
        late = _plural(int(subs["late"].sum()), "copie en retard", "copies en retard")
    waiting = int(subs["needs_manual_grade"].sum())
    lines.append(f"{late[:1].upper()}{late[1:]} · "
                 f"{_plural(int(subs['flagged'].sum()), 'copie signalée', 'copies signalées')} · "
                 f"{_plural(waiting, 'copie attend', 'copies attendent')} une note à la main"
                 + (f" : {', '.join(written)}." if written else "."))
    return "\n".join(lines)


def _step(max_score: float) -> float:
    return 1.0 if max_score <= 20 else 2.0


def score_distribution(frames: Frames, step: float | None = None) -> pd.DataFrame:
    """How many copies fall in each score bracket of ``step`` points (the histogram, as a table)."""
    step = step or _step(frames.max_score)
    top = max(frames.max_score, float(frames.submissions["score"].max()))
    edges = [i * step for i in range(int(math.ceil(top / step)) + 1)]
    if len(edges) < 2:
        edges = [0.0, step]
    rows = []
    scores = frames.submissions["score"]
    for i, (lo, hi) in enumerate(zip(edges, edges[1:], strict=False)):
        last = i == len(edges) - 2
        inside = (scores >= lo) & ((scores <= hi) if last else (scores < hi))
        rows.append({"tranche": f"[{_fr(lo)} ; {_fr(hi)}{']' if last else '['}", "de": lo, "à": hi,
                     "copies": int(inside.sum())})
    return pd.DataFrame(rows)


def plot_scores(frames: Frames, step: float | None = None):
    """Histogram of the submissions' scores, with the median; returns the matplotlib figure."""
    import matplotlib.pyplot as plt

    table = score_distribution(frames, step)
    fig, ax = plt.subplots(figsize=(8, 3.6))
    widths = table["à"] - table["de"]
    ax.bar(table["de"], table["copies"], width=widths, align="edge", color="tab:blue", edgecolor="white")
    median = float(frames.submissions["score"].median())
    ax.axvline(median, color="tab:orange", ls="--", lw=2, label=f"médiane : {_fr(median)}")
    ax.set_xlim(0, float(table["à"].iloc[-1]))
    ax.set_xlabel(f"note (sur {_fr(frames.max_score)} points)")
    ax.set_ylabel("copies")
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.set_title(f"Répartition des notes ({_plural(len(frames.submissions), 'copie')})")
    ax.legend(loc="upper left")
    ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


# =========================================================================== which lesson did not land?


def pass_rates(frames: Frames) -> pd.DataFrame:
    """Share of students with full marks, per graded cell, the lowest first (« the lesson that did
    not land » on top). Only cells already graded count; cells still waiting for a manual grade
    go last, with how many copies wait (« à noter »)."""
    c = frames.cells
    graded = c[~c["needs_manual_grade"] & c["score"].notna()]
    rows = []
    for i, cell in enumerate(frames.order):
        mine = graded[graded["cell"] == cell]
        pending = int((c["needs_manual_grade"] & (c["cell"] == cell)).sum())
        points = c.loc[c["cell"] == cell, "max_score"]
        full = int((mine["score"] >= mine["max_score"] - 1e-9).sum())
        rate = round(100 * full / len(mine)) if len(mine) else 0
        rows.append({"vérification": frames.title(cell), "cellule": cell,
                     "points": _fr(points.iloc[0]) if len(points) else "—",
                     "notes pleines": full, "copies notées": len(mine), "réussite (%)": rate,
                     "à noter": pending, "_order": i})
    table = pd.DataFrame(rows, columns=["vérification", "cellule", "points", "notes pleines", "copies notées",
                                        "réussite (%)", "à noter", "_order"])
    table = table.assign(_waiting=(table["à noter"] > 0) | (table["copies notées"] == 0))
    table = table.sort_values(["_waiting", "réussite (%)", "_order"], kind="stable")
    return table.drop(columns=["_order", "_waiting"]).set_index("vérification")


def plot_pass_rates(frames: Frames):
    """Horizontal bars: share of full marks per check, the lowest on top; cells still waiting
    for manual grades are hatched and say how many copies wait."""
    import matplotlib.pyplot as plt

    table = pass_rates(frames)
    n = len(table)
    fig, ax = plt.subplots(figsize=(8, 0.34 * n + 1.3))
    ys = list(range(n))
    waiting = (table["à noter"] > 0).tolist()
    colors = ["lightgray" if w else ("tab:red" if r < 50 else "tab:orange" if r < 80 else "tab:green")
              for r, w in zip(table["réussite (%)"], waiting, strict=True)]
    bars = ax.barh(ys, table["réussite (%)"], color=colors, edgecolor="dimgray", linewidth=0.5)
    for bar, w in zip(bars, waiting, strict=True):
        if w:
            bar.set_hatch("//")
    for y, (rate, pending) in enumerate(zip(table["réussite (%)"], table["à noter"], strict=True)):
        label = f"{rate} %" + (f" ({pending} à noter)" if pending else "")
        ax.annotate(label, (rate, y), xytext=(3, 0), textcoords="offset points", va="center", fontsize=8)
    ax.set_yticks(ys, table.index.tolist())
    ax.invert_yaxis()  # the first row of the table (the lowest rate) on top
    ax.set_xlim(0, 118)
    ax.set_xticks([0, 20, 40, 60, 80, 100])
    ax.set_xlabel("copies avec la note pleine (%)")
    ax.set_title("Réussite par vérification (la moins réussie en haut)")
    ax.grid(True, axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def frequent_feedback(frames: Frames, top: int = 10) -> pd.DataFrame:
    """The ``✘`` feedback lines read by the most students (each line counted once per student),
    with the check they belong to."""
    fb = frames.feedback
    if fb.empty:
        return pd.DataFrame(columns=["vérification", "retour", "copies"])
    rank = {c: i for i, c in enumerate(frames.order)}
    counts = fb.drop_duplicates().groupby(["cell", "line"]).size().reset_index(name="copies")
    counts["_rank"] = counts["cell"].map(lambda c: rank.get(c, len(rank)))
    counts = counts.sort_values(["copies", "_rank", "line"], ascending=[False, True, True], kind="stable")
    counts = counts.head(top)
    out = pd.DataFrame({"vérification": [frames.title(c) for c in counts["cell"]],
                        "retour": [f"{FAIL_MARK} {ln}" for ln in counts["line"]],
                        "copies": counts["copies"].astype(int).tolist()})
    out.index = range(1, len(out) + 1)
    return out


# =========================================================================== when did they hand in?


def _unit(seconds: Iterable[float]) -> tuple[str, float]:
    span = max((abs(s) for s in seconds), default=0.0)
    if span >= 2 * 86400:
        return "jours", 86400.0
    if span >= 2 * 3600:
        return "heures", 3600.0
    if span >= 120:
        return "minutes", 60.0
    return "secondes", 1.0


def submissions_over_time(frames: Frames) -> pd.DataFrame:
    """One row per submission, in hand-in order: its time (UTC), its offset to the student's due
    date (seconds, negative before; NaN without a due date), whether it is late, and how many
    copies were in by then."""
    subs = frames.submissions.dropna(subset=["timestamp"]).sort_values(["timestamp", "student"], kind="stable")
    offset = [(t - d).total_seconds() if d is not None and not pd.isna(d) else float("nan")
              for t, d in zip(subs["timestamp"], subs["duedate"], strict=True)]
    return pd.DataFrame({"élève": subs["student"].tolist(), "rendu (UTC)": subs["timestamp"].tolist(),
                         "écart à la date limite (s)": offset, "en retard": subs["late"].tolist(),
                         "copies rendues": list(range(1, len(subs) + 1))})


def plot_submissions(frames: Frames):
    """Copies handed in over time (cumulative steps), relative to the due date when the
    assignment has one (a red line at 0, late copies in red); returns the figure."""
    import matplotlib.pyplot as plt

    table = submissions_over_time(frames)
    fig, ax = plt.subplots(figsize=(8, 3.4))
    counts = table["copies rendues"]
    if frames.duedate is not None and table["écart à la date limite (s)"].notna().all() and len(table):
        unit, div = _unit(table["écart à la date limite (s)"])
        xs = table["écart à la date limite (s)"] / div
        ax.step(xs, counts, where="post", color="tab:blue")
        late = table["en retard"].astype(bool)
        ax.scatter(xs[~late], counts[~late], color="tab:blue", zorder=3, label="à l'heure")
        if late.any():
            ax.scatter(xs[late], counts[late], color="tab:red", zorder=3, label="en retard")
        ax.axvline(0, color="tab:red", ls="--", lw=1.5, label="date limite")
        ax.set_xlabel(f"{unit} avant (−) ou après (+) la date limite")
        ax.legend(loc="upper left")
    else:
        ax.step(table["rendu (UTC)"], counts, where="post", color="tab:blue")
        ax.scatter(table["rendu (UTC)"], counts, color="tab:blue", zorder=3)
        ax.set_xlabel("date du rendu (UTC) — pas de date limite dans le carnet de notes")
        fig.autofmt_xdate()
    ax.set_ylabel("copies rendues")
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.set_title("Rendus au fil du temps")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig


def late_submissions(frames: Frames) -> pd.DataFrame:
    """The copies handed in after the due date (nbgrader's ``total_seconds_late``), the latest
    first: when, how late, nbgrader's penalty and the score."""
    subs = frames.submissions[frames.submissions["late"]].sort_values(["total_seconds_late", "student"],
                                                                     ascending=[False, True], kind="stable")
    out = pd.DataFrame({"élève": subs["student"].tolist(),
                        "rendu le (UTC)": [_when(t) for t in subs["timestamp"]],
                        "date limite (UTC)": [_when(d) for d in subs["duedate"]],
                        "retard": [duration_fr(s) for s in subs["total_seconds_late"]],
                        "pénalité": [_fr(p) for p in subs["late_penalty"]],
                        "note": [_note(s, m) for s, m in zip(subs["score"], subs["max_score"], strict=True)]})
    return out.set_index("élève")


def late_summary(frames: Frames) -> str:
    """One French sentence: who handed in late (names only: no time, so it reads the same
    whenever the gradebook was made)."""
    if frames.duedate is None:
        return "Le devoir n'a pas de date limite dans le carnet de notes : aucune copie n'est en retard."
    late = sorted(frames.submissions.loc[frames.submissions["late"], "student"])
    if not late:
        return "Aucune copie en retard : tout le monde a rendu avant la date limite."
    verb = "copie rendue" if len(late) == 1 else "copies rendues"
    return f"{len(late)} {verb} après la date limite : {', '.join(late)}."


# =========================================================================== what is left to do?


def _flag_reasons(flags: list[str], titles: dict[str, str]) -> list[str]:
    """The grader's flags, shortened: the kernel's claims are grouped into one reason."""
    claims = [m.group("cell") for m in map(_KERNEL_CLAIM.match, flags) if m]
    out = [f for f in flags if not _KERNEL_CLAIM.match(f)]
    if claims:
        what = titles.get(claims[0], claims[0]) if len(claims) == 1 else f"{len(claims)} vérifications"
        out.insert(0, f"le noyau annonçait plus que le score officiel ({what})")
    return out


def to_do(frames: Frames) -> pd.DataFrame:
    """« À traiter » : each copy that still needs a manual grade or was flagged, with why (in
    French); flagged copies first. Students with a grader record but no graded submission
    are listed too."""
    c = frames.cells
    rows = []
    for sub in frames.submissions.itertuples(index=False):
        pending = [frames.title(x) for x in c.loc[(c["student"] == sub.student) & c["needs_manual_grade"], "cell"]]
        reasons = _flag_reasons(list(sub.grader_flags), frames.titles)
        if sub.nbgrader_flagged and not sub.grader_flags:
            reasons.append("marquée dans nbgrader (formgrader)")
        if sub.grade_status not in (None, "recorded"):
            reasons.append("correction non enregistrée" + (f" : {sub.grade_error}" if sub.grade_error else ""))
        if pending or reasons:
            rows.append({"élève": sub.student, "note": _note(sub.score, sub.max_score),
                         "à noter à la main": ", ".join(pending) or "—",
                         "signalement": "; ".join(reasons) or "—", "_flagged": bool(reasons)})
    graded = set(frames.submissions["student"])
    for student, rec in sorted(frames.records.items()):
        if student not in graded:
            error = rec.get("error") or "aucune note dans le carnet de notes"
            rows.append({"élève": student, "note": "—", "à noter à la main": "—",
                         "signalement": f"correction non enregistrée : {error}", "_flagged": True})
    table = pd.DataFrame(rows, columns=["élève", "note", "à noter à la main", "signalement", "_flagged"])
    table = table.sort_values(["_flagged", "élève"], ascending=[False, True], kind="stable")
    return table.drop(columns="_flagged").set_index("élève")


# =========================================================================== the same data as CSV


def _csv_ready(df: pd.DataFrame) -> pd.DataFrame:
    """Booleans as oui/non, lists joined, times in ISO 8601 (UTC)."""
    out = df.copy()
    for col in out.columns:
        series = out[col]
        if series.dtype == bool:
            out[col] = series.map({True: "oui", False: "non"})
        elif series.map(lambda v: isinstance(v, list)).any():
            out[col] = series.map(lambda v: " | ".join(v) if isinstance(v, list) else v)
        elif isinstance(series.dtype, pd.DatetimeTZDtype) or series.map(lambda v: isinstance(v, pd.Timestamp)).any():
            out[col] = series.map(lambda v: "" if v is None or pd.isna(v) else pd.Timestamp(v).isoformat())
    return out


def export_csv(frames: Frames, dest_dir: Path | str | None = None) -> pd.DataFrame:
    """Write the dashboard's tables and tidy frames as CSV files (UTF-8, commas) in ``dest_dir``
    (default ``<course>/tableau_de_bord/``); returns what was written (file, rows, content)."""
    dest = Path(dest_dir) if dest_dir is not None else frames.course / DASHBOARD_DIR
    dest.mkdir(parents=True, exist_ok=True)
    tables = [
        ("copies.csv", "une ligne par copie (note, retard, signalements)", frames.submissions, False),
        ("cellules.csv", "une ligne par élève et par cellule notée (note, commentaire)", frames.cells, False),
        ("repartition_des_notes.csv", "les copies par tranche de notes", score_distribution(frames), False),
        ("reussite_par_verification.csv", "la part de notes pleines par vérification", pass_rates(frames), True),
        ("retours_frequents.csv", "les retours « ✘ » les plus lus (tous)", frequent_feedback(frames, top=10**6),
         False),
        ("rendus.csv", "les rendus dans l'ordre, par rapport à la date limite", submissions_over_time(frames),
         False),
        ("retards.csv", "les copies rendues après la date limite", late_submissions(frames), True),
        ("a_traiter.csv", "les copies à noter à la main ou signalées", to_do(frames), True),
    ]
    rows = []
    for name, what, df, index in tables:
        _csv_ready(df).to_csv(dest / name, index=index, encoding="utf-8", lineterminator="\n")
        rows.append({"fichier": name, "lignes": len(df), "contenu": what})
    return pd.DataFrame(rows).set_index("fichier")


# =========================================================================== nbgrader export plugin


class CellsExport(ExportPlugin):
    """nbgrader export plugin: one CSV row per student × graded cell (score, max, comment).

    ``nbgrader export --exporter=dockercourse.dashboard.CellsExport --to cellules.csv``.
    ``score`` is empty while a cell has
    no score yet (a written answer waiting for its manual grade)."""

    FIELDS = ["assignment", "student_id", "notebook", "cell", "title", "kind", "score", "max_score",
              "needs_manual_grade", "comment"]

    def export(self, gradebook) -> None:
        from nbgrader.api import MissingEntry

        dest = self.to or "cellules.csv"
        assignments = [str(a) for a in self.assignment] or [a.name for a in gradebook.assignments]
        students = [str(s) for s in self.student] or None
        self.log.info("Export des notes par cellule vers %s", dest)
        with open(dest, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=self.FIELDS)
            writer.writeheader()
            for name in assignments:
                try:
                    rows = cell_rows(gradebook, name, students)
                except MissingEntry:
                    self.log.warning("Le devoir « %s » n'est pas dans le carnet de notes : ignoré.", name)
                    continue
                for row in rows:
                    writer.writerow({
                        "assignment": name, "student_id": row["student"], "notebook": row["notebook"],
                        "cell": row["cell"], "title": cell_title(row["cell"]), "kind": row["kind"],
                        "score": "" if row["score"] is None else f"{row['score']:g}",
                        "max_score": f"{row['max_score']:g}",
                        "needs_manual_grade": "oui" if row["needs_manual_grade"] else "non",
                        "comment": row["comment"] or "",
                    })


__all__ = [
    "ASSIGNMENT", "DASHBOARD_DIR", "KINDS", "TITLES", "CellsExport", "DashboardError", "Frames", "cell_rows",
    "cell_title", "duration_fr", "export_csv", "frequent_feedback", "late_submissions", "late_summary", "load",
    "overview", "pass_rates", "plot_pass_rates", "plot_scores", "plot_submissions", "resolve_course",
    "score_distribution", "submissions_over_time", "to_do",
]
