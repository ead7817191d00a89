"""Guest only (benchmarks/cgroup_v2_vm.py): the grader's fixed time limits, scaled for emulation.

Under QEMU TCG on a shared 2-core host the guest runs 10-40 times slower than the host, and the
checks' fixed limits (a 10 s import probe, 15 s to answer HTTP, 300 s for all the official
results) then fail a correct submission for the emulator's sake, not for anything cgroup v2
changes. ``cgroup_v2_vm.py guest`` installs this module in the guest's venv with a ``.pth`` file
(site-packages' ``.pth`` files run under ``python -I`` too, so the sandbox's worker and its
``check-all`` process get it) and writes the factor to :data:`SCALE_FILE` (readable inside the
sandbox, which does not pass environment variables through). Each listed module is patched right
after it executes, before any other module copies its constants. It never runs on a real host.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys

SCALE_FILE = "/etc/dcvm-timescale"
#: module -> constants multiplied, and functions whose defaults equal to those constants are too.
PATCHES = {
    "dockercourse.grading.build": (("BUILD_TIMEOUT_S",), ("docker_build", "ensure_image")),
    "dockercourse.grading.containers": (("READY_TIMEOUT_S",), ("wait_ready", "not_ready_reason")),
    "dockercourse.grading.probe": (("PROBE_TIMEOUT_S",), ("probe_app",)),
    "dockercourse.grading.check_app": (("HEALTHY_TIMEOUT_S",), ()),
}
#: Where :class:`Limits` lives (the sandbox's limits, part of the job's contract).
LIMITS_MODULE = "dockercourse.grading.protocol"
#: Limits: the official results' limit (the wall time and cell timeout have CLI options).
LIMIT_FIELDS = ("phase_a_s",)


def read_scale(path: str = SCALE_FILE) -> float:
    try:
        with open(path) as fh:
            return max(1.0, float(fh.read().strip()))
    except (OSError, ValueError):
        return 1.0


def patch(module, scale: float) -> None:
    name = module.__name__
    if name == LIMITS_MODULE:
        limits = module.Limits
        old = {f: limits.__dataclass_fields__[f].default for f in LIMIT_FIELDS}
        new = {old[f]: old[f] * scale for f in LIMIT_FIELDS}
        limits.__init__.__defaults__ = tuple(new.get(v, v) if type(v) is float else v
                                             for v in limits.__init__.__defaults__)
        for f in LIMIT_FIELDS:
            limits.__dataclass_fields__[f].default = old[f] * scale
        return
    constants, functions = PATCHES[name]
    scaled = {}
    for c in constants:
        value = getattr(module, c)
        scaled[value] = value * scale
        setattr(module, c, value * scale)
    for fn in functions:
        func = getattr(module, fn)
        if func.__defaults__:
            func.__defaults__ = tuple(scaled.get(v, v) if type(v) in (int, float) else v for v in func.__defaults__)


class _Finder(importlib.abc.MetaPathFinder):
    def __init__(self, scale: float):
        self.scale = scale

    def find_spec(self, fullname, path, target=None):
        if fullname not in PATCHES and fullname != LIMITS_MODULE:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return spec
        run = spec.loader.exec_module
        scale = self.scale

        def exec_module(module):
            run(module)
            patch(module, scale)

        spec.loader.exec_module = exec_module
        return spec


def install(scale: float | None = None) -> None:
    scale = read_scale() if scale is None else scale
    if scale > 1.0 and not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder(scale))


install()
