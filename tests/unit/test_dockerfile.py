"""How the grader reads a Dockerfile before building it (dockercourse.grading.dockerfile):
``FROM`` resolved as BuildKit resolves it, and the ``# syntax=`` directive an offline grader
cannot pull. Pure: no daemon."""

from __future__ import annotations

import pytest

from dockercourse.grading import build, dockerfile
from tests.utils.paths import FIXTURES

#: ``docker init``'s Python Dockerfile (Docker Desktop 4.x), adapted to the TP: Python 3.13,
#: requirements under app/, gunicorn on port 8000.
DOCKER_INIT = """\
# syntax=docker/dockerfile:1

# Comments are provided throughout this file to help you get started.
# If you need more help, visit the Dockerfile reference guide at
# https://docs.docker.com/go/dockerfile-reference/

ARG PYTHON_VERSION=3.13
FROM python:${PYTHON_VERSION}-slim as base

# Prevents Python from writing pyc files.
ENV PYTHONDONTWRITEBYTECODE=1
ENV PYTHONUNBUFFERED=1

WORKDIR /app

ARG UID=10001
RUN adduser \\
    --disabled-password \\
    --gecos "" \\
    --home "/nonexistent" \\
    --shell "/sbin/nologin" \\
    --no-create-home \\
    --uid "${UID}" \\
    appuser

RUN --mount=type=cache,target=/root/.cache/pip \\
    --mount=type=bind,source=app/requirements.txt,target=requirements.txt \\
    python -m pip install -r requirements.txt

USER appuser
COPY app/ .
EXPOSE 8000
CMD gunicorn 'app:app' --bind=0.0.0.0:8000
"""


def _base(text: str, **args: str) -> str | None:
    return dockerfile.final_base(text, args or None)


@pytest.mark.parametrize(("text", "base"), [
    ("FROM python:3.13-slim\n", "python:3.13-slim"),
    (DOCKER_INIT, "python:3.13-slim"),
    ("ARG PY=3.13\nFROM python:${PY}-slim\n", "python:3.13-slim"),
    ("ARG PY=3.13\nFROM python:$PY-slim\n", "python:3.13-slim"),
    ("ARG PY\nFROM python:${PY:-3.13}-slim\n", "python:3.13-slim"),
    ("ARG PY=\nFROM python:${PY:-3.13}-slim\n", "python:3.13-slim"),
    ("ARG PY=\nFROM python:${PY-3.12}-slim\n", "python:-slim"),  # set but empty: `-` keeps it
    ("FROM python:${PY:-3.13}-slim\n", "python:3.13-slim"),
    ("ARG BASE=python:3.13-slim\nFROM $BASE\n", "python:3.13-slim"),
    ("ARG V=3.13\nARG BASE=python:${V}-slim\nFROM ${BASE} AS run\n", "python:3.13-slim"),
    ('ARG V="3.13"\nFROM "python:${V}-slim"\n', "python:3.13-slim"),
    ("ARG FULL=3.13.5\nFROM python:${FULL%.*}-slim\n", "python:3.13-slim"),
    ("ARG IMG=docker.io/library/python:3.13-slim\nFROM ${IMG#docker.io/library/}\n", "python:3.13-slim"),
    ("ARG DEBUG\nFROM python:3.13-slim${DEBUG:+-debug}\n", "python:3.13-slim"),
    ("FROM --platform=$BUILDPLATFORM python:3.13-slim AS build\nFROM build\n", "python:3.13-slim"),
    ("  from   python:3.13-slim   AS   Build\nFROM build AS final\nFROM final\n", "python:3.13-slim"),
    ("FROM python:3.13 AS build\nRUN pip wheel -r r.txt\nFROM python:3.13-slim\nCOPY --from=build /w /w\n",
     "python:3.13-slim"),
    ("FROM python:3.13-slim AS build\nFROM python:3.13-alpine\nCOPY --from=build /w /w\n", "python:3.13-alpine"),
    ("FROM scratch\n", "scratch"),
    ("# un commentaire\nARG V=3.12\n\nFROM python:${V}-slim\nARG V=3.13\nFROM python:${V}-slim\n",
     "python:3.12-slim"),  # an ARG after the first FROM does not reach later FROM lines
    ("FROM \\\n  python:3.13-slim \\\n  AS base\n", "python:3.13-slim"),
    ("# escape=`\nARG V=3.13\nFROM python:${V}-slim `\n  AS base\n", "python:3.13-slim"),
    ("RUN echo\n", None),
    ("", None),
])
def test_from_is_resolved_like_buildkit(text, base):
    assert _base(text) == base


def test_build_args_override_the_defaults():
    text = "ARG PYTHON_VERSION=3.12\nFROM python:${PYTHON_VERSION}-slim\n"
    assert _base(text) == "python:3.12-slim"
    assert _base(text, PYTHON_VERSION="3.13") == "python:3.13-slim"
    assert _base("ARG TAG\nFROM python:${TAG}\n", TAG="3.13-slim") == "python:3.13-slim"


def test_a_required_variable_left_unset_keeps_the_line_as_written():
    found = dockerfile.stages("ARG V\nFROM python:${V:?obligatoire}-slim\n")
    assert found[0].image == "python:${V:?obligatoire}-slim"
    with pytest.raises(dockerfile.UnresolvedVariable):
        dockerfile.expand("${V:?obligatoire}", {})


def test_stages_keep_their_names_and_parents():
    text = ("ARG PY=3.13\nFROM python:${PY}-slim AS base\nRUN true\nFROM base AS deps\nRUN true\n"
            "FROM python:3.13 AS outils\nFROM deps\n")
    found = dockerfile.stages(text)
    assert [(s.line, s.written, s.image, s.name, s.parent) for s in found] == [
        (2, "python:${PY}-slim", "python:3.13-slim", "base", None), (4, "base", "base", "deps", 0),
        (6, "python:3.13", "python:3.13", "outils", None), (7, "deps", "deps", "", 1)]
    assert [s.base for s in found] == ["python:3.13-slim", "python:3.13-slim", "python:3.13", "python:3.13-slim"]
    assert build.base_images(text) == ["python:3.13-slim", "python:3.13"]


def test_heredoc_bodies_are_not_instructions():
    text = ("# syntax=docker/dockerfile:1\nFROM python:3.13-slim AS base\nRUN <<EOF\nset -e\nFROM pirate\n"
            "useradd appuser\nEOF\nCOPY <<-'CONF' /etc/app.conf\n\tFROM x\n\tCONF\nFROM base\n")
    assert [(w, a) for _, w, a in dockerfile.instructions(text)] == [
        ("FROM", "python:3.13-slim AS base"), ("RUN", "<<EOF"), ("COPY", "<<-'CONF' /etc/app.conf"),
        ("FROM", "base")]
    assert _base(text) == "python:3.13-slim"


@pytest.mark.parametrize(("ref", "ok"), [
    ("python:3.13-slim", True), ("docker.io/library/python:3.13-slim", True), ("library/python:3.13-slim", True),
    ("index.docker.io/library/python:3.13-slim", True), ("python:3.13.5-slim", True),
    ("python:3.13-slim-trixie", True), ("python:3.13-slim@sha256:" + "a" * 64, True), ("PYTHON:3.13-slim", True),
    ("python:3.13", False), ("python:3.12-slim", False), ("python", False), ("python:3.13-alpine", False),
    ("ghcr.io/library/python:3.13-slim", False), ("monimage/python:3.13-slim", False), ("python:-slim", False),
    ("python:${PY}-slim", False), ("scratch", False), ("", False), (None, False),
])
def test_the_official_slim_rule(ref, ok):
    assert dockerfile.is_official_slim(ref) is ok


def test_the_reference_and_naive_projects_start_from_the_base():
    for project in ("reference", "naive"):
        text = (FIXTURES / "projects" / project / "Dockerfile").read_text()
        assert dockerfile.is_official_slim(_base(text)), project


# ------------------------------------------------------------------ the # syntax= directive

def test_the_syntax_directive_is_removed_and_line_numbers_kept():
    text, frontend = dockerfile.without_syntax_directive(DOCKER_INIT)
    assert frontend == "docker/dockerfile:1"
    assert dockerfile.directives(text)[0] == {}
    assert "syntax=" not in text.splitlines()[0]
    assert len(text.splitlines()) == len(DOCKER_INIT.splitlines())
    assert [(n, w) for n, w, _ in dockerfile.instructions(text)] == \
        [(n, w) for n, w, _ in dockerfile.instructions(DOCKER_INIT)]
    assert dockerfile.final_base(text) == "python:3.13-slim"


@pytest.mark.parametrize(("text", "frontend", "after"), [
    ("# syntax=docker/dockerfile:1.7\nFROM python:3.13-slim\n", "docker/dockerfile:1.7",
     "# (frontend docker/dockerfile:1.7 remplacé par celui du moteur)\nFROM python:3.13-slim\n"),
    ("#syntax = docker/dockerfile:1-labs\r\nFROM python:3.13-slim\r\n", "docker/dockerfile:1-labs",
     "# (frontend docker/dockerfile:1-labs remplacé par celui du moteur)\r\nFROM python:3.13-slim\r\n"),
    ("# Syntax=docker.io/docker/dockerfile:1\n# escape=`\nFROM python:3.13-slim `\n  AS base\n",
     "docker.io/docker/dockerfile:1",
     "# escape=`\n# (frontend docker.io/docker/dockerfile:1 remplacé par celui du moteur)\n"
     "FROM python:3.13-slim `\n  AS base\n"),
    ("# escape=\\\n# syntax=docker/dockerfile:1\nFROM python:3.13-slim\n", "docker/dockerfile:1",
     "# escape=\\\n# (frontend docker/dockerfile:1 remplacé par celui du moteur)\nFROM python:3.13-slim\n"),
])
def test_syntax_directive_forms(text, frontend, after):
    assert dockerfile.without_syntax_directive(text) == (after, frontend)


@pytest.mark.parametrize("text", [
    "FROM python:3.13-slim\n",
    "# un commentaire\n# syntax=docker/dockerfile:1\nFROM python:3.13-slim\n",  # not a directive any more
    "\n# syntax=docker/dockerfile:1\nFROM python:3.13-slim\n",
    "FROM python:3.13-slim\n# syntax=docker/dockerfile:1\n",
    "# syntaxe de l'image : voir le cours\nFROM python:3.13-slim\n",
    "",
])
def test_what_is_not_a_syntax_directive_stays(text):
    assert dockerfile.without_syntax_directive(text) == (text, None)


def test_staging_removes_the_directive_in_the_built_copy_only(tmp_path):
    from dockercourse.grading.snapshot import Snapshot

    snap = Snapshot({"Dockerfile": DOCKER_INIT.encode(), "app/app.py": b"app = None\n"})
    assert build.stage_context(snap, tmp_path) == "docker/dockerfile:1"
    staged = (tmp_path / "Dockerfile").read_text()
    assert staged == dockerfile.without_syntax_directive(DOCKER_INIT)[0]
    assert snap.text("Dockerfile") == DOCKER_INIT
    assert "hors ligne" in build.syntax_hint("docker/dockerfile:1")
    other = tmp_path / "autre"
    assert build.stage_context(Snapshot({"Dockerfile": b"FROM python:3.13-slim\n"}), other) == ""
    assert (other / "Dockerfile").read_text() == "FROM python:3.13-slim\n"
