"""dockercourse.vm: a real QEMU boot (TCG here, cached artefacts), and the pure helpers."""
from __future__ import annotations

import csv
import platform
import re

import pytest

from dockercourse import measure, vm

pytestmark = pytest.mark.qemu


@pytest.fixture(scope="module")
def artifacts():
    assert vm.unavailable_reason() is None, "QEMU must be usable on the course's CI machines"
    return vm.ensure_artifacts(log=print)


@pytest.fixture(scope="module")
def booted(artifacts):
    return vm.boot(artifacts=artifacts)


def test_real_boot(booted, artifacts):
    r = booted
    assert r.accel == vm.choose_accel()[0]
    assert r.exit_code == 0, "poweroff -f makes qemu exit 0 (-no-reboot)"
    assert 0 < r.launch_to_ready_s <= r.total_s
    assert r.guest_uptime_s and r.guest_uptime_s > 0
    # a VM runs its own kernel: Debian's, not the host's
    assert re.fullmatch(r"6\.1\.0-\d+-amd64", r.guest_kernel)
    assert r.guest_kernel != platform.release()
    assert 0 < r.guest_mem_used_kib < r.guest_mem_total_kib <= vm.DEFAULT_MEMORY_MB * 1024
    assert r.qemu_peak_rss_kib > r.guest_mem_used_kib, "qemu holds the guest's memory and more"
    # this boot's process group only: the current-engine lane's notebook 01 may boot a VM meanwhile
    assert r.pgid > 0 and vm.qemu_processes(pgid=r.pgid) == [], "qemu left running after the boot"


def test_artifacts_are_cached(artifacts):
    stamps = {p: p.stat().st_mtime_ns for p in (artifacts.kernel, artifacts.initramfs)}
    again = vm.ensure_artifacts(log=lambda m: pytest.fail(f"re-fetched: {m}"))
    assert (again.kernel, again.initramfs) == (artifacts.kernel, artifacts.initramfs)
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    assert artifacts.kernel.parent == vm.cache_dir() and artifacts.kernel_kind == "vmlinux"
    assert "-kernel vmlinux-" in vm.command_line(artifacts=artifacts)


def test_timeout_kills_qemu(artifacts):
    with pytest.raises(vm.VMBootError, match="pas de démarrage") as err:
        vm.boot(artifacts=artifacts, timeout=0.3)
    assert err.value.pgid and vm.qemu_processes(pgid=err.value.pgid) == []


def test_reference_dataset():
    with open(measure.reference_path(), newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows and set(rows[0]) == set(measure.REFERENCE_COLUMNS)
    for row in rows:
        assert row["machine"] and re.fullmatch(r"\d{4}-\d{2}-\d{2}", row["date"])
        assert row["accel"] in ("tcg", "kvm") and row["kernel_image"] in ("vmlinux", "vmlinuz")
        assert float(row["launch_to_ready_s"]) > 0 and float(row["qemu_peak_rss_mib"]) > 0
        assert row["guest_kernel"] != row["host_kernel"]
    table = measure.reference_table()
    assert len(table) >= 3 and (table[measure.COL_READY] > 0).all()
    assert table[measure.COL_SOURCE].str.startswith("référence").all()


def test_unavailable_reasons(monkeypatch):
    assert vm.unavailable_reason() is None  # this machine: root on Debian, QEMU installed or installable
    monkeypatch.setattr(vm.platform, "system", lambda: "Darwin")
    assert "macOS" in vm.unavailable_reason()
    monkeypatch.setattr(vm.platform, "system", lambda: "Linux")
    # Binder: inside a container, not root, no QEMU
    monkeypatch.setattr(vm.shutil, "which", lambda exe: None if exe == vm.QEMU else f"/usr/bin/{exe}")
    monkeypatch.setattr(vm, "_is_root", lambda: False)
    monkeypatch.setattr(vm.engine, "on_binder", lambda: True)
    assert "conteneur" in vm.unavailable_reason()
    with pytest.raises(vm.VMUnavailable):
        vm.ensure_qemu()
