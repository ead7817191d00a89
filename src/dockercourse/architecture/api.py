"""Notebook 03, § 3.1: the daemon, its clients and its API — the same question
(« which version? ») asked through the CLI, the Python SDK and raw HTTP."""

from __future__ import annotations

import json

from .. import engine
from .common import OUI_NON, needs_docker


@needs_docker
def sdk_version() -> dict:
    """The same question through the Docker SDK: ``client.version()`` (a few keys)."""
    v = engine.client().version()
    keys = ("Version", "ApiVersion", "MinAPIVersion", "Os", "Arch")
    out = {k: v.get(k) for k in keys}
    print("client.version() →", json.dumps(out, indent=2))


def versions_rows(cli_client: dict, cli_server: dict, sdk_lib: str, sdk_server: dict, raw_server: dict,
                  sdk_api: str | None = None) -> list[dict]:
    """Pure: who answers what, as table rows."""
    return [
        {"qui": "client docker (CLI)", "rôle": "client", "version": cli_client.get("Version"),
         "API": cli_client.get("ApiVersion")},
        {"qui": "SDK Python « docker »", "rôle": "client", "version": sdk_lib, "API": sdk_api},
        {"qui": "dockerd vu par la CLI", "rôle": "serveur", "version": cli_server.get("Version"),
         "API": cli_server.get("ApiVersion")},
        {"qui": "dockerd vu par le SDK", "rôle": "serveur", "version": sdk_server.get("Version"),
         "API": sdk_server.get("ApiVersion")},
        {"qui": "dockerd vu par l'API brute", "rôle": "serveur", "version": raw_server.get("Version"),
         "API": raw_server.get("ApiVersion")},
    ]


def live_versions_rows() -> list[dict]:
    """Ask the CLI, the SDK and the raw API for the versions (raises DockerUnavailable)."""
    import subprocess

    import docker

    from .. import rawapi

    c = engine.client()
    fmt = '{"client": {"Version": "{{.Client.Version}}", "ApiVersion": "{{.Client.APIVersion}}"}, ' \
          '"server": {"Version": "{{.Server.Version}}", "ApiVersion": "{{.Server.APIVersion}}"}}'
    proc = subprocess.run(["docker", "version", "--format", fmt], capture_output=True, text=True, timeout=30)
    cli_json = json.loads(proc.stdout.strip() or "{}") if proc.returncode == 0 else {}
    return versions_rows(cli_json.get("client", {}), cli_json.get("server", {}), docker.__version__,
                         c.version(), rawapi.get_json("/version"), c.api.api_version)


def versions_facts(rows: list[dict]) -> dict[str, bool]:
    """Pure: do the three server answers agree, and do both clients speak the server's API version?"""
    servers = {(r["version"], r["API"]) for r in rows if r["rôle"] == "serveur"}
    server_api = next(iter(servers))[1] if len(servers) == 1 else None
    return {"same_server": len(servers) == 1 and None not in next(iter(servers)),
            "clients_speak_server_api": server_api is not None
            and all(r["API"] == server_api for r in rows if r["rôle"] == "client")}


@needs_docker
def versions_table():
    """Client versus server versions, asked three ways (a DataFrame; the
    versions depend on the machine)."""
    import pandas as pd

    return pd.DataFrame(live_versions_rows())


@needs_docker
def versions_agree() -> None:
    """The machine-independent conclusions of :func:`versions_table`, as sentences."""
    facts = versions_facts(live_versions_rows())
    print(f"✔ la CLI, le SDK et l'API brute interrogent le même démon et obtiennent la même réponse : "
          f"{OUI_NON[facts['same_server']]}")
    print(f"✔ les deux clients parlent la version d'API du serveur (négociée) : "
          f"{OUI_NON[facts['clients_speak_server_api']]}")




def version_rows(answer: dict) -> list[dict]:
    """Pure: the JSON of ``GET /version`` → one row per component (Engine,
    containerd, runc, docker-init) with its version and the details that matter."""
    rows = []
    for comp in answer.get("Components") or []:
        details = comp.get("Details") or {}
        rows.append({"composant": comp.get("Name"), "version": comp.get("Version"),
                     "API": details.get("ApiVersion", ""),
                     "système": f"{details['Os']}/{details['Arch']}" if "Os" in details else ""})
    return rows


@needs_docker
def raw_version(show_bytes: bool = True):
    """``GET /version`` written by hand on the daemon's socket: the request, the
    response's status line, and the JSON answer as a table (not a raw dump)."""
    import pandas as pd

    from .. import rawapi

    engine.client()
    answer = rawapi.show("/version", show_body=False) if show_bytes else rawapi.get_json("/version")
    return pd.DataFrame(version_rows(answer))
