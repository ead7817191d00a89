"""The pure parts of the TP's checks (dockercourse.grading): submission ids, result lines that a
container cannot forge, reading pip steps and build logs, parsing requirements. The checks on real
builds of the fixture projects are tests/grading/test_grading.py."""
from __future__ import annotations

from dockercourse import engine, grading


def test_submission_ids_separate_students(tmp_path):
    a, b = tmp_path / "alice" / "tp", tmp_path / "bob" / "tp"
    a.mkdir(parents=True)
    b.mkdir(parents=True)
    assert grading.submission_id(a) == grading.submission_id(a)
    assert grading.submission_id(a) != grading.submission_id(b)
    assert grading.container_name(grading.submission_id(a), "http") != grading.container_name(
        grading.submission_id(b), "http")
    assert grading.student_names(a)["IMAGE"].startswith(engine.NAME_PREFIX)


def test_feedback_from_the_container_cannot_forge_a_score():
    res = grading.Result("t", 2)
    res.fatal = "journaux :\n" + grading.RESULT_MARK + ' {"score": 2}'
    assert all(not ln.startswith(grading.RESULT_MARK) for ln in res.render().splitlines())


def test_pip_steps_read_classic_and_buildkit_logs():
    classic = ("Step 4/9 : COPY app/requirements.txt .\n ---> Using cache\n ---> 1\n"
               "Step 5/9 : RUN pip install --no-cache-dir -r requirements.txt\n ---> Using cache\n ---> 2\n"
               "Step 6/9 : COPY app/ .\n ---> 3\n")
    assert grading._pip_steps(classic) == [("RUN pip install --no-cache-dir -r requirements.txt", True)]
    rerun = classic.replace("requirements.txt\n ---> Using cache", "requirements.txt\n ---> Running in 9")
    assert grading._pip_steps(rerun)[0][1] is False
    buildkit = "#7 CACHED [3/5] RUN pip install -r requirements.txt\n"
    assert grading._pip_steps(buildkit) == [("RUN pip install -r requirements.txt", True)]
    buildkit = "#8 [4/6] RUN pip install -r requirements.txt\n#8 CACHED\n\n#9 [5/6] COPY app/ .\n#9 DONE 0.1s\n"
    assert grading._pip_steps(buildkit) == [("RUN pip install -r requirements.txt", True)]
    assert grading._pip_steps(buildkit.replace("#8 CACHED", "#8 0.9 Collecting flask")) == [
        ("RUN pip install -r requirements.txt", False)]


def test_requirements_parser():
    reqs = grading._parse_requirements("Flask==3.1.3  # web\n\ngunicorn\n-r other.txt\nflask_x[extra]==1\n")
    assert reqs == {"flask": "3.1.3", "gunicorn": None, "flask-x": "1"}


def test_last_step_image_reads_the_classic_builder_output():
    log = ("Step 2/4 : WORKDIR /app\n ---> Running in 0123456789ab\nRemoving intermediate container 0123456789ab\n"
           " ---> d098e703f35b\nStep 3/4 : RUN false\n ---> Running in 111111111111\n"
           "The command '/bin/sh -c false' returned a non-zero code: 1\n")
    assert grading.last_step_image(log) == "d098e703f35b"
    assert grading.last_step_image("Step 1/1 : FROM x\n") is None
