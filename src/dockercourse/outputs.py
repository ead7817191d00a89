"""``make outputs``: re-execute the lecture notebooks where their committed outputs come from.

The committed outputs are those of a current Docker Engine with the containerd image store (the
default of new Docker Desktop and Docker Engine 29 installs): the current-engine lane's Engine 26
(:mod:`dockercourse.currentengine`), started here unless it is running already, and stopped
afterwards if this started it. ``make test`` compares them with nbval on that same engine
(``tests/engine/test_current_engine_lane.py``). The kernels get the lane's state folder for that
store (``.state/lanes/containerd``), as in the tests.

``python -m dockercourse outputs [NOTEBOOK ...]`` (default: every ``notebooks/0*.ipynb``); root
only, like the lane. Operator messages are English.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from . import engine

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
#: The image store whose outputs are committed (and compared by nbval in ``make test``).
STORE = "containerd"
CELL_TIMEOUT = 900


def lectures() -> list[Path]:
    return sorted(NOTEBOOKS.glob("0*.ipynb"))


def lane_state(store: str = STORE) -> Path:
    """The kernels' state folder for ``store`` (as the lane's tests give them): its own build contexts,
    registry and hand-made container state, sharing only the QEMU cache with the other runs."""
    state = engine.state_dir() / "lanes" / store
    state.mkdir(parents=True, exist_ok=True)
    vm = engine.state_dir() / "vm"
    vm.mkdir(exist_ok=True)
    if not (state / "vm").is_symlink():
        (state / "vm").symlink_to(vm)
    return state


def nbconvert_command(notebooks: list[Path], timeout: int = CELL_TIMEOUT) -> list[str]:
    """Pure: the ``jupyter nbconvert`` command that executes ``notebooks`` in place (each in its folder)."""
    exe = Path(sys.executable).with_name("jupyter")
    return [str(exe) if exe.exists() else "jupyter", "nbconvert", "--to", "notebook", "--execute", "--inplace",
            f"--ExecutePreprocessor.timeout={timeout}", *map(str, notebooks)]


def regenerate(notebooks: list[Path] | None = None, store: str = STORE) -> int:
    """Execute ``notebooks`` in place on the current engine with ``store``; returns nbconvert's exit code.
    Whatever the notebooks left with the course label is removed from that engine afterwards."""
    from .currentengine import CurrentEngine

    notebooks = notebooks or lectures()
    ce = CurrentEngine(store=store)
    t0 = time.monotonic()
    ce.ensure_root()
    started = ce.start() == "started"
    try:
        ce.ensure_base_image()
        env = {**os.environ, **ce.env(), "DOCKERCOURSE_STATE": str(lane_state(store))}
        print(f"Executing {len(notebooks)} notebooks on the current engine ({ce.suite}, {store} store)...", flush=True)
        rc = subprocess.run(nbconvert_command(notebooks), cwd=ROOT, env=env).returncode
        subprocess.run([sys.executable, "-m", "dockercourse", "clean"], cwd=ROOT, env=env, check=False)
    finally:
        if started:
            ce.stop()
    print(f"Outputs {'refreshed' if rc == 0 else 'NOT refreshed (a cell failed)'} in {time.monotonic() - t0:.0f} s.")
    return rc
