"""Notebooks 03–05's helpers on the host's engine (Debian 12's 20.10 on the reference machine): what
no run of those notebooks checks there, and the notebooks without a daemon.

Every lecture runs in each lane with its own verdicts (``tests/engine/test_current_engine_lane.py``:
nbval, strict, on Engine 26 with the containerd store; ``tests/image/test_course_image.py``: 20.10 from
inside the course image). What only those runs check is not repeated here: the three clients agree on
the versions (03), the build cache and IDs, ``--no-cache`` (03), the volume against the writable layer,
the lifecycle (04), ``docker stop`` by CMD form, USER, EXPOSE, the listen address and HEALTHCHECK (05).
Kept: what needs the notebook's process on the Docker host itself (the process chain read in /proc,
overlay2's upper directory), Compose v1 (the course image has no Compose), the exercise's answer (03),
an empty RUN, the cleanup of untagged images, Docker Hub's two cases, and every notebook without a daemon.
All of it under names of its own (unit ``nb03test``), never the lectures'."""
from __future__ import annotations

import docker
import pytest

from dockercourse import architecture as A
from dockercourse import engine
from tests.utils.paths import NOTEBOOKS

NOTEBOOK = NOTEBOOKS / "03_architecture_docker.ipynb"
NOTEBOOK_04 = NOTEBOOKS / "04_conteneurs_et_registres.ipynb"
NOTEBOOK_05 = NOTEBOOKS / "05_service_web_et_boucle_interne.ipynb"
TEST_UNIT = "nb03test"


DOCKERFILE = """\
FROM python:3.13-slim
LABEL dockercourse="1" dockercourse.unit="nb03test"
WORKDIR /app
COPY a.txt .
CMD ["cat", "a.txt"]
"""
TEST_IMAGE = engine.name("nb03test", "app")


@pytest.fixture
def unit_cleanup(docker_client):
    yield
    A.cleanup(TEST_UNIT, quiet=True)
    left = A.leftovers(TEST_UNIT)
    assert left["conteneurs"] == left["images"] == left["volumes"] == 0


@pytest.fixture
def built(docker_client, unit_cleanup):
    ctx = A.write_context({"Dockerfile": DOCKERFILE, "a.txt": "version 1\n"}, unit=TEST_UNIT)
    return ctx, A.build(ctx, TEST_IMAGE)


def test_process_chain_from_the_host(docker_client):
    chain = A.process_chain(unit=TEST_UNIT)
    facts = chain["facts"]
    assert chain["how"] == ("helper" if engine.in_container() else "local")
    assert facts["dockerd"] and facts["containerd"] and facts["shim"] and facts["container_child_of_shim"]
    assert "sleep 300" in list(chain["frame"]["commande"])  # read after the execve, not « runc init »
    assert not facts["runc_running"]
    assert all(line.startswith("✔") for line in A.chain_sentences(facts))
    assert not docker_client.containers.list(all=True, filters={"name": A.engine.name(TEST_UNIT, "chain")})


def test_helper_container_sees_the_same_host(docker_client):
    def local_dockerds() -> set[int]:
        return {p.pid for p in A.read_processes() if p.comm == "dockerd"}

    # Other engines start and stop meanwhile (the sandboxes' rootless ones, the current-engine lane):
    # the helper must see every dockerd that ran throughout, and no dockerd that never ran here.
    before = local_dockerds()
    procs = A.processes_via_helper(unit=TEST_UNIT)
    after = local_dockerds()
    seen = {p.pid for p in procs if p.comm == "dockerd"}
    assert before & after <= seen <= before | after
    assert seen  # this engine's dockerd at least
    assert not any(A.HOST_PS_SCRIPT[:20] in p.cmdline for p in procs)  # the helper left itself out
    assert not docker_client.containers.list(all=True, filters={"label": "dockercourse.purpose=host-ps"})


def test_history_and_commit_add_one_layer(docker_client, built, tracked, capsys):
    _, first = built
    df = A.history_frame(TEST_IMAGE)
    assert df["instruction"].iloc[-1] == 'CMD ["cat" "a.txt"]' and len(df.attrs["octets"]) == len(df)
    ctr = tracked.run(TEST_IMAGE, ["sleep", "60"], labels=A.unit_labels(TEST_UNIT), network_mode="none")
    ctr.exec_run(["sh", "-c", "echo x > /app/new.txt && rm /app/a.txt"])
    assert A.diff_frame(ctr).to_dict("records") == [
        {"type": "C (modifié)", "chemin": "/app"}, {"type": "D (supprimé)", "chemin": "/app/a.txt"},
        {"type": "A (ajouté)", "chemin": "/app/new.txt"}]
    upper = A.writable_layer(ctr)
    assert {"chemin": "/app/a.txt", "nature": "whiteout (fichier supprimé)"} in upper.to_dict("records")
    assert docker_client.images.get(TEST_IMAGE).id == first.image_id  # the image did not change
    img = A.commit(ctr, repository=engine.name(TEST_UNIT, "commit"), base=TEST_IMAGE)
    assert len(img.attrs["RootFS"]["Layers"]) == len(docker_client.images.get(TEST_IMAGE).attrs["RootFS"]["Layers"]) + 1
    assert "✔ docker commit a ajouté exactement une couche" in capsys.readouterr().out


def test_docker_hub_cell_says_one_sentence_when_unreachable(docker_client, monkeypatch, capsys):
    monkeypatch.setattr(engine, "docker_hub_reachable", lambda timeout=3.0: False)
    assert A.docker_hub_pull() is None
    out = capsys.readouterr().out
    assert out.startswith("Docker Hub n'est pas joignable") and out.count("\n") == 1


def test_docker_hub_cell_matches_reality(docker_client, capsys):
    def present():
        try:
            docker_client.images.get(A.HUB_IMAGE)
            return True
        except docker.errors.ImageNotFound:
            return False

    reachable, before = engine.docker_hub_reachable(), present()
    A.docker_hub_pull()
    out = capsys.readouterr().out
    if reachable:
        assert "Digest: sha256:" in out and "Hello from Docker!" in out
    else:
        assert "Docker Hub n'est pas joignable" in out
    assert present() == before  # pulled only for the demo, then removed


@pytest.mark.parametrize(("notebook", "at_least"), [(NOTEBOOK, 15), (NOTEBOOK_04, 15), (NOTEBOOK_05, 12)],
                         ids=["nb03", "nb04", "nb05"])
def test_notebook_without_daemon_says_one_sentence_per_skipped_cell(notebook, at_least):
    from tests.utils.notebook_runner import NO_DAEMON, cell_texts, run_notebook

    nb = run_notebook(notebook, env={"DOCKER_HOST": NO_DAEMON})

    def needs_docker(source: str) -> bool:
        if "inner_loop_frame()" in source or "plot_inner_loop()" in source or "hadolint.show(" in source:
            return False
        return not ("write_context(" in source and "build" not in source)

    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    texts = cell_texts(nb)
    assert not any("ERROR" in t or "Traceback" in t for t in texts)
    skipped = 0
    for cell, text in zip(code_cells, texts, strict=True):
        n = text.count("⚠️  Cellule non exécutée : Le démon Docker ne répond pas")
        if not needs_docker(cell.source):
            assert n == 0, cell.source
        else:
            assert n == 1, (cell.source, text)
            skipped += 1
    assert skipped >= at_least


def test_start_registry_twice_keeps_one(docker_client, monkeypatch):
    monkeypatch.setattr(A.registries, "UNIT", TEST_UNIT)
    first = A.start_registry()
    second = A.start_registry()
    try:
        assert not first.running and first.tmpdir is None
        assert second.running
    finally:
        A.stop_registry(second)
    assert not second.running


def test_layers_explained_and_an_empty_run(docker_client, unit_cleanup, capsys):
    """``RUN echo bonjour`` writes nothing: 0 bytes, and no layer (Docker 20.10's classic
    builder and BuildKit); the row-by-row explanation matches RootFS.Layers either way."""
    dockerfile = DOCKERFILE.replace("COPY a.txt .", "COPY a.txt .\nRUN echo bonjour")
    ctx = A.write_context({"Dockerfile": dockerfile, "a.txt": "version 1\n"}, unit=TEST_UNIT, sub="vide")
    A.build(ctx, TEST_IMAGE + ":vide")
    df = A.layers_explained(TEST_IMAGE + ":vide")
    out = capsys.readouterr().out
    assert "✔ chaque ligne qui a écrit des fichiers" in out, out
    row = df[df["instruction"] == "RUN echo bonjour"].iloc[0]
    assert row["taille"] == "0 o"
    base = len(docker_client.images.get(engine.BASE_IMAGE).attrs["RootFS"]["Layers"])
    layers = len(docker_client.images.get(TEST_IMAGE + ":vide").attrs["RootFS"]["Layers"])
    assert layers in (base + 2, base + 3)  # WORKDIR, COPY (+ an empty RUN layer, if a builder kept one)
    assert row["ce qu'elle ajoute"].startswith("couche de fichiers" if layers == base + 3 else "aucune couche")
    assert list(df["origine"]).count("image de base") == len(docker_client.api.history(engine.BASE_IMAGE))


def test_cleanup_removes_untagged_images(docker_client, built):
    """A tag moved to a new build leaves the old image untagged (labelled): cleanup removes it."""
    ctx, first = built
    A.write_context({"Dockerfile": DOCKERFILE, "a.txt": "version 2\n"}, unit=TEST_UNIT)
    A.build(ctx, TEST_IMAGE)  # same tag: the first image is now <none>
    assert not docker_client.images.get(first.image_id).tags
    A.cleanup(TEST_UNIT, quiet=True)
    from dockercourse.architecture.cleanup import unit_images

    assert unit_images(TEST_UNIT) == []


def test_the_exercise_of_notebook_03_has_the_answer_it_promises(unit_cleanup, capsys):
    """The notebook runs the Dockerfile as given (``pip install`` rebuilt after app.py changes); its
    exercise promises that moving ``COPY app.py .`` after the install keeps the install in the cache."""
    good = ('FROM python:3.13-slim\nLABEL dockercourse="1" dockercourse.unit="nb03test"\nWORKDIR /app\n'
            "COPY requirements.txt .\nRUN pip install --no-cache-dir -r requirements.txt\nCOPY app.py .\n")
    A.cache_after_code_change(good, unit=TEST_UNIT)
    assert "« pip install » a été reprise du cache : oui" in capsys.readouterr().out


@pytest.fixture
def nb05_cleanup(docker_client):
    yield
    A.cleanup(A.UNIT05, quiet=True)
    left = A.leftovers(A.UNIT05)
    assert left["conteneurs"] == left["images"] == left["volumes"] == 0


@pytest.mark.lecture_names  # notebook 05's Compose project and image names
def test_compose_two_services(nb05_cleanup, capsys):
    """Notebook 05's Compose demo on this engine: Compose v1 (Debian's docker-compose) beside 20.10,
    which the course image's run of notebook 05 cannot show (no Compose in the image)."""
    result = A.compose_demo()
    assert result is not None and result["ok"], capsys.readouterr().out
    assert "Bonjour depuis Compose !" in capsys.readouterr().out
