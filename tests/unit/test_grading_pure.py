"""The grader's pure logic, without Docker: what files a notebook writes, what a
container listens on, how a written answer is scored, what counts as tampering."""
from __future__ import annotations

import nbformat
import pytest

from dockercourse.grading import answers, classroom, containers, protocol, snapshot
from tests.utils.corpus import ROOT, solved
from tests.utils.paths import FIXTURES


def _nb(*sources: str):
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])


def test_files_from_notebook_reads_writefile_cells_without_running_them():
    nb = _nb("%%writefile Dockerfile\nFROM python:3.13-slim", "print('pas un fichier')",
             "%%writefile app/app.py\nimport os", "%%writefile -a app/app.py\nprint(1)\n",
             "%%writefile ../../etc/passwd\npirate", "%%writefile /tmp/x\npirate", "%%writefile notes.txt\nnon",
             "%%writefile Dockerfile\nFROM python:3.13-slim\nUSER 10001")
    files = snapshot.files_from_notebook(nb)
    assert files == {"Dockerfile": b"FROM python:3.13-slim\nUSER 10001\n", "app/app.py": b"import os\nprint(1)\n"}


def test_files_from_the_reference_notebook_are_the_reference_project():
    files = snapshot.files_from_notebook(solved())
    ref = FIXTURES / "projects" / "reference"
    for rel, data in files.items():
        assert data == (ref / rel).read_bytes(), rel


def test_snapshot_refuses_oversized_projects_without_reading_them(tmp_path):
    (tmp_path / "app").mkdir()
    (tmp_path / "Dockerfile").write_text("FROM python:3.13-slim\n")
    with open(tmp_path / "app" / "lourd.bin", "wb") as fh:
        fh.truncate(int((snapshot.MAX_CONTEXT_MB + 1) * 1e6))
    (tmp_path / "app" / "lien").symlink_to("/etc/shadow")
    snap = snapshot.Snapshot.of(tmp_path)
    assert snap.oversize and "app/lourd.bin" not in snap.files and "app/lien" not in snap.files
    assert snap.size_mb > snapshot.MAX_CONTEXT_MB


def test_snapshot_hash_follows_content_not_mtime(tmp_path):
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "app.py").write_text("a = 1\n")
    h1 = snapshot.Snapshot.of(tmp_path).hash()
    (tmp_path / "app" / "app.py").write_text("a = 1\n")
    assert snapshot.Snapshot.of(tmp_path).hash() == h1
    (tmp_path / "app" / "app.py").write_text("a = 2\n")
    assert snapshot.Snapshot.of(tmp_path).hash() != h1


PROC_NET_TCP = """  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F40 00000000:0000 0A 00000000:00000000 00:00000000 00000000 10001        0 1 1 0000
   1: 00000000:1388 00000000:0000 0A 00000000:00000000 00:00000000 00000000 10001        0 2 1 0000
   2: 0100007F:1F40 0100007F:C000 01 00000000:00000000 00:00000000 00000000 10001        0 3 1 0000
"""


def test_listening_sockets_tell_why_an_app_cannot_be_reached():
    socks = containers.parse_listening(PROC_NET_TCP)
    assert socks == {("127.0.0.1", 8000), ("0.0.0.0", 5000)}
    assert containers.wrong_listen({("127.0.0.1", 8000)}) == "loopback"
    assert containers.wrong_listen({("0.0.0.0", 5000)}) == "port"
    assert containers.wrong_listen({("0.0.0.0", 8000)}) == ""
    assert containers.wrong_listen({("::", 8000), ("127.0.0.1", 8000)}) == ""
    assert containers.wrong_listen(None) == "" and containers.wrong_listen(set()) == ""


def test_wait_until_returns_the_value_or_gives_up():
    calls = []
    value, secs = containers.wait_until(lambda: calls.append(1) or (len(calls) >= 3 and "prêt"), 5, interval=0.01)
    assert value == "prêt" and len(calls) == 3
    value, secs = containers.wait_until(lambda: None, 0.05, interval=0.01)
    assert value is None and secs >= 0.05


def test_result_lines_round_trip_and_ignore_garbage():
    res = protocol.Result("Essai", 2)
    res.ok("un point", 1)
    res.fail("l'autre", "a", "b", "c", 1)
    text = "bruit\n" + protocol.result_line(res.payload("essai")) + "\n@@DOCKERCOURSE-RESULT@@ {pas du json\n"
    got = protocol.read_results(text)
    assert len(got) == 1 and got[0]["score"] == 1.0 and "À faire : c" in got[0]["text"]


TEST_Q1 = '''note = 0.0
if not isinstance(reponse_memoire, str) or not reponse_memoire.strip():
    print("sans réponse")
if "cgroup" in reponse_memoire.lower():
    note = 1.0
note
'''


@pytest.mark.parametrize("answer,score", [("les cgroups", 1.0), ("la RAM", 0.0), (None, 0.0), (3, 0.0)])
def test_written_answers_are_scored_like_nbgrader(answer, score):
    names = answers.names_read(TEST_Q1)
    assert names == ["reponse_memoire"]
    got, text = answers.score_cell(TEST_Q1, {"reponse_memoire": answer} if answer is not None else {}, 1)
    assert got == score


def test_a_test_cell_that_prints_on_stderr_scores_zero():
    got, _ = answers.score_cell("import sys\nprint('x', file=sys.stderr)\n1.0", {}, 1)
    assert got == 0.0
    assert answers.score_cell("x = 1", {}, 2)[0] == 2.0  # no error, no number: full points


def test_tampering_is_named_per_cell(tmp_path):
    import shutil

    shutil.copytree(ROOT / "source", tmp_path / "source")
    shutil.copytree(ROOT / "release", tmp_path / "release")
    spec = classroom.Assignment(tmp_path, "tp-conteneurisation")
    assert spec.tampering(solved()) == []
    nb = solved()
    dup = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "test_cmd"][0]
    nb.cells.append(nbformat.from_dict(dict(dup)))
    nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") != "test_http"]
    for c in nb.cells:
        if c.metadata.get("nbgrader", {}).get("grade_id") == "test_q_noyau":
            c.source = "1.0"
    notes = " | ".join(spec.tampering(nb))
    assert "supprimée(s) : test_http" in notes and "dupliquée(s) : test_cmd" in notes
    assert "modifiée(s) (restaurées) : test_q_noyau" in notes
    assert set(spec.points) == set(__import__("dockercourse.grading", fromlist=["CHECKS"]).CHECKS)
    assert spec.answer_sources(solved())[0].startswith("# Q1")


@pytest.mark.parametrize("seconds, text", [(0.0, "—"), (-3.0, "—"), (2.6, "3 s"), (600, "10 min"),
                                           (3 * 3600, "3 h"), (3 * 86400, "3 j")])
def test_lateness_reads_like_a_teacher_would_say_it(seconds, text):
    assert classroom.late_text(seconds) == text


def test_the_summary_shows_who_handed_in_late(capsys):
    rows = [{"student": "alice", "score": 27.0, "max": 30.0, "seconds": 20.0, "flags": [], "status": "recorded"},
            {"student": "bob", "score": 25.0, "max": 30.0, "seconds": 21.0, "flags": [], "status": "recorded",
             "late_s": 600.0}]
    classroom.print_summary(rows)
    out = capsys.readouterr().out
    assert "retard" in out.splitlines()[1]
    assert [ln.split()[4] for ln in out.splitlines() if ln.startswith(("alice", "bob"))] == ["—", "10"]
    assert "2 copie(s), moyenne 26/30, 0 signalée(s), 1 en retard, 0 non enregistrée(s)." in out


def test_the_summary_writes_decimal_commas(capsys):
    rows = [{"student": "alice", "score": 26.5, "max": 30.0, "seconds": 20.34, "flags": [], "status": "recorded"},
            {"student": "bob", "score": 25.0, "max": 30.0, "seconds": 21.0, "flags": [], "status": "recorded"}]
    classroom.print_summary(rows)
    out = capsys.readouterr().out
    alice = next(ln for ln in out.splitlines() if ln.startswith("alice"))
    assert "26,5/30" in alice and "20,3 s" in alice
    assert "moyenne 25,8/30" in out


def test_the_probe_base_serves_requirements_that_are_exactly_the_pins():
    """The probe base has the TP's pins installed: a requirements file that asks for exactly them
    (comments, blanks, case and separators aside) uses it; anything else is installed for real."""
    from dockercourse.grading import probe as checks

    pins = "".join(f"{k}=={v}\n" for k, v in checks.REQUIRED_PINS.items())
    assert checks.pins_only(pins)
    assert checks.pins_only("# dépendances\n\n" + pins.upper().replace("==", " == ") + "  # fin\n")
    assert not checks.pins_only(pins + "requests==2.32.0\n")
    assert not checks.pins_only(pins.replace("==", ">="))
    assert not checks.pins_only("flask\ngunicorn\n")
    assert not checks.pins_only("--index-url https://example.org/simple\n" + pins)
    assert not checks.pins_only(pins.replace("flask", "flask[async]"))
    assert not checks.pins_only(pins.splitlines()[0])
    a, b = checks.probe_base_tag("sha256:aaa"), checks.probe_base_tag("sha256:bbb")
    assert a != b and a.startswith(checks.PROBE_BASE_REPO + ":")


def test_an_unhealthy_status_counts_only_for_probes_after_the_app_answered():
    """Probes that failed while a loaded machine was still starting the app do not make its
    HEALTHCHECK fail: only the image's `retries` last probes, all failed after the app answered."""
    from dockercourse.grading import check_app as checks

    t = checks._docker_time("2026-12-05T07:43:07.123456789Z")
    assert t == pytest.approx(checks._docker_time("2026-12-05T08:43:07.123456+01:00"))
    assert checks._docker_time("hier") is None

    def log(*codes_and_seconds):
        return [{"Start": f"2026-12-05T07:43:{s:02d}.5Z", "ExitCode": c} for c, s in codes_and_seconds]

    ready = checks._docker_time("2026-12-05T07:43:10Z")
    assert checks.failed_since(log((1, 11), (1, 12), (1, 13)), ready, 3)
    assert not checks.failed_since(log((1, 8), (1, 9), (1, 11)), ready, 3)  # two of them before the app answered
    assert not checks.failed_since(log((1, 11), (0, 12), (1, 13)), ready, 3)
    assert not checks.failed_since(log((1, 11), (1, 12)), ready, 3)
    assert checks.failed_since(log(*[(1, s) for s in range(11, 16)]), ready, 10)  # Docker keeps five


def test_an_access_line_that_reaches_docker_logs_late_still_counts(monkeypatch):
    """gunicorn writes the access line after the response, then the engine copies it into its log:
    on a loaded machine it reached ``docker logs`` more than 2 s after the request (CI, stop 23). The
    check waits for it up to LOG_WAIT_S (a clock that only moves when the check sleeps); an app
    without an access log still loses the item after that wait."""
    from types import SimpleNamespace

    from dockercourse import waiting
    from dockercourse.grading import check_app as checks
    from dockercourse.grading.protocol import Result

    clock = SimpleNamespace(now=0.0)
    monkeypatch.setattr(waiting, "time", SimpleNamespace(monotonic=lambda: clock.now,
                                                         sleep=lambda s: setattr(clock, "now", clock.now + s)))
    asked = []
    monkeypatch.setattr(checks, "http_get", lambda url, *a, **k: asked.append(url) or (200, "{}"))

    def app_logging_after(delay):
        def logs(stdout=True, stderr=True):
            lines = "[INFO] Booting worker\n" if stderr else ""
            if stdout and delay is not None and clock.now >= delay:
                lines += f'"GET {asked[-1].split(":8000")[-1]} HTTP/1.1" 200 16\n'
            return lines.encode()
        return SimpleNamespace(base="http://127.0.0.1:8000", ctr=SimpleNamespace(logs=logs))

    for delay, passed in ((0.0, True), (4.0, True), (checks.LOG_WAIT_S - 0.5, True), (None, False)):
        clock.now = 0.0
        monkeypatch.setattr(checks, "_answering_app", lambda res, ctx, d=delay: app_logging_after(d))
        res = Result("Journaux sur la sortie standard", 1)
        checks.check_logs(res, ctx=None)
        assert res.score == (1 if passed else 0.5), (delay, res.render())
        assert "verification=" in asked[-1]
        waited = res.timings["access_line_s"]
        assert waited == pytest.approx(delay if passed else checks.LOG_WAIT_S, abs=0.21), (delay, waited)


def test_the_apps_checks_run_last_and_together():
    from dockercourse.grading import checks

    assert checks.ORDER[-len(checks.APP_CHECKS):] == list(checks.APP_CHECKS)
    assert checks.ORDER[-1] == "arret" and sorted(checks.ORDER) == sorted(checks.CHECKS)
    assert list(checks.CHECKS) == list(checks.LISTED)  # listed in the TP's order, whichever module holds each


def test_builds_keep_the_network_of_an_offline_sandbox(monkeypatch):
    """In a sandbox whose only interface is lo, the grader builds with the default network, as the
    student's own `docker build` does (BuildKit keys a RUN step on it); elsewhere the offline
    stand-in builds with --network none."""
    from dockercourse.grading import build

    monkeypatch.delenv(build.OFFLINE_SANDBOX_ENV, raising=False)
    assert build.build_network_none(True) and not build.build_network_none(False)
    monkeypatch.setenv(build.OFFLINE_SANDBOX_ENV, "1")
    assert not build.build_network_none(True)


def test_a_port_set_through_a_variable_counts_as_named():
    """Heroku's and Render's convention, `--bind 0.0.0.0:$PORT` with ENV PORT=8000, names the port."""
    from dockercourse.grading import check_image as checks

    assert checks.binds_app_port(["gunicorn", "--bind", "0.0.0.0:8000", "app:app"], [])
    assert checks.binds_app_port(["/bin/sh", "-c", "gunicorn --bind 0.0.0.0:$PORT app:app"], ["PORT=8000"])
    assert checks.binds_app_port(["sh", "-c", "gunicorn -b :${PORT} app:app"], ["PATH=/usr/bin", "PORT=8000"])
    assert not checks.binds_app_port(["/bin/sh", "-c", "gunicorn --bind 0.0.0.0:$PORT app:app"], ["PORT=5000"])
    assert not checks.binds_app_port(["gunicorn", "app:app"], ["PORT=8000"])


def test_a_notebook_cut_by_the_host_says_which_cells_did_not_run():
    """The host ended the notebook phase (a kernel starved by the student's fork bomb): the cells
    that ran keep their outputs, every ungraded code cell after them says it did not run, graded
    cells wait for their official result, and the metadata says where it stopped."""
    from dockercourse.grading.feedback import NOT_RUN, mark_cut

    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("print(1)", execution_count=1,
                                  outputs=[nbformat.v4.new_output("stream", name="stdout", text="1\n")]),
        nbformat.v4.new_markdown_cell("texte"),
        nbformat.v4.new_code_cell("!docker run …"),  # was running when the host ended the phase
        nbformat.v4.new_code_cell("check()", metadata={"nbgrader": {"grade": True, "grade_id": "test_http"}}),
        nbformat.v4.new_code_cell("print(2)"),
    ])
    nb = nbformat.reads(nbformat.writes(nb), as_version=4)  # as the host reads it back
    mark_cut(nb, None, 60)
    not_run = NOT_RUN.format(budget=60)
    assert nb.metadata["dockercourse_feedback_cut"] == {"budget_s": 60, "cell": 2}
    assert [c.get("outputs") and c.outputs[0].get("text") for c in nb.cells] == ["1\n", None, not_run, [], not_run]
    nb2 = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("a"), nbformat.v4.new_code_cell("b")])
    mark_cut(nb2, None, 60)  # nothing ran (the kernel never answered): from the first code cell
    assert nb2.metadata["dockercourse_feedback_cut"]["cell"] == 0 and nb2.cells[1].outputs[0].text == not_run


def test_a_students_traceback_is_quoted_with_a_french_header():
    """A probe or an app that crashed: its frames and error line stay (they name the student's file),
    Python's English header, which reads like the grader's own crash, does not."""
    printed = ('Traceback (most recent call last):\n  File "<string>", line 1, in <module>\n'
               "urllib.error.URLError: <urlopen error [Errno 111] Connection refused>")
    quoted = containers.in_french(printed)
    assert "Traceback" not in quoted
    assert quoted.startswith("Erreur Python (appels, le plus récent en dernier) :\n")
    assert quoted.endswith("Connection refused>") and 'File "<string>", line 1' in quoted
    assert containers.in_french("aucune erreur") == "aucune erreur"
