"""The class server's pure parts: the class list, the address plan, the firewall, the configurations."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from dockercourse.hub import app, network, roster, session


def test_a_class_list_becomes_members_in_order():
    members = roster.parse_roster("\ufeffid,role,nom\nalice,student,Alice\nbob,,Bob\nprof,Instructor,X\n\n")
    assert [(m.id, m.role, m.index) for m in members] == [("alice", "student", 0), ("bob", "student", 1),
                                                           ("prof", "instructor", 2)]
    assert members[2].instructor and not members[0].instructor


@pytest.mark.parametrize("text, said", [
    ("nom\nalice\n", "colonne « id »"),
    ("id,role\nAlice,student\nprof,instructor\n", "ligne 2"),
    ("id,role\nroot,student\nprof,instructor\n", "« root »"),
    ("id,role\ndcgrade0,student\nprof,instructor\n", "dcgrade0"),
    ("id,role\nalice,eleve\nprof,instructor\n", "rôle « eleve »"),
    ("id,role\nalice,student\nalice,student\nprof,instructor\n", "deux fois"),
    ("id,role\nalice,student\n", "au moins un enseignant"),
    ("id,role\nprof,instructor\n", "au moins un étudiant"),
    ("id,role\n" + "a" * 32 + ",student\nprof,instructor\n", "31 caractères"),
])
def test_a_bad_class_list_says_what_is_wrong_in_french(text, said):
    with pytest.raises(roster.RosterError, match=said):
        roster.parse_roster(text)


def test_a_missing_class_list_is_a_clear_error(tmp_path):
    with pytest.raises(roster.RosterError, match="illisible"):
        roster.read_roster(tmp_path / "absente.csv")


def test_first_passwords_are_random_and_readable():
    pws = {roster.first_password() for _ in range(200)}
    assert len(pws) == 200
    assert all(len(p) == 14 and p.count("-") == 2 and not set(p) & set("01ilo") for p in pws)


def test_each_session_has_its_own_address_and_interface_names():
    addrs = [network.session_address(i) for i in range(300)]
    assert len(set(addrs)) == 300 and network.GATEWAY not in addrs
    assert all(a in network.SUBNET for a in addrs)
    assert str(network.session_address(0)) == "10.231.0.2"
    assert all(len(n) <= 15 for i in (0, 9999, 65000) for n in network.veth_names(i))  # IFNAMSIZ
    with pytest.raises(network.NetworkError):
        network.session_address(70000)


def test_the_firewall_keeps_sessions_from_each_other_and_from_the_host():
    rules = [" ".join(r) for _, r in network.firewall_rules(8081)]
    b = network.BRIDGE
    # to the host: the hub's API only; back to the bridge: never; to the host's published containers: never
    assert f"-i {b} -p tcp -d {network.GATEWAY} --dport 8081 -j ACCEPT" in " | ".join(rules)
    inbound = [r for r in rules if r.startswith(network.CHAIN + "-IN")]
    assert inbound[-1].endswith(f"-i {b} -j DROP")
    fwd = [r for r in rules if r.startswith(network.CHAIN + "-FWD")]
    assert fwd[0].endswith(f"-i {b} -o {b} -j DROP")
    assert any("--ctstate DNAT -j DROP" in r for r in fwd)
    assert fwd.index(next(r for r in fwd if r.endswith(f"-o {b} -j DROP"))) < len(fwd) - 1
    assert fwd[-1].endswith(f"-i {b} -j ACCEPT")  # the rest: out to the world (NAT)


def test_the_hub_configuration_is_python_and_says_who_may_log_in(tmp_path):
    members = roster.parse_roster("id,role\nalice,student\nbob,student\nprof,instructor\n")
    text = app.hub_config(root=tmp_path, roster_path=tmp_path / "c.csv", ip="127.0.0.1", port=8000,
                          proxy="/x/chp", proxy_api_port=8001, engine_source="/e", base_tar="/b.tar",
                          notebooks="/n", memory_mib=2048, cpus=1.0, disk_gib=10, idle_s=3600,
                          members=members, state="/s")
    ast.parse(text)
    assert "c.Authenticator.allowed_users = {" in text and "'alice'" in text and "'prof'" in text
    assert "authenticator_class = 'pam'" in text
    assert f"hub_bind_url = 'http://{network.GATEWAY}:{network.HUB_API_PORT}'" in text
    assert "'users': ['prof'], 'scopes': ['access:services!service=correction']" in text
    assert "'index': 1, 'role': 'student'" in text
    assert f"instructor_hidden = [{str(tmp_path / 'course')!r}]" in text


def test_students_and_instructors_read_different_jupyter_configurations(tmp_path):
    assert session.config_path(tmp_path, True) == [str(tmp_path / "course"), str(tmp_path / "jupyter")]
    assert session.config_path(tmp_path, False) == [str(tmp_path / "jupyter-students"), str(tmp_path / "jupyter")]
    server = json.loads((app.STUDENT_CONFIG / "jupyter_server_config.json").read_text())
    assert server["ServerApp"]["jpserver_extensions"]["nbgrader.server_extensions.formgrader"] is False
    lab = json.loads((app.STUDENT_CONFIG / "labconfig" / "page_config.json").read_text())
    assert lab["disabledExtensions"]["@jupyter/nbgrader:create-assignment"] is True


def test_sessions_do_not_see_the_project_the_grading_sandboxes_or_the_servers_files(tmp_path):
    hidden = app.hidden_in_sessions(tmp_path)
    assert str(app.PROJECT) in hidden and (app.PROJECT / "source").is_dir()  # the TP's solutions are there
    assert app.GRADING_ROOT in hidden and str(tmp_path / "disks") in hidden
    assert str(tmp_path / "cache") not in hidden  # the base image's archive, loaded by each engine


def test_a_session_spec_round_trips_and_names_its_paths(tmp_path):
    spec = session.SessionSpec(user="alice", uid=1001, gid=1001, index=3, root=str(tmp_path),
                               env={"JUPYTERHUB_API_TOKEN": "t"})
    again = session.SessionSpec.from_json(spec.to_json())
    assert again == spec
    assert again.image == tmp_path / "disks" / "alice.img"
    assert again.home == tmp_path / "sessions" / "alice" / "home"
    assert again.cgroup().name == "dockercourse-hub/alice"
    env = session._user_env(again)
    assert env["JUPYTERHUB_API_TOKEN"] == "t" and env["DOCKER_HOST"].endswith("/sessions/alice/run/docker.sock")
    assert "JUPYTER_CONFIG_PATH" in env and "HOME" in env and "SUDO_USER" not in env


def test_the_correction_service_takes_only_known_assignments(tmp_path):
    from dockercourse.hub.correction import ASSIGNMENT_CHARS, Runs

    runs = Runs(tmp_path, tmp_path / "log", 2)
    cmd = runs.command("tp-conteneurisation", True)
    assert cmd[-6:] == ["--course", str(tmp_path), "--jobs", "2", "--wait", "--force"]
    assert not set("../x") <= ASSIGNMENT_CHARS and not set("a b") <= ASSIGNMENT_CHARS


def test_the_hub_command_needs_root(monkeypatch, capsys):
    monkeypatch.setattr(app.os, "geteuid", lambda: 1000)
    from dockercourse.__main__ import main

    assert main(["hub", "--class", str(Path("/nonexistent.csv"))]) == 2
    assert "se lance en root" in capsys.readouterr().err


def test_members_subordinate_ids_never_meet_the_grading_sandboxes():
    from dockercourse.grading import host

    assert roster.SUBID_BASE >= host.SUBID_END  # tests and cleanups tell them apart by range
    assert roster.SUBID_BASE + 10_000 * host.SUBID_SPAN < 2**32 - 1  # ten thousand members fit


def test_the_hub_names_the_ports_already_taken():
    """The hub needs --port, the next one (the proxy's API) and the one after (the correction service):
    one that something holds is named before JupyterHub starts, instead of a JupyterHub that stops."""
    import socket

    from dockercourse.hub import app
    from dockercourse.registry import free_port

    port = free_port()
    assert app.ports_taken("127.0.0.1", (port,)) == []
    with socket.socket() as held:
        held.bind(("127.0.0.1", port))
        held.listen()
        assert app.ports_taken("127.0.0.1", (port,)) == [port]
