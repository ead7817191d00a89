"""Every error this package raises on purpose, under one root (docker-py's ``docker/errors.py``
is the model): ``except DockercourseError`` catches them all, and nothing else.

The messages are French sentences for the person who can act on them: a student
(:class:`DockerUnavailable`), the operator of a machine (:class:`SetupError`), an instructor
grading a class (:class:`GradingError`). Each module keeps its own subclasses next to the code that
raises them (``hadolint.HadolintMissing``, ``vm.VMUnavailable``…); those that describe a runtime
condition also derive from :class:`RuntimeError`, as they did before the root existed.
Library code raises these, never ``SystemExit``: only command-line entry points turn them into an
exit status.
"""

from __future__ import annotations


class DockercourseError(Exception):
    """The root of every error the package raises on purpose."""


class DockerUnavailable(DockercourseError, RuntimeError):
    """No Docker daemon answers; the message is a French sentence for students."""


class SetupError(DockercourseError, RuntimeError):
    """The engine could not be installed or started (message for the operator)."""


class GradingError(DockercourseError):
    """The class could not be graded as asked (message for the instructor, in French)."""


class SandboxError(GradingError, RuntimeError):
    """The grading host cannot make sandboxes (message for the instructor, in French)."""


class AssignmentError(GradingError, ValueError):
    """The assignment's source is not what grading needs (message for the instructor, in French)."""
