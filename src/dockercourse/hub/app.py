"""``python -m dockercourse hub``: one Linux machine becomes the class's JupyterHub (root).

From the class list (:mod:`.roster`) it makes the members' accounts, the class server's folder
(:data:`~.session.DEFAULT_ROOT`: disks, the nbgrader exchange, the instructors' course), the
network (:mod:`.network`), the configuration of JupyterHub (:func:`hub_config`, pure) and of
nbgrader for every session, then runs JupyterHub in the foreground with
:class:`~.spawner.ClassSpawner`. Ctrl-C (or SIGTERM) stops every session and removes the
network and the cgroups: nothing is left running.
"""

from __future__ import annotations

import contextlib
import csv
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from .. import engine, hostpkg
from ..errors import DockercourseError
from ..waiting import wait_until
from . import network, roster, session

PROJECT = Path(__file__).resolve().parents[3]
ASSIGNMENT = "tp-conteneurisation"
COURSE_ID = "conteneurisation-docker"
#: The API token of the server's operator (root): a service with the admin role, written root-only.
ADMIN_SERVICE = "dockercourse-operateur"
PROXY_PACKAGE = "configurable-http-proxy@4"
GRADING_ROOT = "/var/lib/dockercourse-grading"  # (grading.host.DEFAULT_ROOT: not imported for a config string)


class HubError(DockercourseError, RuntimeError):
    """The class server cannot start; the message is French."""


def add_arguments(p) -> None:
    p.add_argument("--class", dest="roster", required=True, metavar="CSV",
                   help="the class list: a CSV with columns id,role (student or instructor)")
    p.add_argument("--ip", default="0.0.0.0", help="address the hub listens on (default: every address)")
    p.add_argument("--port", type=int, default=8000, help="the hub's public port (default: 8000)")
    p.add_argument("--root", default=str(session.DEFAULT_ROOT), help="the class server's folder")
    p.add_argument("--memory", type=int, default=2048, metavar="MIB", help="memory of one session (MiB)")
    p.add_argument("--cpus", type=float, default=1.0, help="CPU cores of one session")
    p.add_argument("--disk", type=int, default=10, metavar="GIB", help="each member's disk (GiB, sparse)")
    p.add_argument("--idle", type=int, default=3600, metavar="S", help="stop sessions idle this long (seconds)")
    p.add_argument("--no-engine", action="store_true", help="sessions without a Docker engine (tests only)")
    p.add_argument("--remove", action="store_true",
                   help="end of term: stop everything, delete the class list's accounts, their disks and the "
                        "class server's folder (its exchange and course included), then exit")


# ------------------------------------------------------------------ pure

def hub_config(*, root: Path, roster_path: Path, ip: str, port: int, proxy: str, proxy_api_port: int,
               engine_source: str, base_tar: str, notebooks: str, memory_mib: int, cpus: float, disk_gib: int,
               idle_s: int, members: list[roster.Member], state: str, jobs: int = 2) -> str:
    """The text of ``jupyterhub_config.py`` (pure)."""
    students = sorted(m.id for m in members if not m.instructor)
    instructors = sorted(m.id for m in members if m.instructor)
    table = {m.id: {"index": m.index, "role": m.role} for m in members}
    lines = [
        "# Written by `python -m dockercourse hub` at each start: edit the class list or the command's",
        "# options instead. (The spawner: dockercourse.hub.spawner.ClassSpawner.)",
        "c = get_config()  # noqa: F821",
        f"c.JupyterHub.bind_url = {f'http://{ip}:{port}'!r}",
        f"c.JupyterHub.hub_bind_url = {f'http://{network.GATEWAY}:{network.HUB_API_PORT}'!r}",
        f"c.JupyterHub.db_url = {'sqlite:///' + str(root / 'jupyterhub.sqlite')!r}",
        f"c.JupyterHub.cookie_secret_file = {str(root / 'jupyterhub_cookie_secret')!r}",
        f"c.JupyterHub.pid_file = {str(root / 'jupyterhub.pid')!r}",
        "c.JupyterHub.cleanup_servers = True",
        "c.JupyterHub.authenticator_class = 'pam'",
        f"c.Authenticator.allowed_users = {set(students + instructors)!r}",
        "c.PAMAuthenticator.open_sessions = False",
        f"c.ConfigurableHTTPProxy.command = [{proxy!r}]",
        f"c.ConfigurableHTTPProxy.api_url = {f'http://127.0.0.1:{proxy_api_port}'!r}",
        "c.JupyterHub.spawner_class = 'dockercourse.hub.spawner.ClassSpawner'",
        "c.Spawner.default_url = '/lab'",
        f"c.ClassSpawner.hub_root = {str(root)!r}",
        f"c.ClassSpawner.members = {table!r}",
        f"c.ClassSpawner.memory_mib = {memory_mib}",
        f"c.ClassSpawner.session_cpus = {cpus}",
        f"c.ClassSpawner.disk_gib = {disk_gib}",
        f"c.ClassSpawner.engine_source = {engine_source!r}",
        f"c.ClassSpawner.base_tar = {base_tar!r}",
        f"c.ClassSpawner.notebooks = {notebooks!r}",
        f"c.ClassSpawner.hidden = {hidden_in_sessions(root)!r}",
        f"c.ClassSpawner.instructor_hidden = {[str(root / 'course')]!r}",
        "c.JupyterHub.services = [",
        f"    {{'name': {ADMIN_SERVICE!r}, 'api_token': open({str(root / 'operator-token')!r}).read().strip()}},",
        "    {'name': 'jupyterhub-idle-culler', 'command': ["
        f"{sys.executable!r}, '-m', 'jupyterhub_idle_culler', '--timeout={idle_s}']}},",
        f"    {{'name': 'correction', 'display': True, 'oauth_no_confirm': True, "
        f"'url': 'http://127.0.0.1:{proxy_api_port + 1}', "
        f"'command': [{sys.executable!r}, '-m', 'dockercourse.hub.correction'], 'environment': {{"
        f"'DOCKERCOURSE_HUB_COURSE': {str(root / 'course')!r}, "
        f"'DOCKERCOURSE_HUB_CORRECTION_LOG': {str(root / 'logs' / 'correction.log')!r}, "
        f"'DOCKERCOURSE_HUB_JOBS': '{jobs}', 'DOCKERCOURSE_STATE': {state!r}}}}},",
        "]",
        "c.JupyterHub.load_roles = [",
        f"    {{'name': 'operateur', 'scopes': ['admin:users', 'admin:servers', 'access:servers', 'tokens'], "
        f"'services': [{ADMIN_SERVICE!r}]}},",
        f"    {{'name': 'enseignant', 'users': {instructors!r}, "
        "'scopes': ['access:services!service=correction']},",
        "    {'name': 'idle-culler', 'scopes': ['list:users', 'read:users:activity', 'read:servers', "
        "'delete:servers'], 'services': ['jupyterhub-idle-culler']},",
        "]",
        f"# class list: {roster_path}",
    ]
    return "\n".join(lines) + "\n"


def hidden_in_sessions(root: Path) -> list[str]:
    """Covered in every session: the server's own files, the grading sandboxes, and the project
    (the TP's solutions in ``source/``, the reference answers in ``tests/``, its git history): only
    its Python environment and package are bound back, read-only."""
    return [str(root / d) for d in ("disks", "specs", "logs")] + [GRADING_ROOT, str(PROJECT)]


def nbgrader_common(exchange: Path) -> str:
    return ("c = get_config()  # noqa: F821\n"
            f"c.CourseDirectory.course_id = {COURSE_ID!r}\n"
            f"c.Exchange.root = {str(exchange)!r}\n")


#: The course image's student configuration (formgrader and create-assignment off), the single source.
STUDENT_CONFIG = PROJECT / "image" / "jupyter" / "student"


# ------------------------------------------------------------------ set-up (root)

def proxy_command(state: Path, quiet: bool = False) -> str:
    """npm's configurable-http-proxy, installed once under the project's state folder."""
    prefix = state / "hub" / "proxy"
    exe = prefix / "node_modules" / ".bin" / "configurable-http-proxy"
    if exe.exists():
        return str(exe)
    npm = shutil.which("npm")
    if npm is None:
        raise HubError("npm est introuvable : installez Node.js 20 et npm (apt-get install nodejs npm), "
                       "le proxy de JupyterHub (configurable-http-proxy) en vient.")
    if not quiet:
        print("  proxy : npm install configurable-http-proxy (quelques secondes)…", flush=True)
    prefix.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--prefix", str(prefix), PROXY_PACKAGE],
                          capture_output=True, text=True)
    if proc.returncode != 0 or not exe.exists():
        raise HubError("npm install configurable-http-proxy a échoué :\n" + (proc.stderr or proc.stdout)[-800:])
    return str(exe)


def save_base(root: Path) -> str:
    """``docker save`` of the course's base image from the host's engine (made once per image id)."""
    import docker

    try:
        img = engine.client(timeout=30).images.get(engine.BASE_IMAGE)
    except docker.errors.ImageNotFound:
        raise HubError(f"l'image de base {engine.BASE_IMAGE} est absente du Docker de cette machine : "
                       "préparez-la d'abord (make setup, ou python -m dockercourse offline).") from None
    except docker.errors.DockerException as err:
        raise HubError(f"le Docker de cette machine ne répond pas ({err}) : make setup.") from None
    from ..grading.host import cached_save
    from ..grading.sandbox import SandboxError

    try:
        return str(cached_save(root / "cache", img.id.split(":")[-1][:16], [engine.BASE_IMAGE]))
    except SandboxError as err:
        raise HubError(str(err)) from None


def prepare(args, members: list[roster.Member]) -> dict:
    """Everything but JupyterHub itself; returns what :func:`hub_config` needs."""
    root = Path(args.root).absolute()
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o711)
    (root / "logs").mkdir(exist_ok=True)
    os.chmod(root / "logs", 0o700)
    from ..grading import host
    from ..grading.engine_ns import write_wrappers

    host.ensure_host_support(quiet=True)
    for exe, pkg in (("bridge", "iproute2"), ("iptables", "iptables"), ("mkfs.ext4", "e2fsprogs")):
        hostpkg.ensure_command(exe, pkg, error=HubError)
    engine_source = ""
    if not args.no_engine:
        ce_root = host.current_engine_root(quiet=False)
        if ce_root is None:
            raise HubError("le moteur Docker récent des sessions n'a pas pu être préparé (voir ci-dessus).")
        engine_source = str(ce_root)
        (root / session.ENGINE_VIEW).mkdir(exist_ok=True)
        write_wrappers(root / session.ENGINE_BIN, root / session.ENGINE_VIEW)
    base_tar = save_base(root) if not args.no_engine else ""
    proxy = proxy_command(engine.state_dir())
    # nbgrader: the exchange, the instructors' course, the configuration every session reads
    exchange = root / "exchange"
    exchange.mkdir(exist_ok=True)
    os.chmod(exchange, 0o1777)
    subprocess.run(["groupadd", "-f", "--system", roster.GROUPS["instructor"]], check=True, capture_output=True)
    subprocess.run(["groupadd", "-f", "--system", roster.GROUPS["student"]], check=True, capture_output=True)
    import grp

    course = root / "course"
    if not course.exists():
        course.mkdir()
        shutil.copyfile(PROJECT / "nbgrader_config.py", course / "nbgrader_config.py")
        shutil.copytree(PROJECT / "source", course / "source")
    teachers = grp.getgrnam(roster.GROUPS["instructor"]).gr_gid
    for p in [course, *course.rglob("*")]:
        os.chown(p, 0, teachers)
        os.chmod(p, 0o2770 if p.is_dir() else 0o660)
    common = root / "jupyter"
    common.mkdir(exist_ok=True)
    (common / "nbgrader_config.py").write_text(nbgrader_common(exchange))
    # the course image's student configuration (nbgrader's instructor tools off, server and JupyterLab)
    # and the lecture notebooks: copies, since sessions do not see the project (its solutions, tests, git)
    students_cfg = root / "jupyter-students"
    shutil.rmtree(students_cfg, ignore_errors=True)
    shutil.copytree(STUDENT_CONFIG, students_cfg)
    notebooks = root / "notebooks"
    shutil.rmtree(notebooks, ignore_errors=True)
    notebooks.mkdir()
    for nb in sorted((PROJECT / "notebooks").glob("0*.ipynb")):
        shutil.copyfile(nb, notebooks / nb.name)
    for d in (common, students_cfg, notebooks):
        for p in [d, *d.rglob("*")]:
            os.chmod(p, 0o755 if p.is_dir() else 0o644)
    token = root / "operator-token"
    if not token.exists():
        fd = os.open(token, os.O_WRONLY | os.O_CREAT, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    return {"root": root, "engine_source": engine_source, "base_tar": base_tar, "proxy": proxy,
            "notebooks": str(notebooks), "state": str(engine.state_dir())}


def make_accounts(members: list[roster.Member], root: Path) -> list[tuple[str, str, str]]:
    """Accounts; the first passwords of new ones (also appended, root-only, to first-passwords.csv)."""
    new = []
    for m in members:
        _, _, password = roster.ensure_member(m, root)
        if password:
            new.append((m.id, m.role, password))
    if new:
        path = root / "first-passwords.csv"
        fresh = not path.exists()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "w", newline="") as fh:
            w = csv.writer(fh)
            if fresh:
                w.writerow(["id", "role", "first_password"])
            w.writerows(new)
    return new


def cleanup(root: Path) -> list[str]:
    """Stop every session (their cgroups killed), remove the network: what a killed hub left too."""
    from ..grading.cgroup import Cgroup
    from ..grading.protocol import Limits

    done = []
    for base in (Path("/sys/fs/cgroup"), *Path("/sys/fs/cgroup").glob("*")):
        parent = base / session.CGROUP_PARENT
        if not parent.is_dir():
            continue
        for child in parent.iterdir():
            if child.is_dir():
                Cgroup(0, Limits(), (0, 0), name=f"{session.CGROUP_PARENT}/{child.name}").remove()
                done.append(child.name)
        with contextlib.suppress(OSError):
            parent.rmdir()
    for img in (root / "disks").glob("*.img") if (root / "disks").is_dir() else []:
        for dev in session._attached_loops(img):
            subprocess.run(["losetup", "-d", dev], capture_output=True)
    network.down()
    return sorted(set(done))


def remove_class(members: list[roster.Member], root: Path) -> list[str]:
    """End of term: sessions stopped, the members' accounts (those the hub made) and subordinate
    ids deleted, the class server's folder removed. Returns the accounts deleted."""
    from ..grading.host import _USERS_LOCK, SUBID_FILES

    cleanup(root)
    gone = [m.id for m in members if roster.remove_member(m.id)]
    with _USERS_LOCK:
        for path in SUBID_FILES:
            if Path(path).exists():
                lines = Path(path).read_text().splitlines()
                keep = [ln for ln in lines if ln.split(":")[0] not in gone]
                Path(path).write_text("\n".join(keep) + ("\n" if keep else ""))
    for g in roster.GROUPS.values():
        subprocess.run(["groupdel", g], capture_output=True)
    if root.is_dir() and (root / "jupyterhub_config.py").exists():
        shutil.rmtree(root, ignore_errors=True)
    return gone


def hub_main(args) -> int:
    if os.geteuid() != 0:
        print("Le serveur de classe se lance en root (il crée les comptes, les disques et le réseau des "
              "sessions) : sudo python -m dockercourse hub --class …", file=sys.stderr)
        return 2
    if args.remove:
        try:
            members = roster.read_roster(args.roster)
        except roster.RosterError as err:
            print(f"Liste de classe : {err}", file=sys.stderr)
            return 2
        gone = remove_class(members, Path(args.root).absolute())
        print(f"Serveur de classe supprimé : {len(gone)} compte(s) ({', '.join(gone) or 'aucun'}), leurs disques "
              f"et {args.root}.")
        return 0
    taken = ports_taken(args.ip, (args.port, args.port + 1, args.port + 2))
    if taken:
        which = (f"le port {taken[0]} est déjà pris" if len(taken) == 1 else
                 f"les ports {', '.join(map(str, taken[:-1]))} et {taken[-1]} sont déjà pris")
        print(f"Le serveur de classe ne peut pas démarrer : {which} "
              f"sur {args.ip or '0.0.0.0'}. Il utilise trois ports : --port ({args.port}), le suivant (l'API du "
              "proxy) et celui d'après (le service de correction) : choisissez-en d'autres avec --port.",
              file=sys.stderr)
        return 2
    try:
        members = roster.read_roster(args.roster)
        print(f"== Serveur de classe : {sum(not m.instructor for m in members)} étudiants, "
              f"{sum(m.instructor for m in members)} enseignant(s)", flush=True)
        setup = prepare(args, members)
        root = setup["root"]
        cleanup(root)
        new = make_accounts(members, root)
        network.up()
        config = root / "jupyterhub_config.py"
        config.write_text(hub_config(roster_path=Path(args.roster).absolute(), ip=args.ip, port=args.port,
                                     proxy_api_port=args.port + 1, memory_mib=args.memory, cpus=args.cpus,
                                     disk_gib=args.disk, idle_s=args.idle, members=members, **setup))
        os.chmod(config, 0o600)
    except (DockercourseError, OSError, subprocess.CalledProcessError) as err:
        print(f"Le serveur de classe ne peut pas démarrer : {err}", file=sys.stderr)
        return 2
    host = "127.0.0.1" if args.ip in ("0.0.0.0", "") else args.ip
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "DOCKER_HOST"))}
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '/usr/bin:/bin')}"
    log = open(root / "logs" / "jupyterhub.log", "ab") if (root / "logs").is_dir() else None
    proc = subprocess.Popen([sys.executable, "-m", "jupyterhub", "-f", str(config)], cwd=root, env=env,
                            stdout=log, stderr=log, start_new_session=True)
    stopping: list[int] = []
    old = {s: signal.signal(s, lambda signum, _frame: stopping.append(signum)) for s in (signal.SIGINT, signal.SIGTERM)}
    failed = False
    try:
        ready, _ = wait_until(lambda: proc.poll() is not None or bool(stopping) or _answers(host, args.port), 120,
                              interval=0.5)
        if proc.poll() is not None or not ready:
            failed = True
            why = (f"s'est arrêté (code {proc.returncode})" if proc.poll() is not None
                   else "ne répond pas après 2 minutes")
            print(f"JupyterHub {why}. Dernières lignes de {root / 'logs' / 'jupyterhub.log'} :\n"
                  + engine.file_tail(root / "logs" / "jupyterhub.log", 25), file=sys.stderr, flush=True)
        elif not stopping:
            lines = [f"  {ident:<20} {role:<10} premier mot de passe : {password}" for ident, role, password in new]
            lines = lines or [f"  (comptes déjà créés ; premiers mots de passe dans {root / 'first-passwords.csv'})"]
            # one write: the address last, so that whoever waits for it has the passwords too
            print("\n".join([*lines, f"Adresse : http://{host}:{args.port}/  (comptes Unix ; Ctrl-C arrête tout)"]),
                  flush=True)
        while proc.poll() is None and not stopping and not failed:
            time.sleep(0.3)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # JupyterHub stops the sessions (cleanup_servers)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # the proxy, the idle culler, the correction service
        left = cleanup(root)
        for m in members:  # and wait until every session's processes are reaped
            with contextlib.suppress(KeyError):
                pw = pwd.getpwnam(m.id)
                session.stop(session.SessionSpec(user=m.id, uid=pw.pw_uid, gid=pw.pw_gid, index=m.index,
                                                 root=str(root)))
        for sig, handler in old.items():
            signal.signal(sig, handler)
        if log:
            log.close()
    print("Serveur de classe arrêté" + (f" (sessions arrêtées : {', '.join(left)})" if left else "") + ".", flush=True)
    return 2 if failed else 0 if stopping else (proc.returncode or 0)


def ports_taken(ip: str, ports) -> list[int]:
    """The ``ports`` something already holds on ``ip`` (JupyterHub, its proxy and the correction
    service would fail later, less clearly)."""
    import socket

    taken = []
    for port in ports:
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers do: TIME_WAIT is no owner
            try:
                s.bind((ip, port))
            except OSError:
                taken.append(port)
    return taken


def _answers(host: str, port: int) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://{host}:{port}/hub/api/", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False
