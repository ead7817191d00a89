# ruff: noqa: F401  (re-exports: the public names of notebooks 03, 04 and 05)
"""Notebooks 03, 04 and 05, « L'architecture de Docker », « Conteneurs et
registres » and « Un service web prêt pour la production » : the helpers behind
each live demonstration, one module per lesson, in the notebooks' order.

Notebook 03:
- :mod:`.api` — the daemon, its clients and its API (CLI, SDK, raw HTTP);
- :mod:`.processes` — the daemon is just processes (``dockerd`` → ``containerd``
  → ``containerd-shim`` → the container's process);
- :mod:`.images` — images, layers, the build cache, image IDs, ``.dockerignore``.

Notebook 04:
- :mod:`.containers` — the writable layer, ``docker commit``, the lifecycle, volumes;
- :mod:`.registries` — push/pull to a local registry, tags and digests;

Notebook 05:
- :mod:`.service` — a web service in a container: exec vs shell form and PID 1,
  ``USER``, ``EXPOSE`` vs ``-p``, ``0.0.0.0``, gunicorn, ``HEALTHCHECK``;
- :mod:`.innerloop` — the inner loop diagram and a two-service Compose file;
- :mod:`.cleanup` — the notebooks' last cell.

Scripts that run inside containers are real files of :mod:`.scripts`. Every
name below stays importable as ``architecture.<name>`` (``from dockercourse
import architecture``).
"""

from __future__ import annotations

from .. import engine
from . import api, containers, images, innerloop, processes, registries, service
from . import cleanup as _cleanup_module
from .api import (
    live_versions_rows,
    raw_version,
    sdk_version,
    version_rows,
    versions_agree,
    versions_facts,
    versions_rows,
    versions_sentences,
    versions_table,
)
from .cleanup import cleanup, leftover_counts, leftovers, show_leftovers
from .common import (
    ANSI,
    APP04,
    APP05,
    BASE_IMAGE_TAG,
    COMMIT_IMAGE,
    CONTENT_HASH,
    IMAGE,
    OUI_NON,
    REPO,
    UNIT,
    UNIT04,
    UNIT05,
    UNIT_LABEL,
    VOLUME,
    cli,
    containerd_store,
    decimal,
    french_number,
    french_units,
    human_size,
    needs_docker,
    script,
    short_id,
    unit_labels,
    verdict,
    verdict_line,
    workdir,
    write_context,
)
from .containers import (
    APP_DOCKERFILE,
    DIFF_KINDS,
    LIFECYCLE,
    build_app,
    commit,
    diff_frame,
    diff_rows,
    exec_show,
    image_unchanged,
    lifecycle,
    remove_container,
    remove_image,
    root_overlay,
    run_once,
    short_layer_path,
    start_rw_container,
    upper_dir_entries,
    volume_vs_writable_layer,
    writable_layer,
)
from .images import (
    DOCKERIGNORE,
    FILE_INSTRUCTIONS,
    BuildResult,
    BuildStep,
    build,
    build_and_show,
    build_table,
    cache_after_code_change,
    clean_created_by,
    compare_builds,
    context_size,
    dockerignore_demo,
    history_frame,
    history_rows,
    layer_kind,
    layers_explained,
    nocache_rebuild,
    parse_build_log,
    plot_layer_sizes,
    show_steps,
    size_verdict,
    steps_frame,
)
from .innerloop import COMPOSE_FILE, INNER_LOOP, compose_demo, inner_loop_frame, plot_inner_loop, run_app
from .processes import (
    HOST_PS_SCRIPT,
    ROLES,
    Proc,
    chain_facts,
    chain_frame,
    chain_sentences,
    classify,
    docker_chain,
    host_point_of_view,
    host_processes,
    parse_cmdline,
    parse_stat,
    print_chain_facts,
    process_chain,
    processes_via_helper,
    read_processes,
    show_chain,
)
from .registries import (
    HUB_IMAGE,
    config_digest_is_image_id,
    count_statuses,
    docker_hub_pull,
    pull,
    pull_by_digest,
    push,
    registry_api,
    registry_size,
    remove_local_names,
    start_registry,
    stop_registry,
    summarize_pull,
    summarize_push,
    tag_verdicts,
)


def readable_tables() -> None:
    """Show whole cells in pandas tables (no « … », no wrapped columns): the
    notebooks' first cell calls it."""
    import pandas as pd

    pd.set_option("display.max_colwidth", None)
    pd.set_option("display.width", 250)
    pd.set_option("display.max_columns", 20)


__all__ = [n for n in dir() if not n.startswith("_")]
