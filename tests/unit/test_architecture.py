"""Notebook 03's helpers: /proc and builder-output parsing on fixtures, then the
Docker behaviour each demo claims, on the real daemon, and the notebook without one."""
from __future__ import annotations

import json
import os
import stat

import pytest

from dockercourse import architecture as A
from dockercourse import engine
from tests.utils import paths
from tests.utils.paths import NOTEBOOKS

FIXTURES = paths.FIXTURES / "architecture"
NOTEBOOK = NOTEBOOKS / "03_architecture_docker.ipynb"


def test_parse_stat_with_spaces_and_parentheses_in_the_name():
    text = "4242 (my (weird) prog) S 17 4242 4242 0 -1 4194560 100 0 0 0"
    assert A.parse_stat(text) == (4242, "my (weird) prog", "S", 17)


def test_parse_cmdline():
    assert A.parse_cmdline(b"sleep\x00300\x00") == "sleep 300"
    assert A.parse_cmdline(b"") == ""


def test_read_processes_sees_this_process():
    me = [p for p in A.read_processes() if p.pid == os.getpid()]
    assert len(me) == 1 and me[0].ppid == os.getppid() and "python" in me[0].cmdline


def _fixture_procs():
    data = json.loads((FIXTURES / "processes.json").read_text())
    return data["container_id"], [A.Proc(**p) for p in data["processes"]]


def test_docker_chain_for_one_container():
    cid, procs = _fixture_procs()
    rows = A.docker_chain(procs, container_id=cid)
    assert [r["role"] for r in rows] == ["dockerd", "containerd", "shim", "container"]
    assert rows[-1]["cmdline"] == "sleep 60" and rows[-1]["ppid"] == rows[2]["pid"]
    facts = A.chain_facts(rows)
    assert facts == {"dockerd": True, "containerd": True, "containerd_child_of_dockerd": True,
                     "containerd_ppid": rows[0]["pid"], "shim": True, "shim_child_of_containerd": False,
                     "shim_ppid": rows[2]["ppid"], "container_child_of_shim": True, "runc_running": False}


def test_docker_chain_ignores_runc_of_other_containers():
    cid, procs = _fixture_procs()
    other = A.Proc(99998, 3012, "runc", "runc --root /var/run/docker/runtime-runc/moby create --bundle /x/" + "f" * 64)
    ours = A.Proc(99999, 3012, "runc", f"runc --root /var/run/docker/runtime-runc/moby start {cid}")
    assert not A.chain_facts(A.docker_chain(procs + [other], container_id=cid))["runc_running"]
    assert A.chain_facts(A.docker_chain(procs + [ours], container_id=cid))["runc_running"]


def test_docker_chain_all_containers_and_frame():
    _, procs = _fixture_procs()
    rows = A.docker_chain(procs)
    assert sum(r["role"] == "shim" for r in rows) == 2  # another container was building at the time
    df = A.chain_frame(rows)
    assert list(df.columns) == ["pid", "ppid", "rôle", "commande"]
    assert not df["commande"].str.contains("…").any()  # whole command lines
    assert not df["commande"].str.contains(r"[0-9a-f]{64}").any()  # container ids shortened like docker ps


def test_chain_sentences_are_verdicts():
    facts = {"dockerd": True, "containerd": True, "containerd_child_of_dockerd": True, "containerd_ppid": 2681,
             "shim": True, "shim_child_of_containerd": False, "shim_ppid": 1, "container_child_of_shim": True,
             "runc_running": False}
    lines = A.chain_sentences(facts)
    assert all(line.startswith("✔") for line in lines)
    assert not any(line.endswith(": non") or line.endswith(": oui") for line in lines)
    assert "paquet docker.io de Debian" in lines[2]
    assert A.chain_sentences({**facts, "runc_running": True})[-1].startswith("✘ aucun processus runc")
    # Docker CE: containerd.service, parent PID 1: a true statement too, not a failure
    ce = A.chain_sentences({**facts, "containerd_child_of_dockerd": False, "containerd_ppid": 1})
    assert ce[2].startswith("✔ containerd n'a pas été lancé par dockerd") and "PID 1" in ce[2]
    assert A.chain_sentences({**facts, "shim_child_of_containerd": True})[4].startswith("✘")


def test_runc_init_is_not_the_containers_command():
    """Read before its execve, the container's process is still « runc init »."""
    assert A.processes.is_runc_init({"role": "container", "cmdline": "runc init"})
    assert not A.processes.is_runc_init({"role": "container", "cmdline": "sleep 300"})
    rows = [{"pid": 1, "ppid": 0, "role": "shim", "cmdline": "containerd-shim-runc-v2 -id x"},
            {"pid": 2, "ppid": 1, "role": "container", "cmdline": "runc init"}]
    assert A.chain_facts(rows)["runc_running"]


def test_chain_facts_without_docker():
    assert not any(A.chain_facts([]).values())


def test_parse_build_log_cold_and_cached():
    cold, cold_id = A.parse_build_log((FIXTURES / "build_cold.log").read_text().splitlines())
    warm, warm_id = A.parse_build_log((FIXTURES / "build_cached.log").read_text().splitlines())
    assert [s.instruction.split()[0] for s in cold] == ["FROM", "LABEL", "WORKDIR", "COPY", "CMD"]
    assert all(s.total == 5 for s in cold)
    assert [s.cached for s in cold] == [False] * 5
    assert [s.cached for s in warm] == [False, True, True, True, True]
    assert cold_id == warm_id and len(warm_id) == 12


def test_clean_created_by():
    assert A.clean_created_by('/bin/sh -c #(nop)  CMD ["python"]') == 'CMD ["python"]'
    assert A.clean_created_by("/bin/sh -c pip install flask") == "RUN pip install flask"
    assert A.clean_created_by("") == "(image de base importée)"
    h = "0123456789abcdef" * 4
    assert A.clean_created_by(f"/bin/sh -c #(nop) COPY multi:{h} in ./ ") == "COPY multi:0123456789ab… in ./"


def test_history_rows_oldest_first():
    hist = [{"Id": "sha256:" + "b" * 64, "CreatedBy": "/bin/sh -c #(nop)  CMD [\"x\"]", "Size": 0, "Comment": ""},
            {"Id": "<missing>", "CreatedBy": "", "Size": 128_254_771, "Comment": "Imported from -"}]
    rows = A.history_rows(hist)
    assert [r["instruction"] for r in rows] == ["(image de base importée)", 'CMD ["x"]']
    assert rows[0]["couche"] == "<missing>" and rows[1]["couche"] == "b" * 12
    assert rows[0]["octets"] == 128_254_771


@pytest.mark.parametrize(("n", "text"), [(0, "0 o"), (1023, "1023 o"), (1536, "1,5 Kio"), (5 * 2**20, "5,0 Mio"),
                                         (2.5 * 2**40, "2560,0 Gio")])
def test_human_size(n, text):
    assert A.human_size(n) == text


def test_diff_rows_sorted_with_kinds():
    rows = A.diff_rows([{"Kind": 2, "Path": "/app/b"}, {"Kind": 0, "Path": "/app"}, {"Kind": 1, "Path": "/app/a"}])
    assert rows == [{"type": "C (modifié)", "chemin": "/app"}, {"type": "A (ajouté)", "chemin": "/app/a"},
                    {"type": "D (supprimé)", "chemin": "/app/b"}]


def test_upper_dir_entries_recognises_whiteouts(tmp_path):
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "notes.txt").write_text("x")
    os.mknod(tmp_path / "app" / "gone.py", stat.S_IFCHR | 0o600, os.makedev(0, 0))
    assert A.upper_dir_entries(tmp_path) == [
        {"chemin": "/app", "nature": "dossier"},
        {"chemin": "/app/gone.py", "nature": "whiteout (fichier supprimé)"},
        {"chemin": "/app/notes.txt", "nature": "fichier"},
    ]


#: /proc/<pid>/mountinfo of a container of Engine 26's containerd image store (the lines around its /).
MOUNTINFO_CONTAINERD = """\
76 50 0:39 / /proc/acpi ro,relatime - tmpfs tmpfs ro
77 50 0:40 / / rw,relatime - overlay overlay rw,lowerdir=/var/lib/containerd/io.containerd.snapshotter.v1.\
overlayfs/snapshots/894/fs:/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/893/fs,upperdir=\
/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/895/fs,workdir=/var/lib/containerd/io.\
containerd.snapshotter.v1.overlayfs/snapshots/895/work
78 77 0:41 / /dev rw,nosuid - tmpfs tmpfs rw,size=65536k,mode=755
"""


def test_root_overlay_reads_the_containers_mount():
    snap = "/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots"
    assert A.root_overlay(MOUNTINFO_CONTAINERD) == {"lower": [f"{snap}/894/fs", f"{snap}/893/fs"],
                                                    "upper": f"{snap}/895/fs"}
    assert A.root_overlay("22 27 0:21 / / rw,relatime - ext4 /dev/vda rw\n") is None  # not a container
    assert A.root_overlay("") is None


def test_short_layer_path():
    assert A.short_layer_path("/var/lib/docker/overlay2/d6e8a58c8b92a1b2c3d4e5f6/diff") == "…/d6e8a58c8b92…/diff"
    assert A.short_layer_path("/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/895/fs") == \
        "…/snapshots/895/fs"


def test_summarize_push_and_pull_fixtures():
    push = A.summarize_push(json.loads((FIXTURES / "push_events.json").read_text()))
    assert push["error"] is None and push["digest"].startswith("sha256:")
    assert A.count_statuses(push["layers"]) == "Pushed × 3"
    pull = A.summarize_pull(json.loads((FIXTURES / "pull_events.json").read_text()))
    assert A.count_statuses(pull["layers"]) == "Already exists × 1, Pull complete × 2"
    assert pull["status"].startswith("Downloaded newer image")
    assert A.summarize_push([{"error": "denied"}])["error"] == "denied"


def test_summarize_push_of_the_containerd_store_reads_the_digest_from_the_status_line():
    # Engine 26's containerd image store sends no "aux" message: the digest is only in the last status
    push = A.summarize_push(json.loads((FIXTURES / "push_events_containerd.json").read_text()))
    assert push["digest"] == "sha256:ba36a03888206ece5a8a8c28431553506059498f9b440842db8725ef13e115fe"
    assert push["size"] == 425 and push["error"] is None
    assert A.count_statuses(push["layers"]) == "Pushed × 1"


def test_versions_rows():
    rows = A.versions_rows({"Version": "28.2.2", "ApiVersion": "1.41"}, {"Version": "20.10", "ApiVersion": "1.41"},
                           "7.1.0", {"Version": "20.10", "ApiVersion": "1.41"}, {"Version": "20.10",
                                                                                  "ApiVersion": "1.41"}, "1.41")
    assert [r["rôle"] for r in rows] == ["client", "client", "serveur", "serveur", "serveur"]
    assert {r["version"] for r in rows if r["rôle"] == "serveur"} == {"20.10"}
    assert A.versions_facts(rows) == {"same_server": True, "cli_api": "same", "sdk_api": "same",
                                      "clients_within_server_api": True}
    rows[1]["API"] = "1.50"
    rows[4]["version"] = "28.0"
    assert A.versions_facts(rows) == {"same_server": False, "cli_api": None, "sdk_api": None,
                                      "clients_within_server_api": False}


def test_versions_sentences_hold_on_any_engine():
    """A 20.10 CLI (API 1.41) against Engine 26 (API 1.45): an older API the server understands."""
    cli = {"Version": "20.10.24", "ApiVersion": "1.41"}
    server = {"Version": "26.1.5", "ApiVersion": "1.45"}
    rows = A.versions_rows(cli, server, "7.1.0", server, server, "1.45")
    facts = A.versions_facts(rows)
    assert facts["cli_api"] == "older" and facts["sdk_api"] == "same" and facts["clients_within_server_api"]
    lines = A.versions_sentences(facts)
    assert all(line.startswith("✔") for line in lines)
    assert "CLI : plus ancienne" in lines[1] and "SDK : la même que le serveur" in lines[1]
    rows[0]["API"] = "1.47"  # a client that did not negotiate
    assert A.versions_sentences(A.versions_facts(rows))[1].startswith("✘")
    assert A.api.api_tuple("1.9") < A.api.api_tuple("1.41")


def test_inner_loop_covers_the_chapter_diagram():
    steps = [s for s, *_ in A.INNER_LOOP]
    assert steps == ["Code", "Dockerfile", "Construction", "Compose (optionnel)", "Lancement", "Test", "Publication"]
    assert list(A.inner_loop_frame().columns) == ["étape", "rôle", "commande utilisée"]
    # the figure's boxes are 1.6 wide: no line of a box's command may be longer than 22 characters
    assert all(len(line) <= 22 for *_, short in A.INNER_LOOP for line in short.splitlines())


def test_skip_sentence_printed_once_per_cell(monkeypatch, capsys):
    monkeypatch.setattr(engine, "_cell_key", lambda: 7)
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/dockercourse-no-daemon.sock")
    monkeypatch.setattr(engine, "_client", None)
    A.lifecycle()
    A.leftovers()
    assert capsys.readouterr().out.count("Cellule non exécutée") == 1
    monkeypatch.setattr(engine, "_cell_key", lambda: 8)
    A.leftovers()
    assert capsys.readouterr().out.count("Cellule non exécutée") == 1



def test_scripts_are_real_files_of_the_package():
    assert A.HOST_PS_SCRIPT == A.script("host_ps.py") and "json.dumps" in A.HOST_PS_SCRIPT
    assert "/proc" in A.script("ps.py")


def test_notebook_03_app_is_the_packages_copy():
    """Notebook 04 rebuilds notebook 03's application from the package's copy: they must not drift."""
    nb = json.loads(NOTEBOOK.read_text())
    cell = next("".join(c["source"]) for c in nb["cells"] if "".join(c["source"]).startswith('APP = """'))
    ns: dict = {}
    exec(cell.split("contexte =")[0], ns)
    assert ns["APP"] == A.script("bonjour_app.py")
    assert ns["TEST_APP"] == A.script("bonjour_test_app.py")
    assert ns["DOCKERFILE"] == A.APP_DOCKERFILE.replace('"nb04"', '"nb03"')


def test_verdict_line():
    assert A.verdict_line("EXPOSE seul ne publie rien", True) == "✔ EXPOSE seul ne publie rien"
    assert A.verdict_line("EXPOSE seul ne publie rien", False, "le port 8000 est publié") == \
        "✘ EXPOSE seul ne publie rien — le port 8000 est publié"
    assert A.verdict_line("x", False).startswith("✘ x — ")


def test_verdict_prints_and_returns(capsys):
    assert A.verdict("tout est là", True) is True
    assert A.verdict("tout est là", 0, "il manque un fichier") is False
    assert capsys.readouterr().out == "✔ tout est là\n✘ tout est là — il manque un fichier\n"


def test_decimal_and_containerd_store():
    assert A.decimal(2.456) == "2,5" and A.decimal(10, 2) == "10,00"
    classic = {"Driver": "overlay2", "DriverStatus": [["Backing Filesystem", "extfs"], ["Supports d_type", "true"]]}
    snap = {"Driver": "overlayfs", "DriverStatus": [["driver-type", "io.containerd.snapshotter.v1"]]}
    assert not A.containerd_store(classic) and A.containerd_store(snap) and not A.containerd_store({})


def test_layer_kind_with_sizes():
    """The official base's first row (« # debian.sh … », 78 MB) is a layer; a 0-byte RUN is
    open (an empty layer with the classic builder, none with BuildKit) until resolved."""
    assert A.layer_kind("# debian.sh --arch amd64 out/ 'trixie' '@1754870400'", 78_000_000) == "couche de fichiers"
    assert A.layer_kind("RUN /bin/sh -c set -eux; apt-get update # buildkit", 3_300_000) == "couche de fichiers"
    assert A.layer_kind("ENV PATH=/usr/local/bin:/usr/bin", 0) == "configuration seulement"
    assert A.layer_kind("RUN echo bonjour", 0) == A.images.EMPTY
    kinds = [A.layer_kind(i, n) for i, n in [("(image de base importée)", 10), ("WORKDIR /app", 0),
                                             ("RUN echo bonjour", 0), ("COPY a ./", 5), ("CMD [\"a\"]", 0)]]
    assert kinds[1] == "couche de fichiers (un dossier vide)"
    kept = A.images.resolve_kinds(kinds, 4)
    assert kept[2].startswith("couche de fichiers")
    skipped = A.images.resolve_kinds(kinds, 3)  # what Docker 20.10's classic builder and BuildKit do
    assert skipped[2].startswith("aucune couche") and skipped[4] == "configuration seulement"
    assert A.images.resolve_kinds(kinds, 2) == kinds  # the counts disagree: left open
    assert A.images.plural(1, "couche") == "1 couche" and A.images.plural(4, "couche") == "4 couches"


def test_image_manifest_digest_of_an_index():
    manifest = {"schemaVersion": 2, "config": {"digest": "sha256:c"}, "layers": []}
    assert A.registries.image_manifest_digest(manifest) is None
    index = {"manifests": [
        {"digest": "sha256:att", "platform": {"os": "unknown", "architecture": "unknown"},
         "annotations": {"vnd.docker.reference.type": "attestation-manifest"}},
        {"digest": "sha256:img", "platform": {"os": "linux", "architecture": "amd64"}}]}
    assert A.registries.image_manifest_digest(index) == "sha256:img"


def test_image_id_sentences_follow_the_store():
    ok = A.registries.image_id_sentences(False, "sha256:c", "sha256:c", "sha256:c", "sha256:m")
    assert [h for _, h, _ in ok] == [True, True] and "classique" in ok[1][0]
    cd = A.registries.image_id_sentences(True, "sha256:m", "sha256:c", "sha256:c", "sha256:m")
    assert [h for _, h, _ in cd] == [True, True] and "containerd" in cd[1][0] and "manifeste" in cd[1][0]
    # the classic sentence on a containerd store would be false: it is not the one chosen
    assert not A.registries.image_id_sentences(False, "sha256:m", "sha256:c", "sha256:c", "sha256:m")[1][1]


def test_leftover_sentence():
    left = {"conteneurs": 0, "images": 1, "volumes": 0, "registres": 0}
    from dockercourse.architecture.cleanup import leftover_sentence

    assert leftover_sentence(left, "<none> (abc)") == "il reste images : 1 — images : <none> (abc)"


def test_layer_kind():
    assert A.layer_kind("RUN pip install flask") == "couche de fichiers"
    assert A.layer_kind("COPY multi:abc… in ./") == "couche de fichiers"
    assert A.layer_kind("WORKDIR /app").startswith("couche de fichiers")
    for instr in ('CMD ["python" "app.py"]', "LABEL a=b", "ENV X=1", "EXPOSE 8000/tcp", "USER 10001"):
        assert A.layer_kind(instr) == "configuration seulement"


def test_verdicts_do_not_depend_on_the_machine():
    assert A.size_verdict(25 * 2**20) == "plus de 10 Mio" and A.size_verdict(10_000) == "moins de 1 Mio"
    S = A.service
    assert S.stop_verdict(10.4).startswith("plus de 5 s") and S.stop_verdict(0.2).startswith("moins de 5 s")


def test_log_lines_without_volatile_parts():
    S = A.service
    assert S.tidy_log("[2026-11-28 04:47:42 +0000] [8] [INFO] Booting worker with pid: 8") == \
        "[PID] [INFO] Booting worker with pid: PID"
    assert S.tidy_log("[2026-11-28 04:47:42 +0000] [1] [INFO] Listening at: http://0.0.0.0:8000 (1)") == \
        "[1] [INFO] Listening at: http://0.0.0.0:8000 (1)"
    assert S.tidy_log(" * Running on http://172.17.0.3:8000") == "* Running on http://<IP du conteneur>:8000"
    assert S.tidy_log(" * Running on http://127.0.0.1:8000") == "* Running on http://127.0.0.1:8000"
    assert S.mask_pid("    1      0  /bin/sh -c x") == "    1      0  /bin/sh -c x"
    assert S.mask_pid("    7      0  gunicorn") == "    n      0  gunicorn"


def test_host_uid_reads_proc_status():
    assert A.service.host_uid(os.getpid()) == os.getuid()
    assert A.service.host_uid(10**9) is None


def test_service_variants_differ_only_at_the_end_and_pass_hadolint():
    from dockercourse import hadolint

    S = A.service
    for v in S.VARIANTS:
        assert S.dockerfile(v).startswith(S.COMMON)
    assert S.dockerfile("shell").rstrip().endswith("CMD gunicorn --bind 0.0.0.0:8000 app:app")
    errors = [f for f in hadolint.lint(S.dockerfile("user")) if f["level"] == "error"]
    assert not errors
    assert "DL3025" in {f["code"] for f in hadolint.lint(S.dockerfile("shell"))}
    # HEALTHCHECK in exec form: a JSON list (double quotes), the Python code inside in single quotes
    probe = S.dockerfile("health").split("CMD ", 1)[1].split("\n")[0]
    assert json.loads(probe)[0] == "python"


def test_context_size_honours_dockerignore(tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / "donnees").mkdir()
    (tmp_path / "donnees" / "gros.bin").write_bytes(os.urandom(2 * 2**20))
    (tmp_path / ".dockerignore").write_text("donnees/\n")
    big, files_big = A.context_size(tmp_path, dockerignore=False)
    small, files_small = A.context_size(tmp_path, dockerignore=True)
    assert big > 2 * 2**20 > 10 * small and (files_big, files_small) == (3, 2)


def test_compose_file_is_valid_yaml_with_two_labelled_services():
    import yaml

    doc = yaml.safe_load(A.COMPOSE_FILE)
    assert set(doc["services"]) == {"web", "client"}
    assert all(s["labels"]["dockercourse.unit"] == "nb05" for s in doc["services"].values())
    assert "http://web:8000/" in " ".join(doc["services"]["client"]["command"])
    assert "version" not in doc  # the Compose Specification has none
    assert doc["services"]["client"]["depends_on"] == {"web": {"condition": "service_healthy"}}
    assert "sleep" not in " ".join(doc["services"]["client"]["command"])


def test_client_answer_from_compose_v1_and_v2_logs():
    v1 = 'Attaching to x_web_1, x_client_1\nweb_1     | [INFO] Booting\nclient_1  | {"message":"Bonjour"}\n'
    v2 = '\x1b[2K\x1b[36mclient-1  | \x1b[0m{"message":"Bonjour"}\nclient-1 exited with code 0\n'
    assert A.innerloop.client_answer(v1) == A.innerloop.client_answer(v2) == '{"message":"Bonjour"}'
    assert A.innerloop.client_answer("client-1  | Traceback (most recent call last):\n") is None


def test_version_rows_one_line_per_component():
    raw = (FIXTURES / "version.http").read_bytes()  # a raw HTTP response: headers, blank line, JSON body
    rows = A.version_rows(json.loads(raw.split(b"\r\n\r\n", 1)[1]))
    assert [r["composant"] for r in rows] == ["Engine", "containerd", "runc", "docker-init"]
    assert rows[0]["API"] == "1.41" and rows[0]["système"] == "linux/amd64"
    assert A.version_rows({}) == []


def test_tidy_access_log():
    line = '172.17.0.1 - - [28/Nov/2026:05:11:13 +0000] "GET /sante HTTP/1.1" 200 16 "-" "Python-urllib/3.11"'
    assert A.service.tidy_access_log(line) == '<IP du client> - - [DATE] "GET /sante HTTP/1.1" 200 16 "-" ' \
                                               '"Python-urllib/3.x"'
    assert "--access-logfile" in A.service.dockerfile("journal")


def test_dockerignore_patterns_are_anchored_at_the_context_root(tmp_path):
    """``__pycache__`` excludes the root's cache only; ``**/__pycache__`` every one (the TP's check)."""
    for rel in ("app.py", "__pycache__/a.pyc", "app/__pycache__/b.pyc", "app/c.py"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x")
    _, root_only = A.images.context_members(tmp_path, A.images.ignore_patterns(A.images.DOCKERIGNORE_ROOT_ONLY))
    assert "app/__pycache__/b.pyc" in root_only and "__pycache__/a.pyc" not in root_only
    _, everywhere = A.images.context_members(tmp_path, A.images.ignore_patterns(A.DOCKERIGNORE))
    assert everywhere == ["app.py", "app/c.py"]
    assert A.images.ignore_patterns("# commentaire\n\n.git\n  **/*.pyc \n") == [".git", "**/*.pyc"]



def test_docker_chain_keeps_our_engine_only():
    """Other engines on the same host (a rootless or test dockerd with its own containerd) are left out."""
    cid, procs = _fixture_procs()
    other = [A.Proc(90001, 1, "dockerd", "dockerd --data-root /srv/other -H unix:///srv/other.sock"),
             A.Proc(90002, 90001, "containerd", "containerd --config /srv/other/containerd/containerd.toml")]
    rows = A.docker_chain(procs + other, container_id=cid)
    assert [r["role"] for r in rows] == ["dockerd", "containerd", "shim", "container"]
    assert 90001 not in {r["pid"] for r in rows} and 90002 not in {r["pid"] for r in rows}


def test_parse_host_get():
    assert A.service.parse_host_get('OK\n{"message": "Bonjour"}') == (True, '{"message": "Bonjour"}')
    assert A.service.parse_host_get("KO\nURLError") == (False, "URLError")
    assert A.service.parse_host_get("Traceback (most recent call last): …\n") == \
        (False, "Traceback (most recent call last): …")
