"""The instructor's class dashboard (:mod:`dockercourse.dashboard`), on small gradebooks made
with nbgrader's own API in a temporary folder (no Docker, no grading run).

The synthetic class, in a course whose assignment is due on 2026-11-27 at 10:00 UTC:

* alice — on time, full marks, Q4 graded by hand (3/3) with a comment that holds a comma;
* bob — two hours late, root container (✘ lines), half of CMD, Q4 still to grade;
* carol — flagged: the kernel over-claimed two cells, a test cell was deleted; the same ✘ line
  as bob (twice in her notebook: counted once), Q4 left blank (auto 0);
* dave — the class command recorded a failure and nothing reached the gradebook.
"""
from __future__ import annotations

import contextlib
import csv
import datetime as dt
import json
import math
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from sqlalchemy.exc import SAWarning  # noqa: E402

from dockercourse import dashboard  # noqa: E402
from tests.utils.paths import ROOT

BIN = Path(sys.executable).parent
AID = NB = "tp-conteneurisation"
COURSE_ID = "conteneurisation-docker"  # nbgrader_config.py's course id
DUE = dt.datetime(2026, 11, 27, 10, 0, 0)
COMMENT = "Très clair, et juste : le noyau est partagé."
ROOT_LINE = "le conteneur ne doit pas tourner en root"
#: grade cells of the synthetic notebook: (grade_id, points, cell type, solution)
CELLS = [
    ("test_utilisateur", 1.0, "code", False),
    ("test_cmd", 2.0, "code", False),
    ("test_maison", 1.0, "code", False),  # no static title: taken from its feedback's first line
    ("q_vm_reponse", 3.0, "markdown", True),
    ("q_code", 2.0, "code", True),  # a code answer graded by hand
]


def _feedback(cell: str, score: float, points: float, fails: list[str]) -> list[str]:
    title = {"test_utilisateur": "Utilisateur non root", "test_cmd": "CMD/ENTRYPOINT en forme exec",
             "test_maison": "Ma vérification maison"}[cell]
    icon = "✅" if score >= points else ("🟡" if score else "❌")
    lines = [f"{icon} {title} : {score:g}/{points:g}\n"]
    for msg in fails:
        lines += [f"   ✘ {msg}\n", "       Attendu : autre chose\n", "       Trouvé : ceci\n"]
    return lines


def _notebook(outputs: dict[str, list[str]]) -> dict:
    cells = [{"cell_type": "markdown", "metadata": {}, "source": "# TP"}]
    for gid, points, ctype, solution in CELLS:
        meta = {"nbgrader": {"grade": True, "grade_id": gid, "points": points, "solution": solution,
                             "locked": not solution, "schema_version": 3}}
        if ctype == "markdown":
            cells.append({"cell_type": "markdown", "metadata": meta, "source": "Ma réponse."})
            continue
        out = [{"output_type": "stream", "name": "stdout", "text": outputs[gid]}] if gid in outputs else []
        cells.append({"cell_type": "code", "metadata": meta, "source": "run_check()", "outputs": out,
                      "execution_count": 1})
    return {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def make_course(root: Path, *, duedate: dt.datetime | None = DUE) -> Path:
    """A graded course root: gradebook.db, autograded notebooks, the grader's records."""
    from nbgrader.api import Gradebook

    root.mkdir(parents=True, exist_ok=True)
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}", course_id=COURSE_ID) as gb:
        gb.add_assignment(AID, **({"duedate": duedate} if duedate else {}))
        gb.add_notebook(NB, AID)
        for gid, points, ctype, solution in CELLS:
            gb.add_grade_cell(gid, NB, AID, max_score=points, cell_type=ctype)
            if solution:
                gb.add_solution_cell(gid, NB, AID)
        base = DUE  # the hand-in times do not move with the due date
        plan = {
            "alice": (base - dt.timedelta(days=1), {"test_utilisateur": 1.0, "test_cmd": 2.0, "test_maison": 1.0,
                                                    "q_vm_reponse": None, "q_code": 2.0}),
            "bob": (base + dt.timedelta(hours=2), {"test_utilisateur": 0.0, "test_cmd": 1.0, "test_maison": 0.0,
                                                   "q_vm_reponse": None, "q_code": 0.0}),
            "carol": (base - dt.timedelta(hours=3), {"test_utilisateur": 0.0, "test_cmd": 2.0, "test_maison": 1.0,
                                                     "q_vm_reponse": 0.0, "q_code": 2.0}),
        }
        for student, (when, scores) in plan.items():
            gb.add_student(student)
            gb.add_submission(AID, student, timestamp=when)
            for gid, score in scores.items():
                g = gb.find_grade(gid, NB, AID, student)
                g.auto_score = score
                g.needs_manual_grade = gid == "q_vm_reponse" and score is None
        alice_q4 = gb.find_grade("q_vm_reponse", NB, AID, "alice")
        alice_q4.manual_score, alice_q4.needs_manual_grade = 3.0, False
        gb.find_comment("q_vm_reponse", NB, AID, "alice").manual_comment = COMMENT
        gb.find_grade("q_code", NB, AID, "bob").manual_score = 1.5  # overrides the automatic 0
        gb.find_submission_notebook(NB, AID, "carol").flagged = True
        gb.db.commit()

    outputs = {
        "alice": {"test_utilisateur": _feedback("test_utilisateur", 1, 1, []),
                  "test_cmd": _feedback("test_cmd", 2, 2, []), "test_maison": _feedback("test_maison", 1, 1, [])},
        "bob": {"test_utilisateur": _feedback("test_utilisateur", 0, 1, [ROOT_LINE]),
                "test_cmd": _feedback("test_cmd", 1, 2, ["la commande de démarrage doit être en forme exec (JSON)"]),
                "test_maison": _feedback("test_maison", 0, 1, ["la maison doit tenir debout"])},
        "carol": {"test_utilisateur": _feedback("test_utilisateur", 0, 1, [ROOT_LINE, ROOT_LINE]),
                  "test_cmd": _feedback("test_cmd", 2, 2, []), "test_maison": _feedback("test_maison", 1, 1, [])},
    }
    for student, outs in outputs.items():
        folder = root / "autograded" / student / AID
        folder.mkdir(parents=True)
        (folder / f"{NB}.ipynb").write_text(json.dumps(_notebook(outs), ensure_ascii=False), encoding="utf-8")

    records = root / ".dockercourse-grading" / AID
    records.mkdir(parents=True)
    flags = {"carol": ["test_utilisateur : le noyau annonçait 1, score officiel 0",
                       "test_maison : le noyau annonçait 1, score officiel 0",
                       "cellule(s) de test supprimée(s) : test_cmd"]}
    for student in ("alice", "bob", "carol"):
        rec = {"student": student, "score": 0.0, "max": 9.0, "flags": flags.get(student, []), "seconds": 10.0,
               "status": "recorded", "error": "", "cells": {}}
        (records / f"{student}.json").write_text(json.dumps(rec, ensure_ascii=False), encoding="utf-8")
    (records / "dave.json").write_text(json.dumps({"student": "dave", "score": 0.0, "max": 0.0, "flags": [],
                                                   "status": "failed", "error": "bac à sable : délai dépassé"}))
    return root


@contextlib.contextmanager
def _venv_on_path():
    """nbgrader shells out to ``alembic`` (the venv's) when it creates a gradebook."""
    old = os.environ.get("PATH", "")
    os.environ["PATH"] = f"{BIN}{os.pathsep}{old}"
    try:
        yield
    finally:
        os.environ["PATH"] = old


@pytest.fixture(scope="session")
def template(tmp_path_factory) -> Path:
    with _venv_on_path(), warnings.catch_warnings():
        warnings.simplefilter("ignore", SAWarning)  # nbgrader's add_submission, on SQLAlchemy 2
        return make_course(tmp_path_factory.mktemp("modele") / "cours")


@pytest.fixture
def course(template, tmp_path) -> Path:
    return Path(shutil.copytree(template, tmp_path / "cours"))


def redate(course: Path, duedate: dt.datetime | None) -> Path:
    """The same class, with another due date (or none)."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id=COURSE_ID) as gb:
        gb.find_assignment(AID).duedate = duedate
        gb.db.commit()
    return course


@pytest.fixture
def frames(course) -> dashboard.Frames:
    return dashboard.load(course)


def _row(df: pd.DataFrame, **where) -> pd.Series:
    mask = pd.Series(True, index=df.index)
    for col, value in where.items():
        mask &= df[col] == value
    assert mask.sum() == 1, (where, df[mask])
    return df[mask].iloc[0]


def test_resolve_course_prefers_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKERCOURSE_COURSE", str(tmp_path))
    assert dashboard.resolve_course() == tmp_path.resolve()
    monkeypatch.setenv("DOCKERCOURSE_COURSE", str(tmp_path / "absent"))
    with pytest.raises(dashboard.DashboardError, match="n'est pas un dossier"):
        dashboard.resolve_course()


def test_resolve_course_finds_nbgrader_config_two_levels_up(tmp_path, monkeypatch):
    monkeypatch.delenv("DOCKERCOURSE_COURSE", raising=False)
    (tmp_path / "nbgrader_config.py").write_text("")
    notebook_dir = tmp_path / "notebooks" / "enseignant"
    notebook_dir.mkdir(parents=True)
    assert dashboard.resolve_course(notebook_dir) == tmp_path.resolve()
    monkeypatch.chdir(notebook_dir)  # a notebook runs in its own folder
    assert dashboard.resolve_course() == tmp_path.resolve()


def test_resolve_course_falls_back_to_this_repository(tmp_path, monkeypatch):
    monkeypatch.delenv("DOCKERCOURSE_COURSE", raising=False)
    assert dashboard.resolve_course(tmp_path) == ROOT  # no nbgrader_config.py above a bare tmp folder


def test_a_missing_gradebook_is_a_french_message_without_traceback(tmp_path):
    with pytest.raises(dashboard.DashboardError) as err:
        dashboard.load(tmp_path)
    msg = str(err.value)
    assert "Pas de carnet de notes" in msg and "python -m dockercourse grade" in msg
    assert err.value._render_traceback_() == [f"❌ {msg}"]  # what IPython shows instead of a traceback
    assert not (tmp_path / "gradebook.db").exists()  # looking did not create one


def test_an_assignment_without_submissions_is_a_french_message(course):
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id=COURSE_ID) as gb:
        for student in ("alice", "bob", "carol"):
            gb.remove_submission(AID, student)
    with pytest.raises(dashboard.DashboardError, match="Aucune copie corrigée pour le devoir « tp-conteneurisation »"):
        dashboard.load(course)


def test_an_unknown_assignment_is_a_french_message(course):
    with pytest.raises(dashboard.DashboardError, match=r"« autre » n'est pas dans le carnet.*« tp-conteneurisation »"):
        dashboard.load(course, "autre")


def test_a_file_that_is_no_gradebook_is_a_french_message(tmp_path):
    (tmp_path / "gradebook.db").write_text("pas une base SQLite")
    with pytest.raises(dashboard.DashboardError, match="n'est pas un carnet de notes nbgrader lisible"):
        dashboard.load(tmp_path)


def test_load_never_writes_to_the_gradebook(course):
    db = course / "gradebook.db"
    before = db.read_bytes()
    dashboard.load(course)
    assert db.read_bytes() == before
    import sqlite3

    with sqlite3.connect(db) as con:
        assert con.execute("SELECT id FROM course").fetchall() == [(COURSE_ID,)]  # no « default_course » added


def test_cells_frame_one_row_per_student_and_cell(frames):
    c = frames.cells
    assert len(c) == 3 * len(CELLS)
    assert list(c.columns[:10]) == ["student", "cell", "title", "kind", "score", "max_score", "needs_manual_grade",
                                    "comment", "flagged", "cell_flags"]
    assert list(c.loc[c["student"] == "alice", "cell"]) == [gid for gid, *_ in CELLS]  # the notebook's order
    kinds = dict(zip(c["cell"], c["kind"], strict=False))
    assert kinds == {"test_utilisateur": "auto", "test_cmd": "auto", "test_maison": "auto",
                     "q_vm_reponse": "written", "q_code": "manual"}
    alice_q4 = _row(c, student="alice", cell="q_vm_reponse")
    assert alice_q4["score"] == 3.0 and alice_q4["max_score"] == 3.0 and alice_q4["comment"] == COMMENT
    assert not alice_q4["needs_manual_grade"]
    bob_q4 = _row(c, student="bob", cell="q_vm_reponse")
    assert math.isnan(bob_q4["score"]) and bob_q4["needs_manual_grade"]  # not graded yet: no score at all
    bob_code = _row(c, student="bob", cell="q_code")
    assert (bob_code["auto_score"], bob_code["manual_score"], bob_code["score"]) == (0.0, 1.5, 1.5)  # manual wins
    carol_user = _row(c, student="carol", cell="test_utilisateur")
    assert carol_user["flagged"]
    assert carol_user["cell_flags"] == "test_utilisateur : le noyau annonçait 1, score officiel 0"
    assert _row(c, student="carol", cell="test_cmd")["cell_flags"] == "cellule(s) de test supprimée(s) : test_cmd"
    assert _row(c, student="carol", cell="q_code")["cell_flags"] == ""
    assert not _row(c, student="alice", cell="test_cmd")["flagged"]


def test_submissions_frame_late_flags_and_manual_grades(frames):
    s = frames.submissions.set_index("student")
    assert list(s.index) == ["alice", "bob", "carol"]
    assert frames.duedate == pd.Timestamp(DUE, tz="UTC")
    assert s.loc["bob", "total_seconds_late"] == 7200 and s.loc["bob", "late"]
    assert not s.loc["alice", "late"] and not s.loc["carol", "late"]
    assert s.loc["bob", "timestamp"] == pd.Timestamp(DUE + dt.timedelta(hours=2), tz="UTC")
    assert s.loc["alice", "score"] == 9.0 and s.loc["alice", "max_score"] == 9.0
    assert s.loc["bob", "score"] == 2.5  # 0 + 1 + 0 + (Q4 not graded: 0) + 1.5 by hand
    assert list(s["needs_manual_grade"]) == [False, True, False]
    assert list(s["nbgrader_flagged"]) == [False, False, True] and list(s["flagged"]) == [False, False, True]
    assert len(s.loc["carol", "grader_flags"]) == 3 and s.loc["alice", "grader_flags"] == []
    assert frames.records["dave"]["status"] == "failed"


def test_cell_titles_static_then_feedback_then_grade_id(frames):
    assert dashboard.cell_title("test_utilisateur") == "Utilisateur non root"
    assert dashboard.cell_title("test_x", "🟡 Une vérification : 0.5/2") == "Une vérification"
    assert dashboard.cell_title("test_x", "✅ .dockerignore : .git hors du contexte : 2/2") == \
        ".dockerignore : .git hors du contexte"
    assert dashboard.cell_title("test_x", "Sans icône : 1/1") == "Sans icône"
    assert dashboard.cell_title("test_x", "Q1 : réponse enregistrée") == "test_x"
    assert frames.titles["test_maison"] == "Ma vérification maison"  # read in the autograded notebooks
    assert frames.titles["q_code"] == "q_code"


def test_overview_says_it_in_french(frames):
    text = dashboard.overview(frames)
    assert text.splitlines() == [
        "Devoir « tp-conteneurisation » : 3 copies corrigées, notées sur 9 points.",
        "Moyenne 5,5, médiane 5, de 2,5 à 9.",
        "1 copie en retard · 1 copie signalée · 1 copie attend une note à la main : "
        "Q4 · conteneur ou VM (réponse écrite).",
    ]


def test_score_distribution_and_its_histogram(frames):
    table = dashboard.score_distribution(frames)
    assert list(table["tranche"]) == [f"[{i} ; {i + 1}[" for i in range(8)] + ["[8 ; 9]"]
    assert table["copies"].sum() == 3
    counts = table.set_index("tranche")["copies"].to_dict()
    assert (counts["[2 ; 3["], counts["[5 ; 6["], counts["[8 ; 9]"]) == (1, 1, 1)  # the last bracket holds 9
    fig = dashboard.plot_scores(frames)
    ax = fig.axes[0]
    assert [p.get_height() for p in ax.patches] == list(table["copies"])
    assert ax.get_xlabel() == "note (sur 9 points)" and ax.get_ylabel() == "copies"
    assert ax.get_title() == "Répartition des notes (3 copies)"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["médiane : 5"]


def test_pass_rates_put_the_lesson_that_did_not_land_on_top(frames):
    table = dashboard.pass_rates(frames)
    assert list(table.index) == ["Utilisateur non root", "CMD en forme exec, gunicorn", "Ma vérification maison",
                                 "q_code", "Q4 · conteneur ou VM (réponse écrite)"]  # ties: the notebook's order
    assert table.loc["Utilisateur non root", "réussite (%)"] == 33
    assert table.loc["q_code", "réussite (%)"] == 67  # bob's 1.5/2 by hand is not full marks
    q4 = table.loc["Q4 · conteneur ou VM (réponse écrite)"]
    # last, as it still waits for a grade: alice 3/3 by hand, carol's blank answer 0, bob's to grade
    assert (q4["copies notées"], q4["notes pleines"], q4["à noter"], q4["réussite (%)"]) == (2, 1, 1, 50)
    assert table.loc["CMD en forme exec, gunicorn", "cellule"] == "test_cmd"
    assert table.loc["CMD en forme exec, gunicorn", "points"] == "2"


def test_pass_rate_bars_lowest_on_top(frames):
    table = dashboard.pass_rates(frames)
    fig = dashboard.plot_pass_rates(frames)
    ax = fig.axes[0]
    bars = ax.patches
    assert len(bars) == len(table)
    assert [b.get_width() for b in bars] == list(table["réussite (%)"])
    assert [t.get_text() for t in ax.get_yticklabels()] == list(table.index)
    top = min(bars, key=lambda b: b.get_y())  # the y axis is inverted: the smallest y is drawn on top
    assert ax.yaxis_inverted() and top.get_width() == 33
    assert bars[-1].get_hatch() == "//" and not bars[0].get_hatch()  # Q4 still waits for a grade
    labels = [t.get_text() for t in ax.texts]
    assert labels[0] == "33 %" and labels[-1] == "50 % (1 à noter)"
    assert ax.get_xlabel() == "copies avec la note pleine (%)"


def test_frequent_feedback_counts_each_line_once_per_copy(frames):
    table = dashboard.frequent_feedback(frames, top=2)
    assert list(table.index) == [1, 2]
    first = table.loc[1]
    assert (first["vérification"], first["retour"], first["copies"]) == ("Utilisateur non root", f"✘ {ROOT_LINE}", 2)
    assert table.loc[2, "vérification"] == "CMD en forme exec, gunicorn"  # ties: in the notebook's order
    everything = dashboard.frequent_feedback(frames)
    assert len(everything) == 3 and list(everything["copies"]) == [2, 1, 1]


def test_submissions_over_time_relative_to_the_due_date(frames):
    table = dashboard.submissions_over_time(frames)
    assert list(table["élève"]) == ["alice", "carol", "bob"]
    assert list(table["écart à la date limite (s)"]) == [-86400.0, -10800.0, 7200.0]
    assert list(table["en retard"]) == [False, False, True] and list(table["copies rendues"]) == [1, 2, 3]
    fig = dashboard.plot_submissions(frames)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "heures avant (−) ou après (+) la date limite"
    assert ax.get_ylabel() == "copies rendues" and ax.get_title() == "Rendus au fil du temps"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["à l'heure", "en retard", "date limite"]
    late_points = ax.collections[1].get_offsets()
    assert late_points.tolist() == [[2.0, 3.0]]  # bob, 2 hours after, the third copy
    assert ax.lines[-1].get_xdata()[0] == 0  # the due date's line


def test_submissions_without_a_due_date(course):
    frames = dashboard.load(redate(course, None))
    assert frames.duedate is None
    table = dashboard.submissions_over_time(frames)
    assert table["écart à la date limite (s)"].isna().all() and not table["en retard"].any()
    ax = dashboard.plot_submissions(frames).axes[0]
    assert ax.get_xlabel().startswith("date du rendu (UTC)") and ax.get_legend() is None
    assert dashboard.late_summary(frames).startswith("Le devoir n'a pas de date limite")
    assert dashboard.late_submissions(frames).empty
    assert "pas de date limite dans le carnet de notes" in dashboard.overview(frames).lower()


def test_late_submissions_table_and_summary(frames):
    table = dashboard.late_submissions(frames)
    assert list(table.index) == ["bob"]
    row = table.loc["bob"]
    assert row["rendu le (UTC)"] == "27/11/2026 12:00:00" and row["date limite (UTC)"] == "27/11/2026 10:00:00"
    assert row["retard"] == "2 h 00 min" and row["pénalité"] == "0" and row["note"] == "2,5/9"
    assert dashboard.late_summary(frames) == "1 copie rendue après la date limite : bob."


def test_nobody_late(course):
    frames = dashboard.load(redate(course, DUE + dt.timedelta(days=30)))
    assert dashboard.late_submissions(frames).empty
    assert dashboard.late_summary(frames) == "Aucune copie en retard : tout le monde a rendu avant la date limite."
    xlabel = dashboard.plot_submissions(frames).axes[0].get_xlabel()
    assert xlabel == "jours avant (−) ou après (+) la date limite"


def test_an_extension_moves_the_students_due_date(course):
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id=COURSE_ID) as gb:
        gb.find_submission(AID, "bob").extension = dt.timedelta(hours=3)
        gb.db.commit()
    frames = dashboard.load(course)
    bob = _row(frames.submissions, student="bob")
    assert not bob["late"] and bob["duedate"] == pd.Timestamp(DUE + dt.timedelta(hours=3), tz="UTC")
    assert dashboard.late_summary(frames).startswith("Aucune copie en retard")
    assert _row(dashboard.submissions_over_time(frames), **{"élève": "bob"})["écart à la date limite (s)"] == -3600


@pytest.mark.parametrize("seconds, text", [(0, "0 s"), (45.4, "45 s"), (185, "3 min 05 s"), (7500, "2 h 05 min"),
                                           (86400 * 3, "3 j"), (86400 * 3 + 4 * 3600 + 59, "3 j 4 h")])
def test_durations_in_french(seconds, text):
    assert dashboard.duration_fr(seconds) == text


def test_to_do_lists_flagged_then_manual_grades_with_french_reasons(frames):
    table = dashboard.to_do(frames)
    assert list(table.index) == ["carol", "dave", "bob"]  # flagged first, then what waits for a grade
    carol = table.loc["carol"]
    assert carol["signalement"] == ("le noyau annonçait plus que le score officiel (2 vérifications); "
                                    "cellule(s) de test supprimée(s) : test_cmd")
    assert carol["à noter à la main"] == "—" and carol["note"] == "5/9"
    assert table.loc["dave", "signalement"] == "correction non enregistrée : bac à sable : délai dépassé"
    assert table.loc["bob", "à noter à la main"] == "Q4 · conteneur ou VM (réponse écrite)"
    assert table.loc["bob", "signalement"] == "—"
    assert "alice" not in table.index


def test_to_do_names_a_single_kernel_claim_and_a_formgrader_flag(course):
    from nbgrader.api import Gradebook

    rec = course / ".dockercourse-grading" / AID / "carol.json"
    data = json.loads(rec.read_text())
    data["flags"] = ["test_utilisateur : le noyau annonçait 1, score officiel 0"]
    rec.write_text(json.dumps(data))
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id=COURSE_ID) as gb:
        gb.find_submission_notebook(NB, AID, "alice").flagged = True
        gb.db.commit()
    table = dashboard.to_do(dashboard.load(course))
    assert table.loc["carol", "signalement"] == "le noyau annonçait plus que le score officiel (Utilisateur non root)"
    assert table.loc["alice", "signalement"] == "marquée dans nbgrader (formgrader)"


def test_export_csv_writes_the_same_tables(frames, tmp_path):
    dest = tmp_path / "export"
    written = dashboard.export_csv(frames, dest)
    assert list(written.index) == ["copies.csv", "cellules.csv", "repartition_des_notes.csv",
                                   "reussite_par_verification.csv", "retours_frequents.csv", "rendus.csv",
                                   "retards.csv", "a_traiter.csv"]
    assert sorted(p.name for p in dest.iterdir()) == sorted(written.index)
    for name, rows in written["lignes"].items():
        with open(dest / name, newline="", encoding="utf-8") as f:
            assert len(list(csv.DictReader(f))) == rows, name

    with open(dest / "cellules.csv", newline="", encoding="utf-8") as f:
        cells = list(csv.DictReader(f))
    q4 = next(r for r in cells if r["student"] == "alice" and r["cell"] == "q_vm_reponse")
    assert q4["comment"] == COMMENT and q4["score"] == "3.0" and q4["needs_manual_grade"] == "non"
    with open(dest / "copies.csv", newline="", encoding="utf-8") as f:
        subs = {r["student"]: r for r in csv.DictReader(f)}
    assert subs["bob"]["late"] == "oui" and subs["bob"]["timestamp"] == "2026-11-27T12:00:00+00:00"
    assert subs["carol"]["grader_flags"].count(" | ") == 2
    with open(dest / "a_traiter.csv", newline="", encoding="utf-8") as f:
        assert next(csv.reader(f)) == ["élève", "note", "à noter à la main", "signalement"]
    with open(dest / "reussite_par_verification.csv", newline="", encoding="utf-8") as f:
        assert next(csv.DictReader(f))["vérification"] == "Utilisateur non root"
    assert "True" not in (dest / "copies.csv").read_text(encoding="utf-8")


def test_export_csv_defaults_to_the_course_dashboard_folder(frames):
    dashboard.export_csv(frames)
    assert (frames.course / "tableau_de_bord" / "copies.csv").is_file()


def test_cells_export_through_the_nbgrader_cli(course):
    exporter = "dockercourse.dashboard.CellsExport"
    shutil.copy(ROOT / "nbgrader_config.py", course)  # the course's real configuration
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
               NBGRADER_EXCHANGE=str(course / ".state" / "exchange"))
    proc = subprocess.run([str(BIN / "nbgrader"), "export", f"--exporter={exporter}", "--to", "cellules.csv"],
                          cwd=course, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    with open(course / "cellules.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3 * len(CELLS)
    assert list(rows[0]) == dashboard.CellsExport.FIELDS
    by = {(r["student_id"], r["cell"]): r for r in rows}
    assert by["alice", "q_vm_reponse"]["comment"] == COMMENT and by["alice", "q_vm_reponse"]["score"] == "3"
    assert by["bob", "q_vm_reponse"]["score"] == "" and by["bob", "q_vm_reponse"]["needs_manual_grade"] == "oui"
    assert by["bob", "q_code"]["score"] == "1.5" and by["bob", "q_code"]["max_score"] == "2"
    assert by["carol", "test_utilisateur"]["kind"] == "auto" and by["carol", "q_vm_reponse"]["kind"] == "written"


def test_the_notebook_ignores_only_the_timed_table():
    """Under nbval, text outputs must not depend on when the class was graded: only the late
    table (hand-in times, delays) is left out of the comparison, and it is tested above."""
    nb = json.loads((ROOT / "notebooks" / "enseignant" / "tableau_de_bord.ipynb").read_text(encoding="utf-8"))
    code = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
    ignored = [src for src in code if "NBVAL_IGNORE_OUTPUT" in src]
    assert len(ignored) == 1 and "dashboard.late_submissions(classe)" in ignored[0]
    called = {name for src in code for name in dashboard.__all__ if f"dashboard.{name}(" in src}
    assert called >= {"load", "resolve_course", "overview", "plot_scores", "pass_rates", "plot_pass_rates",
                      "frequent_feedback", "plot_submissions", "late_summary", "late_submissions", "to_do",
                      "export_csv"}
