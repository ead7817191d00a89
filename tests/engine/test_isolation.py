"""dockercourse.isolation: readers on fixture trees (cgroup v1 and v2), then live Docker."""
from __future__ import annotations

import os
import re
import shutil

import pytest

from dockercourse import engine
from dockercourse import isolation as iso
from tests.utils.paths import NOTEBOOKS, ROOT

MIB = 1024 * 1024


def test_run_command_is_what_a_student_types():
    cmd = iso.run_command("oom", ["4", "256", "0.1"], "alloc", mem_limit="64m", memswap_limit="64m",
                          pids_limit=20)
    assert cmd == ("docker run -d --name dockercourse-nb02-oom --label dockercourse=1 --memory 64m "
                   "--memory-swap 64m --pids-limit 20 python:3.13-slim "
                   'python3 -c "$(cat src/dockercourse/isolation/scripts/alloc.py)" 4 256 0.1')
    demo = iso.run_command("demo", ["python3", "-c", "import time; time.sleep(600)"], auto_remove=True,
                           **iso.DEMO_LIMITS)
    assert "-d --rm" in demo and "--cpus 0.5" in demo and demo.endswith("-c 'import time; time.sleep(600)'")
    root = ROOT
    assert (root / iso.SCRIPTS_DIR / "alloc.py").read_text() == iso.script("alloc")


@pytest.fixture
def demo(docker_client):
    ctr = iso.start_demo(seconds=120)
    yield ctr
    iso.stop(ctr)


@pytest.mark.lecture_names
def test_live_limits_and_namespaces(demo):
    v = iso.view(demo)
    facts = engine.facts_from_info(engine.client().info(), engine.client().version())
    assert str(v.cgroup.version) == facts["cgroup_version"]
    assert v.cgroup.limits() == {"memory": 64 * MIB, "cpus": 0.5, "pids": 20}
    assert demo.id in v.cgroup.path
    assert v.comm == "python3"
    table = v.namespace_table()
    for ns in ("pid", "net", "mnt", "uts", "ipc"):
        assert table.loc[ns, "partagé"] == "non", ns
    assert table.loc["user", "partagé"] == "oui"
    host_local = iso.read_namespaces("self")  # the test runs on the Docker host here
    assert v.host_ns["net"] == host_local["net"]


@pytest.mark.lecture_names
def test_live_effects(demo):
    eff = iso.effects(demo)
    assert eff.pid1_comm == "python3" and eff.host_pid != 1
    assert eff.hostname == demo.id[:12] != eff.host_hostname
    assert eff.interfaces == ["eth0", "lo"] and len(eff.host_interfaces) > 2
    assert eff.root_fstype == "overlay"
    assert eff.ipc_in_container and not eff.ipc_visible_on_host


@pytest.mark.lecture_names
def test_live_memory_oom(docker_client):
    res = iso.memory_experiment()
    assert res.oom_killed and res.exit_code == 137
    assert res.limit_mib == 64
    assert res.peak_mib >= 0.9 * 64
    assert 0 < res.allocated_mib < 256
    table = iso.memory_counters_table(res)
    assert table.loc["pic d'utilisation", "valeur"].endswith(" Mio")
    if res.version == 1 and res.events.get("limit_hits") == 0:  # what notebook 02 explains
        assert "ne compte plus" in table.loc["refus à la limite", "ce que ça veut dire"]
    usage = res.samples["utilisation (Mio)"]
    assert usage.max() <= 64 and usage.max() > 48
    # the cgroup vanishes with the container: when a sample was taken after the kill
    # (usage back near zero), the kernel's OOM counter must show it
    if usage.iloc[-1] < 0.5 * 64:
        assert res.events.get("oom_kill", 0) >= 1, res.events
    assert not iso.leftovers()


@pytest.mark.lecture_names
def test_live_cpu_throttling(docker_client):
    res = iso.cpu_experiment(seconds=2)
    lim, free = res.limited(), res.unlimited()
    assert lim["part de CPU mesurée"] <= 0.55
    assert lim["périodes (nr_periods)"] > 0 and free["périodes (nr_periods)"] == 0
    assert iso.throttling_consistent(lim)
    if lim["périodes bridées (nr_throttled)"] > 0:
        assert lim["temps bridé (s)"] > 0
    assert free["périodes bridées (nr_throttled)"] == 0 and free["temps bridé (s)"] == 0
    assert set(res.samples["conteneur"]) == {"--cpus 0.5", "sans limite"}
    shares = iso.cpu_share(res.samples)
    assert shares.groupby("conteneur")["part d'un cœur"].median().max() <= 1.05  # one thread, one core
    assert any("--cpus 0.5" in c for c in res.commands) and any("touch /tmp/go" in c for c in res.commands)
    assert not iso.leftovers()


@pytest.mark.lecture_names
def test_live_fork_bomb_contained(docker_client):
    res = iso.pids_experiment(seconds=2)
    assert res.limit == 20 and res.max_seen == 20
    assert res.refused_forks > 0
    assert res.other_container_ok
    assert not iso.leftovers()


@pytest.mark.root
def test_unshare_without_docker():
    res = iso.unshare_demo()
    assert res["ps_rc"] == 0 and res["ps"].split()[2:4] == ["1", "ps"]
    assert res["hostname_inside"] == "demo" != res["hostname_host"]


def test_no_daemon_prints_one_french_sentence(monkeypatch, capsys):
    from tests.utils.notebook_runner import NO_DAEMON

    monkeypatch.setenv("DOCKER_HOST", NO_DAEMON)
    monkeypatch.setattr(engine, "_client", None)
    assert iso.nb_start_demo() is None
    assert iso.nb_memory() is None
    iso.nb_report_memory(None)
    table = iso.nb_namespaces(None)  # falls back to this process's own namespaces
    out = capsys.readouterr().out
    assert out.count("Cellule non exécutée") == 4
    assert "DOCKER_HOST=" in out
    assert list(table.index) == list(iso.NAMESPACE_TYPES)


def test_notebook_completes_without_daemon():
    from tests.utils.notebook_runner import NO_DAEMON, cell_texts, run_notebook

    nb = run_notebook(NOTEBOOKS / "02_cgroups_et_namespaces.ipynb",
                      env={"DOCKER_HOST": NO_DAEMON})
    texts = cell_texts(nb)
    assert not any("ERROR" in t for t in texts)
    docker_cells = [t for t in texts if "Cellule non exécutée" in t]
    assert len(docker_cells) >= 12
    assert all(t.count("Cellule non exécutée") == 1 for t in docker_cells)
    # unshare and the hand-made container need no daemon (the image's filesystem is cached)
    joined = "\n".join(texts)
    if shutil.which("unshare") and os.geteuid() == 0:
        # ps right-aligns its PID column to the width of kernel.pid_max: match the row, not the padding
        assert re.search(r"^\s*1 ps$", joined, re.MULTILINE), joined
