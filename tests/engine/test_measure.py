"""dockercourse.measure: live container timings on the host's engine, the VM/container comparison and
the shared-kernel proof, and notebook 01 without a daemon.

Live VM boots are checked by ``tests/engine/test_vm.py`` and by notebook 01's own run in the
current-engine lane (live on this host, its kernel verdicts compared by nbval): the comparison here
uses one row of the reference boots instead of booting again."""
from __future__ import annotations

import platform

import pandas as pd
import pytest

from dockercourse import engine, measure, vm
from tests.utils.notebook_runner import NO_DAEMON, cell_texts, run_notebook
from tests.utils.paths import NOTEBOOKS

NOTEBOOK = NOTEBOOKS / "01_conteneurs_vs_machines_virtuelles.ipynb"


@pytest.fixture(scope="module")
def containers(docker_client):
    df = measure.container_startups(n=2, unit="test-measure")
    assert df is not None, "container_startups returned None with a daemon up"
    return df


@pytest.fixture(scope="module")
def vms():
    return measure.reference_table().head(1)


def test_container_startups(containers, docker_client):
    assert isinstance(containers, pd.DataFrame) and len(containers) == 2
    assert (containers[measure.COL_READY] > 0).all()
    assert (containers[measure.COL_MEM] > 0).all()
    # shared kernel: the container sees the kernel of the machine dockerd runs on
    assert (containers[measure.COL_KERNEL] == measure.docker_host_kernel()).all()
    assert measure.docker_host_kernel() == platform.release()  # the notebook runs on the Docker host here
    left = docker_client.containers.list(all=True, filters={"name": engine.name("test-measure")})
    assert left == [], "docker run --rm left a container"


def test_comparison_plot_and_kernel_proof(containers, vms, capsys):
    table = measure.comparison(containers, vms)
    assert list(table.index) == [measure.KIND_CONTAINER, measure.vm_kind(vms[measure.COL_ACCEL].iloc[0])]
    assert table["essais"].tolist() == [2, 1]
    assert table.attrs["memory_ratio"] > 1, "qemu must hold more memory than one small container"
    sentence = measure.ratio_sentence(table)
    assert "fois plus" in sentence and "Ce que ce rapport compte" in sentence
    assert "containerd-shim" in sentence  # what the ratio leaves out is said
    if vms[measure.COL_ACCEL].iloc[0] == "tcg":
        assert "émulée (TCG)" in sentence
    if not engine.in_container():  # on the Docker host the shim is measured, and it is not nothing
        assert 1 < table.attrs["shim_rss_mib"] < 100 and table.attrs["shim_private_mib"] > 0
        assert table.attrs["memory_ratio_with_shim"] < table.attrs["memory_ratio"]

    fig = measure.plot_comparison(containers, vms)
    ax_t, ax_m = fig.axes
    assert ax_t.get_yscale() == "log" and "(s" in ax_t.get_ylabel()
    assert ax_m.get_yscale() == "log" and "Mio" in ax_m.get_ylabel()
    assert fig._suptitle.get_text()

    kernels = measure.kernels(containers, vms)
    assert kernels["noyau"].iloc[2] == kernels["noyau"].iloc[1]
    assert measure.check_shared_kernel(kernels) is True
    out = capsys.readouterr().out
    assert "même noyau" not in out and out.count("✔") == 2


def test_vm_falls_back_to_reference(monkeypatch, capsys):
    def no_qemu(**_):
        raise vm.VMUnavailable("Cette machine n'est pas un Linux (macOS, Windows) : phrase de test.")

    monkeypatch.setattr(vm, "ensure_artifacts", no_qemu)
    df = measure.vm_boots(n=3)
    assert capsys.readouterr().out.strip() == "⚠️  Cette machine n'est pas un Linux (macOS, Windows) : phrase de test."
    assert df[measure.COL_SOURCE].str.startswith(measure.SOURCE_REFERENCE).all()
    assert len(df) >= 3


def test_notebook_without_daemon():
    nb = run_notebook(NOTEBOOK, env={"DOCKER_HOST": NO_DAEMON})
    texts = cell_texts(nb)
    assert not any("ERROR" in t or "Traceback" in t for t in texts)
    assert any("Cellule non exécutée" in t for t in texts)
    assert any("Pas de conteneur mesuré" in t for t in texts)
    # the VM part does not need Docker: it still ran (live, or from the reference data)
    assert any("La VM voit un autre noyau" in t for t in texts)


def test_memory_verdicts():
    vms = pd.DataFrame({measure.COL_MEM: [240.0, 241.0]})
    few = pd.DataFrame({measure.COL_MEM: [1.0, 0.9, 1.1]})
    few.attrs["shim_rss_mib"] = 13.0
    out = measure.memory_verdicts(few, vms)
    assert out[0].startswith("3 conteneurs démarrés")
    assert out[1].endswith(": oui") and out[2].endswith(": oui")
    many = pd.DataFrame({measure.COL_MEM: [1.0] * 20})
    many.attrs["shim_rss_mib"] = 13.0
    assert measure.memory_verdicts(many, vms)[2].endswith(": non")  # 20 shims weigh more than one VM
    assert "non mesuré" in measure.memory_verdicts(pd.DataFrame({measure.COL_MEM: [1.0]}), vms)[2]
