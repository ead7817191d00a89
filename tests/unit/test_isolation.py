"""dockercourse.isolation: readers on fixture trees (cgroup v1 and v2), then live Docker."""
from __future__ import annotations

from pathlib import Path

import pytest

from dockercourse import isolation as iso
from tests.utils.paths import FIXTURES

V1 = FIXTURES / "cgroup_v1"
V2 = FIXTURES / "cgroup_v2"
MIB = 1024 * 1024


def v1_cgroup() -> iso.Cgroup:
    return iso.Cgroup(iso.LocalTree(V1), (V1 / "proc_cgroup").read_text())


def v2_cgroup(proc: str = "proc_cgroup") -> iso.Cgroup:
    return iso.Cgroup(iso.LocalTree(V2), (V2 / proc).read_text())


def as_dict_tree(root: Path) -> iso.DictTree:
    return iso.DictTree({str(p.relative_to(root)): p.read_text() for p in root.rglob("*") if p.is_file()})


def test_parse_ns_link():
    assert iso.parse_ns_link("pid:[4026531836]") == 4026531836
    assert iso.parse_ns_link("garbage") is None


def test_parse_proc_cgroup_v1_and_v2():
    lines = iso.parse_proc_cgroup("2:cpu,cpuacct:/docker/abc\n1:name=systemd:/docker/abc\n0::/x.scope\n")
    assert lines[0] == ("2", ("cpu", "cpuacct"), "/docker/abc")
    assert lines[2] == ("0", (), "/x.scope")


def test_detect_version():
    assert iso.detect_version(iso.LocalTree(V1)) == 1  # hybrid: v2 only under unified/
    assert iso.detect_version(iso.LocalTree(V2)) == 2


def test_v1_fixture_readers():
    cg = v1_cgroup()
    assert cg.version == 1
    assert cg.dir("memory").startswith("memory/docker/0123")
    assert cg.dir("cpuacct").startswith("cpuacct/docker/")
    assert cg.path == "/docker/" + "0123456789abcdef" * 4
    assert cg.limits() == {"memory": 64 * MIB, "cpus": 0.5, "pids": 20}
    assert 20 * MIB < cg.memory_usage() < 64 * MIB
    assert cg.memory_peak() >= cg.memory_usage()
    assert cg.memory_events() == {"limit_hits": 0, "oom_kill": 0}
    st = cg.cpu_stat()
    assert st["nr_periods"] == 19 and st["nr_throttled"] == 16
    assert st["throttled_usec"] == 744369398 // 1000  # v1 counts nanoseconds
    assert st["usage_usec"] > 0
    assert cg.pids_current() == 1 and cg.pids_events() == {"max": 0}


def test_v2_fixture_readers():
    cg = v2_cgroup()
    assert cg.version == 2
    assert cg.dir("memory") == cg.dir("pids") == "system.slice/docker-" + "fedcba9876543210" * 4 + ".scope"
    assert cg.limits() == {"memory": 64 * MIB, "cpus": 0.5, "pids": 20}
    assert cg.memory_usage() == 25427968
    assert cg.memory_peak() == 64 * MIB
    assert cg.memory_events() == {"limit_hits": 37, "oom": 1, "oom_kill": 1}
    assert cg.cpu_stat() == {"nr_periods": 31, "nr_throttled": 28, "usage_usec": 1503204,
                             "throttled_usec": 1317620}
    assert cg.pids_current() == 20 and cg.pids_events() == {"max": 1323}


def test_v2_unlimited_reads_none():
    cg = v2_cgroup("proc_cgroup_unlimited")
    assert cg.limits() == {"memory": None, "cpus": None, "pids": None}
    assert cg.cpu_stat()["nr_throttled"] == 0
    table = cg.limits_table()
    assert list(table["signification"]) == ["illimitée", "illimité", "illimité"]


def test_v2_private_cgroup_namespace():
    """Inside a container with its own cgroup namespace, /proc/self/cgroup says `0::/` and
    /sys/fs/cgroup is the container's own cgroup."""
    scope = next((V2 / "system.slice").glob("docker-fedcba*"))
    cg = iso.Cgroup(iso.LocalTree(scope), "0::/\n")
    assert cg.version == 2 and cg.dir("memory") == ""
    assert cg.limits() == {"memory": 64 * MIB, "cpus": 0.5, "pids": 20}


def test_v1_unlimited_memory_is_none():
    cg = iso.Cgroup(iso.LocalTree(V1), "4:memory:/\n")
    assert cg.memory_limit() is None  # the root's 9223372036854771712


def test_v1_joined_cpu_cpuacct_mount(tmp_path):
    """Many distributions mount cpu and cpuacct together as `cpu,cpuacct`."""
    d = tmp_path / "cpu,cpuacct" / "docker" / "x"
    d.mkdir(parents=True)
    (d / "cpu.cfs_quota_us").write_text("150000\n")
    (d / "cpu.cfs_period_us").write_text("100000\n")
    (d / "cpuacct.usage").write_text("2000000000\n")
    (d / "cpu.stat").write_text("nr_periods 3\nnr_throttled 0\nthrottled_time 0\n")
    cg = iso.Cgroup(iso.LocalTree(tmp_path), "3:cpu,cpuacct:/docker/x\n")
    assert cg.cpu_limit() == 1.5
    assert cg.cpu_stat() == {"nr_periods": 3, "nr_throttled": 0, "throttled_usec": 0, "usage_usec": 2_000_000}


@pytest.mark.parametrize("root,proc", [(V1, "proc_cgroup"), (V2, "proc_cgroup")])
def test_dict_tree_reads_like_local_tree(root, proc):
    text = (root / proc).read_text()
    a, b = iso.Cgroup(iso.LocalTree(root), text), iso.Cgroup(as_dict_tree(root), text)
    assert a.version == b.version
    assert a.limits() == b.limits()
    assert a.cpu_stat() == b.cpu_stat() and a.memory_events() == b.memory_events()


@pytest.mark.parametrize("root", [V1, V2])
def test_helper_script_copies_what_the_readers_need(root):
    """The script the helper container runs, run here on a fixture tree (the pid's
    /proc/<pid>/cgroup given in the request): its copy reads back like the tree itself."""
    import json
    import subprocess
    import sys

    proc = (root / "proc_cgroup").read_text()
    req = json.loads(iso._helper_request([4242], snapshot=True))
    req.update(root=str(root), proc_cgroup={"4242": proc})
    out = subprocess.run([sys.executable, "-c", iso.HELPER_SCRIPT, json.dumps(req)], capture_output=True,
                         text=True, check=True, timeout=60).stdout
    snap = json.loads(out.strip().splitlines()[-1])
    copied = iso.Cgroup(iso.DictTree(snap["cgroup"]["4242"]), snap["proc_cgroup"]["4242"])
    original = iso.Cgroup(iso.LocalTree(root), proc)
    assert copied.version == original.version
    assert copied.limits() == original.limits() == {"memory": 64 * MIB, "cpus": 0.5, "pids": 20}
    assert copied.cpu_stat() == original.cpu_stat()
    assert copied.memory_events() == original.memory_events()


def test_limits_table_shows_files_of_each_version():
    t1, t2 = v1_cgroup().limits_table(), v2_cgroup().limits_table()
    assert t1.loc["--memory", "fichier du cgroup"] == "memory/…/memory.limit_in_bytes"
    assert t2.loc["--memory", "fichier du cgroup"] == "…/memory.max"
    assert t1.loc["--cpus", "contenu brut"] == "50000 / 100000"
    assert t2.loc["--cpus", "contenu brut"] == "50000 100000"
    assert t1.loc["--pids-limit", "signification"] == t2.loc["--pids-limit", "signification"] == "20 processus au plus"


def test_throttling_consistent():
    row = {"périodes bridées (nr_throttled)": 0, "part de CPU mesurée": 0.5}
    assert not iso.throttling_consistent(row)  # reached its quota but never throttled: impossible
    assert iso.throttling_consistent({**row, "part de CPU mesurée": 0.3})
    assert iso.throttling_consistent({**row, "périodes bridées (nr_throttled)": 4})


def test_namespace_table_shared_column():
    host = dict.fromkeys(iso.NAMESPACE_TYPES, 1)
    ctr = {**host, "pid": 2, "net": 3, "time": None}
    t = iso.namespace_table(ctr, host)
    assert list(t.index) == list(iso.NAMESPACE_TYPES)
    assert t.loc["pid", "partagé"] == "non" and t.loc["user", "partagé"] == "oui"
    assert t.loc["time", "partagé"] == "inconnu"


def _shared(**private):
    return {ns: ("non" if private.get(ns) else "oui") for ns in iso.NAMESPACE_TYPES}


def test_namespace_notes_follow_the_measurement():
    """The notebook's prose is generated from the table: the cgroup namespace is private on a
    cgroup v2 host, shared on v1, and the sentence says which was measured."""
    docker_default = dict(pid=1, net=1, mnt=1, uts=1, ipc=1)
    v1 = iso.namespace_notes(_shared(**docker_default), 1)
    v2 = iso.namespace_notes(_shared(**docker_default, cgroup=1), 2)
    assert v1[0].startswith("pid, net, mnt, uts, ipc : privés")
    assert any(n.startswith("cgroup : partagé — cet hôte utilise les cgroups v1") for n in v1)
    assert any(n.startswith("cgroup : privé — avec les cgroups v2") for n in v2)
    assert not any("cgroups v1" in n for n in v2)
    assert any(n.startswith("user : partagé — le root du conteneur (uid 0) EST le root de l'hôte") for n in v1)
    rootless = iso.namespace_notes(_shared(**docker_default, cgroup=1, user=1), 2)
    assert any(n.startswith("user : privé") for n in rootless)
    assert any("illisible" in n for n in iso.namespace_notes({"pid": "non"}, 2))


def test_cpu_share_windows_smooth_late_readings():
    """One busy thread read every 0.1 s, with one reading 30 ms late: per interval it looks like
    1.3 cores; over 0.5 s windows it stays close to 1."""
    import pandas as pd

    times = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
    read_at = [t + (0.03 if i == 6 else 0) for i, t in enumerate(times)]  # reading 6 came late
    used = [t * 1.0 for t in read_at]  # the thread ran all the time: 1 core
    stamped = [t if i != 6 else t - 0.03 for i, t in enumerate(read_at)]  # ... but dated too early
    df = pd.DataFrame({"temps (s)": stamped, "conteneur": "sans limite", "temps CPU cumulé (s)": used})
    per_interval = max((used[i] - used[i - 1]) / (stamped[i] - stamped[i - 1]) for i in range(1, len(used)))
    assert per_interval > 1.25
    shares = iso.cpu_share(df, window=0.5)
    assert shares["part d'un cœur"].iloc[-1] == pytest.approx(1.0)
    assert shares.loc[shares["temps (s)"] >= 0.5, "part d'un cœur"].max() < 1.1


def _memory_result(version, events, oom=True):
    return iso.MemoryResult(samples=None, limit_mib=64.0, oom_killed=oom, exit_code=137 if oom else 0,
                            events=events, allocated_mib=56, peak_mib=64.0, version=version)


def test_memory_counters_table_explains_a_zero():
    t1 = iso.memory_counters_table(_memory_result(1, {"limit_hits": 0, "oom_kill": 1}))
    assert t1.loc["refus à la limite", "valeur"] == 0
    assert "ne compte plus" in t1.loc["refus à la limite", "ce que ça veut dire"]
    assert t1.loc["processus tués par l'OOM killer", "valeur"] == 1
    assert t1.loc["pic d'utilisation", "valeur"] == "64 Mio"
    t2 = iso.memory_counters_table(_memory_result(2, {"limit_hits": 37, "oom": 1, "oom_kill": 1}))
    assert t2.loc["refus à la limite", "fichier du cgroup"] == "memory.events (max)"
    assert t2.loc["refus à la limite", "valeur"] == 37
    for t in (t1, t2):  # nothing a default pandas display would cut with "..."
        assert t.astype(str).map(len).to_numpy().max() <= 50


def test_tables_fit_pandas_default_column_width():
    """Values longer than pandas' display.max_colwidth (50) are shown cut with "..."."""
    from dockercourse import scratch

    host = dict.fromkeys(iso.NAMESPACE_TYPES, 1)
    for table in (iso.namespace_table(host, host), scratch.docker_adds_table(),
                  iso.Cgroup(iso.LocalTree(V1), (V1 / "proc_cgroup").read_text()).limits_table()):
        assert table.astype(str).map(len).to_numpy().max() <= 50, table


def test_in_container_scripts_are_files_ruff_checks():
    scripts = Path(iso.__file__).parent / "scripts"
    for name in ("helper", "effects", "alloc", "busy", "forkbomb"):
        assert (scripts / f"{name}.py").is_file()
        compile(iso.script(name), name, "exec")


def test_local_readers_on_this_machine():
    ns = iso.read_namespaces("self")
    assert set(ns) == set(iso.NAMESPACE_TYPES) and ns["pid"] is not None
    cg = iso.local_cgroup("self")
    assert cg.version in (1, 2) and cg.dir("memory") is not None


def test_exercise_refuses_a_malformed_limit_in_french(capsys):
    assert iso.nb_try_memory("beaucoup") is None
    assert iso.nb_try_memory("4m") is None  # too small for Python itself
    out = capsys.readouterr().out
    assert out.count("n'est pas une limite utilisable") == 2
