"""environment.yml must agree with pyproject.toml, the single source of truth."""
from __future__ import annotations

import re
import tomllib

from tests.utils.paths import ROOT

#: PyPI name -> conda-forge name where they differ.
CONDA_NAMES = {"docker": "docker-py"}


def split(req: str) -> tuple[str, str]:
    m = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", req)
    return m.group(1).lower(), m.group(2).replace(" ", "")


def pyproject_requirements() -> dict[str, str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    reqs = list(data["project"]["dependencies"])
    for extra in data["project"]["optional-dependencies"].values():
        reqs += extra
    return dict(split(r) for r in reqs)


def environment_requirements() -> tuple[dict[str, str], dict[str, str], str]:
    """(conda deps, pip deps, python spec) parsed from environment.yml without a YAML library."""
    conda, pip, python = {}, {}, ""
    in_pip = in_deps = False
    for line in (ROOT / "environment.yml").read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = re.match(r"^(\s*)- (.*)$", line)
        if not m:
            in_deps = line.startswith("dependencies:")
            in_pip = False
            continue
        if not in_deps:
            continue
        indent, item = len(m.group(1)), m.group(2).strip()
        if item == "pip:":
            in_pip = True
            continue
        if in_pip and indent > 2:
            if not item.startswith("-e"):
                pip.update([split(item)])
            continue
        in_pip = False
        name, spec = split(item)
        if name == "python":
            python = spec
        elif name != "pip":
            conda[name] = spec
    return conda, pip, python


def test_environment_yml_lists_the_same_packages_and_versions():
    want = {CONDA_NAMES.get(k, k): v for k, v in pyproject_requirements().items()}
    conda, pip, _ = environment_requirements()
    pip = {CONDA_NAMES.get(k, k): v for k, v in pip.items()}
    got = {**conda, **pip}
    assert got == want, f"environment.yml and pyproject.toml disagree: {set(got.items()) ^ set(want.items())}"


def test_environment_yml_python_and_editable_install():
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    _, _, python = environment_requirements()
    assert python == data["project"]["requires-python"]
    assert "- -e ." in (ROOT / "environment.yml").read_text()
