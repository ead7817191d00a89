"""Namespaces and cgroups: read them for a process or a container, cgroup v1 *and* v2.

One module per lesson of notebook 02:

- :mod:`.namespaces` — which namespaces a process belongs to, what each isolates (pure);
- :mod:`.cgroups` — limits and counters of a cgroup, v1 and v2, from a tree of files (pure);
- :mod:`.helper` — the Docker host's point of view: a short-lived helper container
  (``--pid=host --cgroupns=host``) that prints raw files as JSON;
- :mod:`.containers` — the demo container and what the host sees of it;
- :mod:`.experiments` — live experiments at each limit (OOM, CPU throttling, fork bomb), ``unshare``;
- :mod:`.notebook` — what the notebook's cells call (French output, one sentence without Docker).

Scripts that run inside containers are real files in ``scripts/`` (checked by ruff, loaded with
:mod:`importlib.resources`). ``from dockercourse import isolation as iso`` gives every public name.
"""

# ruff: noqa: F401  (re-exports: every public name stays reachable as dockercourse.isolation.X)
from .cgroups import MIB, Cgroup, DictTree, LocalTree, detect_version, local_cgroup, parse_flat_keyed, parse_proc_cgroup
from .containers import (
    DEMO_LIMITS,
    DEMO_SECONDS,
    SCRIPTS_DIR,
    ContainerView,
    Effects,
    cleanup,
    container_pid,
    effects,
    leftovers,
    local_namespaces,
    namespaces,
    oui,
    run_command,
    run_container,
    start_demo,
    stop,
    view,
)
from .experiments import (
    CpuResult,
    MemoryResult,
    PidsResult,
    cpu_experiment,
    cpu_share,
    go_command,
    memory_experiment,
    pids_experiment,
    plot_cpu,
    plot_memory,
    plot_pids,
    throttling_consistent,
    unshare_demo,
)
from .helper import HELPER_FILES, HELPER_MOUNT, HELPER_SCRIPT, Sampler, _helper_request, host_snapshot, script
from .namespaces import (
    NAMESPACE_ROLES,
    NAMESPACE_TYPES,
    namespace_notes,
    namespace_table,
    parse_ns_link,
    read_namespaces,
)
from .notebook import (
    memory_counters_table,
    nb_cgroup,
    nb_cleanup,
    nb_cpu,
    nb_cpu_summary,
    nb_effects,
    nb_memory,
    nb_memory_events,
    nb_namespaces,
    nb_pids,
    nb_print_effects,
    nb_report_cpu,
    nb_report_memory,
    nb_report_pids,
    nb_shared,
    nb_start_demo,
    nb_stop,
    nb_try_memory,
    nb_unshare,
)
