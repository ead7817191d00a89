"""dockercourse.hostpkg: the pure parts (command lines, progress stages) and the logged runner."""
from __future__ import annotations

import pytest

from dockercourse import hostpkg


def test_bootstrap_commands_for_both_tools(tmp_path):
    mm = hostpkg.bootstrap_command("/usr/bin/mmdebstrap", "trixie", ["python3", "ca-certificates"], tmp_path / "r",
                                   "amd64", mirror="http://mirror.example/debian")
    assert mm == ["/usr/bin/mmdebstrap", "--variant=minbase", "--architectures=amd64",
                  "--include=python3,ca-certificates", "--mode=root", "trixie", str(tmp_path / "r"),
                  "http://mirror.example/debian"]
    deb = hostpkg.bootstrap_command("/usr/sbin/debootstrap", "sid", ["docker.io"], tmp_path / "r", "arm64",
                                    mirror="http://m/debian")
    assert deb == ["/usr/sbin/debootstrap", "--variant=minbase", "--arch=arm64", "--include=docker.io", "sid",
                   str(tmp_path / "r"), "http://m/debian"]


def test_deb_arch():
    assert [hostpkg.deb_arch(m) for m in ("x86_64", "aarch64", "riscv64")] == ["amd64", "arm64", "riscv64"]


@pytest.mark.parametrize("line, stage", [
    ("I: Retrieving libc6\n", "I: Retrieving"),  # debootstrap: one line per package, one stage
    ("I: installing essential packages...\n", "I: installing essential"),  # mmdebstrap
    ("I: installing remaining packages inside the chroot...\n", "I: installing remaining"),
    ("W: Unable to read /etc/apt/apt.conf.d/\n", None),
    ("Get:1 http://deb.debian.org/debian trixie InRelease\n", None),
])
def test_stage_of(line, stage):
    assert hostpkg.stage_of(line) == stage


def test_run_logged_logs_everything_prints_each_stage_once_and_raises_the_callers_error(tmp_path):
    script = "echo 'I: Retrieving a'; echo 'I: Retrieving b'; echo 'W: noise'; echo 'I: Extracting a'"
    log = tmp_path / "bootstrap.log"
    shown: list[str] = []
    hostpkg.run_logged(["sh", "-c", script], log, echo=shown.append)
    assert log.read_text().splitlines()[1:] == ["I: Retrieving a", "I: Retrieving b", "W: noise", "I: Extracting a"]
    assert [s.strip() for s in shown] == ["I: Retrieving a", "I: Extracting a"]

    class Mine(Exception):
        pass

    with pytest.raises(Mine, match=r"sh failed \(exit 3\)"):
        hostpkg.run_logged(["sh", "-c", "exit 3"], log, error=Mine, echo=shown.append)


def test_apt_install_refuses_clearly_when_it_cannot_install(monkeypatch):
    monkeypatch.setattr(hostpkg, "installed", lambda p: p == "present")
    monkeypatch.setattr(hostpkg, "can_apt", lambda: False)
    assert hostpkg.apt_install(["present"]) == []

    class Mine(Exception):
        pass

    with pytest.raises(Mine, match="missing Debian packages: absent-one absent-two"):
        hostpkg.apt_install(["present", "absent-one", "absent-two", "absent-one"], error=Mine)
