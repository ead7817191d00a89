"""dockercourse.measure: live container timings, the VM/container comparison, the
shared-kernel proof, and notebook 01 without a daemon."""
from __future__ import annotations

import pandas as pd
import pytest

from dockercourse import engine, measure
from tests.utils.notebook_runner import NO_DAEMON


def test_cgroup_memory_v1_and_v2():
    # cgroup v1 (this machine's `docker stats` API output, trimmed)
    v1 = {"usage": 892928, "max_usage": 4341760, "stats": {"total_inactive_file": 16384, "cache": 0}}
    assert measure.cgroup_memory_kib(v1) == ((892928 - 16384) / 1024, 4341760 / 1024)
    # cgroup v2: no max_usage, inactive_file instead of total_inactive_file
    v2 = {"usage": 3 * 1024 * 1024, "stats": {"inactive_file": 1024 * 1024, "anon": 2 * 1024 * 1024}}
    assert measure.cgroup_memory_kib(v2) == (2048.0, None)
    assert measure.cgroup_memory_kib({}) == (None, None)


def test_check_shared_kernel_fails_on_contradiction():
    bad = pd.DataFrame({"noyau": ["6.1", "6.1", "5.10", "6.1.0-56-amd64"]})
    with pytest.raises(AssertionError):
        measure.check_shared_kernel(bad)
    same = pd.DataFrame({"noyau": ["6.1", "6.1", "6.1", "6.1"]})
    with pytest.raises(AssertionError):
        measure.check_shared_kernel(same)


def test_container_startups_without_daemon(monkeypatch, capsys):
    monkeypatch.setenv("DOCKER_HOST", NO_DAEMON)
    monkeypatch.setattr(engine, "_client", None)
    assert measure.container_startups(n=1, unit="test-measure") is None
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "Cellule non exécutée" in out and "DOCKER_HOST" in out


def test_parse_smaps_rollup():
    text = "55d0-7ffd ---p 00000000 00:00 0 [rollup]\nRss:  13136 kB\nPss:  4767 kB\n" \
           "Private_Clean:  100 kB\nPrivate_Dirty:  2308 kB\n"
    assert measure.parse_smaps_rollup(text) == (13136.0, 2408.0)
    assert measure.parse_smaps_rollup("") is None
    assert measure.shim_memory_kib("0" * 64, proc="/nonexistent") is None
