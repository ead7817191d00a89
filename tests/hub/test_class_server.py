"""The class server (``python -m dockercourse hub``), on loopback: three students and one instructor,
each a real Unix account, a whole term through JupyterHub.

The tests run in file order on one hub (module fixture): a student logs in from Chromium and runs
``docker`` in a notebook; two students publish the same port and try to reach, list and remove each
other's things; a fork bomb and a 4 GiB allocation in one session; the instructor releases the TP,
students fetch it from the Assignments API, one solves it in her session (build, run, checks on her
rootless engine), both submit, the instructor collects, grades through the « correction » service and
releases feedback, each student fetches their own. Stopping the hub, then ``--remove``, must leave
no process, mount, cgroup, network namespace, loop device, account or firewall rule behind.
"""

from __future__ import annotations

import contextlib
import csv
import json
import pwd
import re
import sqlite3
import subprocess
import time
from pathlib import Path

import nbformat
import pytest
import requests

from dockercourse.hub import network, session
from tests.utils import corpus
from tests.utils.assignment import AID, NB, not_at_full_marks_as_released
from tests.utils.hub import Hub
from tests.utils.lab_browser import open_lab
from tests.utils.paths import ROOT

A, B, C, PROF = "hubtest-a", "hubtest-b", "hubtest-c", "hubtest-prof"
MEMBERS = {A: "student", B: "student", C: "student", PROF: "instructor"}
HUB_ROOT = Path("/var/lib/dockercourse-hub-test")
COURSE_ID = "conteneurisation-docker"
HOG = "b = bytearray(4 * 2**30)\nfor i in range(0, len(b), 4096):\n    b[i] = 1\n"  # 4 GiB, every page touched
DOCKER_CELL = "!docker run --rm python:3.13-slim python -c \"print('bonjour du conteneur')\""


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hub")
    roster = tmp / "classe.csv"
    roster.write_text("id,role\n" + "".join(f"{k},{v}\n" for k, v in MEMBERS.items()))
    h = Hub(roster, HUB_ROOT, tmp / "hub.log")
    subprocess.run([*h.command, "--remove"], capture_output=True)  # a previous run's
    try:
        h.start()
        yield h
    finally:
        h.stop()
        subprocess.run([*h.command, "--remove"], capture_output=True)


def password(hub: Hub, user: str) -> str:
    with open(hub.root / "first-passwords.csv") as fh:
        return next(r["first_password"] for r in csv.DictReader(fh) if r["id"] == user)


def log_in(page, hub: Hub, user: str) -> None:
    """The hub's login form with the member's first password, until JupyterLab shows its French menus."""
    from playwright.sync_api import expect

    page.goto(f"{hub.url}/hub/login")
    page.fill("#username_input", user)
    page.fill("#password_input", password(hub, user))
    page.click("#login_submit")
    page.wait_for_url(re.compile(rf"/user/{user}/lab"), timeout=240_000)
    open_lab(page, None, ".lm-MenuBar-itemLabel", timeout_ms=120_000)
    expect(page.locator(".lm-MenuBar-itemLabel", has_text="Fichier")).to_be_visible(timeout=120_000)


def test_members_get_real_accounts_and_a_first_password(hub):
    printed = hub.log.read_text()
    for user, role in MEMBERS.items():
        pw = pwd.getpwnam(user)
        assert pw.pw_dir == str(HUB_ROOT / "sessions" / user / "home")
        assert pw.pw_shell == "/usr/sbin/nologin"  # no way in but JupyterHub (sshd, su, a console)
        assert re.search(rf"{user}\s+{role}\s+premier mot de passe : \S+", printed), printed
        lines = [ln for ln in Path("/etc/subuid").read_text().splitlines() if ln.startswith(f"{user}:")]
        assert len(lines) == 1, lines
    assert len({pwd.getpwnam(u).pw_uid for u in MEMBERS}) == len(MEMBERS)
    assert (hub.root / "first-passwords.csv").stat().st_mode & 0o077 == 0
    course = (hub.root / "course").stat()
    assert course.st_mode & 0o007 == 0, "students cannot read the course (solutions, gradebook)"


@pytest.mark.browser
def test_a_student_logs_in_from_a_browser_and_runs_docker_in_a_notebook(hub):
    from playwright.sync_api import expect, sync_playwright

    from tests.utils.browser import chromium

    with sync_playwright() as pw, chromium(pw, hub.url) as browser:
        page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        page.set_default_timeout(240_000)
        t0 = time.monotonic()
        log_in(page, hub, A)
        print(f"login -> French JupyterLab: {time.monotonic() - t0:.1f} s")
        # a notebook with one docker cell, opened and run in the browser
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(DOCKER_CELL)])
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        r = requests.put(f"{hub.url}/user/{A}/api/contents/essai.ipynb", headers=hub.headers,
                         json={"type": "notebook", "content": json.loads(nbformat.writes(nb))}, timeout=60)
        assert r.status_code in (200, 201), r.text
        open_lab(page, f"{hub.url}/user/{A}/lab/tree/essai.ipynb", ".jp-NotebookPanel:visible .jp-CodeCell",
                 timeout_ms=240_000)
        cell = page.locator(".jp-NotebookPanel:visible .jp-CodeCell").first
        # the kernel is connected once the status bar says it is idle (« Inactif »)
        expect(page.get_by_role("button", name=re.compile(r"Python 3 .*\| Inactif"))).to_be_visible()
        run = page.get_by_role("button", name=re.compile(r"^Exécuter cette cellule"))
        for attempt in range(3):  # as a student would click again if nothing happened
            cell.locator(".jp-InputArea-editor").click()
            run.click()
            try:
                expect(cell.locator(".jp-InputPrompt")).not_to_have_text(re.compile(r"\[\s*\]"), timeout=30_000)
                break
            except AssertionError:
                print(f"run {attempt + 1}: the cell did not start")
        expect(cell.locator(".jp-OutputArea-output")).to_contain_text("bonjour du conteneur", timeout=180_000)
        print(f"login -> docker cell's output in the browser: {time.monotonic() - t0:.1f} s")


def test_two_students_publish_the_same_port_and_cannot_reach_each_other(hub):
    hub.spawn(A)
    hub.spawn(B)
    serve = ("docker run -d --name web -p 8000:8000 python:3.13-slim sh -c "
             "'mkdir /s && echo {who} > /s/index.html && cd /s && exec python -m http.server 8000'")
    get = "python3 -c \"import urllib.request as u; print(u.urlopen('{url}', timeout=5).read().decode())\""
    for user in (A, B):
        rc, out = hub.sh(user, "docker rm -f web >/dev/null 2>&1; " + serve.format(who=f"page-de-{user}"))
        assert rc == 0, out
    for user in (A, B):  # each one's port 8000 is their own
        ok = False
        for _ in range(30):
            rc, out = hub.sh(user, get.format(url="http://127.0.0.1:8000/"))
            if rc == 0:
                ok = True
                break
            time.sleep(1)
        assert ok and f"page-de-{user}" in out, out
    # through the hub: jupyter-server-proxy in A's session
    r = requests.get(f"{hub.url}/user/{A}/proxy/8000/", headers=hub.headers, timeout=30)
    assert r.status_code == 200 and f"page-de-{A}" in r.text, r.text[:300]
    a_addr = network.session_address(hub.index(A))
    rc, out = hub.sh(B, get.format(url=f"http://{a_addr}:8000/"))
    assert rc != 0 and f"page-de-{A}" not in out, f"B reached A's published port: {out}"
    rc, out = hub.sh(B, get.format(url=f"http://{a_addr}:8888/"))
    assert rc != 0, f"B reached A's Jupyter server: {out}"
    rc, out = hub.sh(B, get.format(url=f"http://{network.GATEWAY}:{hub.proxy_api_port}/api/routes"))
    assert rc != 0, f"B reached the proxy's API: {out}"
    # the firewall is IPv4: IPv6 is off on the bridge and in the sessions (no link-local path around it)
    rc, out = hub.sh(B, "cat /proc/sys/net/ipv6/conf/all/disable_ipv6; ip -6 addr | wc -l")
    assert out.split() == ["1", "0"], out
    assert Path(f"/proc/sys/net/ipv6/conf/{network.BRIDGE}/disable_ipv6").read_text().strip() == "1"
    # B's engine knows nothing of A's containers and images; A's socket and home are not in B's view
    rc, a_id = hub.sh(A, "docker build -q -t secret-de-a - <<'EOF'\nFROM python:3.13-slim\nLABEL a=1\nEOF\n"
                         "docker inspect -f '{{.Id}}' web")
    assert rc == 0, a_id
    a_id = a_id.strip().splitlines()[-1]
    rc, out = hub.sh(B, "docker ps -a --format '{{.Names}} {{.ID}}'; docker images --format '{{.Repository}}'")
    assert "secret-de-a" not in out and a_id[:12] not in out, out
    rc, out = hub.sh(B, f"docker kill {a_id}; docker rm -f {a_id}; docker rmi -f secret-de-a")
    assert "No such container" in out and "No such image" in out, out
    a_sock = session.SessionSpec(user=A, uid=0, gid=0, index=0, root=str(hub.root)).mountpoint / "run/docker.sock"
    rc, out = hub.sh(B, f"DOCKER_HOST=unix://{a_sock} docker ps")
    assert rc != 0 and "CONTAINER ID" not in out, out
    for folder in (a_sock.parent.parent, hub.root / "course", hub.root / "disks", hub.root / "specs"):
        rc, out = hub.sh(B, f"ls -A {folder}")  # A's disk, the course, the disks, the sessions' specs: empty
        assert out.strip() == "", f"B sees {folder}: {out}"
    # the project is not in B's view (the TP's solutions, the tests' reference answers, its history)
    for path in (ROOT / "source" / AID / NB, ROOT / "tests", ROOT / ".git"):
        rc, out = hub.sh(B, f"test -e {path} && echo visible || echo absent")
        assert out.strip() == "absent", f"B sees {path}"
    rc, out = hub.sh(B, f"cat {hub.root / 'operator-token'}")
    assert rc != 0 and "Permission denied" in out, out
    rc, out = hub.sh(A, "docker ps --format '{{.Names}}' && echo gardé > ~/cours/persiste.txt")
    assert rc == 0 and "web" in out.split(), out  # A's container is still there


def test_a_fork_bomb_and_a_memory_hog_stay_in_their_session(hub):
    hub.sh(B, "true")  # B's kernel is up before A's session is flooded
    bomb = ("import subprocess, sys\n"
            f"hog = subprocess.Popen([sys.executable, '-c', {HOG!r}])\n"
            "bomb = subprocess.Popen(['bash', '-c', 'f() { f | f & }; f'], start_new_session=True)\n"
            "print(hog.wait())\n")
    res = hub.run(A, bomb, timeout=300)
    assert res.ok and res.stdout.strip().splitlines()[-1] == "-9", res  # the hog: killed by the OOM killer
    t0 = time.monotonic()
    answer = hub.run(B, "print(6 * 7)", timeout=120)
    seconds = time.monotonic() - t0
    print(f"B's cell during A's fork bomb: {seconds:.1f} s")
    assert answer.ok and answer.stdout.strip() == "42", answer
    cg = session.SessionSpec(user=A, uid=0, gid=0, index=0, root=str(hub.root)).cgroup()
    assert cg.oom_kills() >= 1
    assert len(cg.pids()) <= 1024  # the session's process limit held
    hub.stop_server(A)  # what an instructor (or the idle culler) does: the whole session goes
    assert cg.pids() == set()


@pytest.mark.browser
def test_a_term_across_real_accounts(hub):
    hub.spawn(PROF)
    course = hub.root / "course"
    rc, out = hub.sh(PROF, f"cd {course} && nbgrader generate_assignment {AID} --force && "
                           f"nbgrader release_assignment {AID} --force", timeout=300)
    assert rc == 0, out
    for user, code in ((PROF, 200), (B, 404)):  # formgrader: the instructor's session only
        r = requests.get(f"{hub.url}/user/{user}/formgrader", headers=hub.headers, timeout=120)
        assert r.status_code == code, (user, r.status_code)
    hub.spawn(A)  # a new session on A's disk: her files are there
    rc, out = hub.sh(A, "cat ~/cours/persiste.txt; ls ~/cours/lecons")
    assert rc == 0 and "gardé" in out and "00_demarrage.ipynb" in out, out
    # B: the Assignments panel's requests, fetch then submit the TP untouched
    r = requests.get(f"{hub.url}/user/{B}/assignments", params={"course_id": COURSE_ID}, headers=hub.headers,
                     timeout=60)
    assert r.status_code == 200 and any(a["assignment_id"] == AID for a in r.json()["value"]), r.text
    for action in ("fetch", "submit"):
        r = requests.post(f"{hub.url}/user/{B}/assignments/{action}", headers=hub.headers, timeout=120,
                          data={"course_id": COURSE_ID, "assignment_id": AID})
        assert r.status_code == 200 and r.json().get("success") is True, r.text
    # A, in Chromium: fetches the TP from the list, types the solution, runs all (her kernel builds, runs
    # and checks her image on her own engine), sees ✅ everywhere, submits
    from playwright.sync_api import sync_playwright

    from tests.utils.browser import chromium
    from tests.utils.lab_browser import Steps, solution_cells, student_does_the_tp

    with sync_playwright() as pw:
        with chromium(pw, hub.url) as browser:
            page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            step = Steps({"hub-tp": page})
            with step("log in"):
                log_in(page, hub, A)
            student_does_the_tp(page, step, solution_cells())
        print("\n".join(f"{secs:6.1f} s  {what}" for what, secs in step.times))
    r = requests.get(f"{hub.url}/user/{A}/api/contents/{AID}/{NB}", headers=hub.headers, timeout=60)
    assert not_at_full_marks_as_released(nbformat.from_dict(r.json()["content"])) == []  # what she saved
    rc, out = hub.sh(PROF, f"cd {course} && nbgrader collect {AID}", timeout=300)
    assert rc == 0, out
    assert {p.name for p in (course / "submitted").iterdir()} == {A, B}
    # grading: the instructor's token reaches the « correction » service; a student's does not
    prof_token = hub.token_for(PROF, ["access:services!service=correction"])
    student_token = hub.token_for(B, [])
    svc = f"{hub.url}/services/correction/"
    assert requests.post(svc, headers={"Authorization": f"token {student_token}", "Accept": "application/json"},
                         json={"assignment": AID}, timeout=30).status_code == 403
    prof = {"Authorization": f"token {prof_token}", "Accept": "application/json"}
    r = requests.post(svc, headers=prof, json={"assignment": AID}, timeout=30)
    assert r.status_code == 202, r.text
    deadline = time.monotonic() + 1500
    while time.monotonic() < deadline:
        st = requests.get(svc, headers=prof, timeout=30).json()
        if not st["running"]:
            break
        time.sleep(3)
    assert st["returncode"] == 0, st["log"][-3000:]
    with contextlib.closing(sqlite3.connect(course / "gradebook.db")) as db:
        got = dict(db.execute("select s.student_id, sum(g.auto_score) from grade g join submitted_notebook n on "
                              "g.notebook_id = n.id join submitted_assignment s on n.assignment_id = s.id "
                              "group by s.student_id").fetchall())
    full = sum(corpus.MAX.values())
    assert got[A] == full and got[B] < full, (got, st["log"][-2000:])
    rc, out = hub.sh(PROF, f"cd {course} && nbgrader generate_feedback {AID} && nbgrader release_feedback {AID}",
                     timeout=600)
    assert rc == 0, out
    for user in (A, B):
        r = requests.post(f"{hub.url}/user/{user}/assignments/fetch_feedback", headers=hub.headers, timeout=120,
                          data={"course_id": COURSE_ID, "assignment_id": AID})
        assert r.status_code == 200, r.text
        rc, out = hub.sh(user, f"cat ~/cours/{AID}/feedback/*/{AID}.html | grep -c 'Score' ; ls ~/cours/{AID}/feedback")
        assert rc == 0 and int(out.split()[0]) >= 1, out
    # B cannot find, list or read A's feedback in the exchange
    rc, out = hub.sh(B, f"ls {hub.root}/exchange/{COURSE_ID}/feedback/ 2>&1; "
                        f"find {hub.root}/exchange -name '*.html' 2>/dev/null | wc -l")
    assert "Permission denied" in out or out.strip().splitlines()[-1] == "0", out


def test_stopping_the_hub_then_removing_the_class_leaves_nothing_behind(hub):
    ids = {u: pwd.getpwnam(u).pw_uid for u in MEMBERS}
    disks = sorted((hub.root / "disks").glob("*.img"))
    assert {d.stem for d in disks} >= {A, B, PROF}, "each member who logged in has a disk"
    assert hub.stop() == 0
    assert "Serveur de classe arrêté" in hub.log.read_text()
    from dockercourse.grading.host import SUBID_SPAN
    from dockercourse.hub.roster import SUBID_BASE

    ranges = [(SUBID_BASE + i * SUBID_SPAN, SUBID_BASE + (i + 1) * SUBID_SPAN) for i in range(len(MEMBERS))]
    left = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            uid = proc.stat().st_uid
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if uid in ids.values() or any(lo <= uid < hi for lo, hi in ranges) or str(hub.root) in cmd \
                or ("configurable-http-proxy" in cmd and str(hub.port) in cmd):
            left.append(f"{proc.name}: {cmd[:120]}")
    assert left == [], left  # (stop waits for the sessions' processes to be reaped)
    mounts = Path("/proc/self/mountinfo").read_text()
    assert str(hub.root) not in mounts
    for d in disks:
        assert subprocess.run(["losetup", "-j", str(d)], capture_output=True, text=True).stdout == ""
    assert not list(Path("/sys/fs/cgroup").glob(f"*/{session.CGROUP_PARENT}")) and \
        not (Path("/sys/fs/cgroup") / session.CGROUP_PARENT).exists()
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert network.BRIDGE not in links and "dchv" not in links, links
    for table in ("filter", "nat"):
        rules = subprocess.run(["iptables", "-w", "-t", table, "-S"], capture_output=True, text=True).stdout
        assert network.CHAIN not in rules, rules
    # end of term
    done = subprocess.run([*hub.command, "--remove"], capture_output=True, text=True)
    assert done.returncode == 0 and "4 compte(s)" in done.stdout, done.stdout + done.stderr
    for user in MEMBERS:
        with pytest.raises(KeyError):
            pwd.getpwnam(user)
        assert not any(ln.startswith(f"{user}:") for ln in Path("/etc/subuid").read_text().splitlines())
    assert not hub.root.exists()


def test_an_idle_session_is_stopped_engine_and_containers_included(tmp_path):
    """A hub of its own with ``--idle 20``: jupyterhub-idle-culler (checking every 10 s) stops C's
    server once nobody used it for 20 s, and with it everything in C's cgroup — her engine and a
    container she left running."""
    roster = tmp_path / "classe.csv"
    roster.write_text(f"id,role\n{C},student\n{PROF},instructor\n")
    h = Hub(roster, HUB_ROOT, tmp_path / "hub.log", idle_s=20)
    subprocess.run([*h.command, "--remove"], capture_output=True)
    try:
        h.start()
        h.spawn(C)
        rc, out = h.sh(C, "docker run -d --name oubli python:3.13-slim sleep infinity")
        assert rc == 0, out
        h.kernels.clear()  # (the kernel stays, idle: the culler looks at the hub's last activity)
        cg = session.SessionSpec(user=C, uid=0, gid=0, index=0, root=str(h.root)).cgroup()
        engine_pids = [p for p in cg.pids() if "dockerd" in Path(f"/proc/{p}/cmdline").read_bytes().decode(
            errors="replace")]
        assert engine_pids, "C's engine runs in her cgroup"
        from dockercourse.waiting import wait_until

        culled, seconds = wait_until(lambda: not h.server(C), 240, interval=2)
        assert culled, "the idle culler did not stop C's server:\n" + (h.root / "logs" / "jupyterhub.log").read_text(
            errors="replace")[-3000:]
        print(f"idle session stopped {seconds:.0f} s into the wait (--idle 20, checked every 10 s)")
        gone, _ = wait_until(lambda: not cg.pids(), 30)
        assert gone, cg.pids()
        assert "Culling server" in (h.root / "logs" / "jupyterhub.log").read_text(errors="replace")
    finally:
        h.stop()
        subprocess.run([*h.command, "--remove"], capture_output=True)
