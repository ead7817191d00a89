"""The grading sandbox's pure parts: the worker's environment (hence the student's kernel's)
and the engine's command line. No sandbox is made."""

from __future__ import annotations

from dockercourse.grading import sandbox

JOB = {"sandbox": "/var/lib/dockercourse-grading/slots/3", "user": "dcgrade3", "docker_cli": "/usr/bin/docker"}


def test_the_kernel_builds_with_plain_progress():
    """The student's `!docker build` runs in a pty: without BUILDKIT_PROGRESS=plain, BuildKit
    draws its TTY progress and the feedback shows raw escape codes."""
    env = sandbox.worker_env(JOB)
    assert env["BUILDKIT_PROGRESS"] == "plain"
    assert env["DOCKER_BUILDKIT"] == "1"
    assert env["DOCKER_HOST"] == "unix:///var/lib/dockercourse-grading/slots/3/run/docker.sock"
    assert env["HOME"] == "/var/lib/dockercourse-grading/slots/3/home"
