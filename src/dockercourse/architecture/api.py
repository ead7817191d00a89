"""Notebook 03, § 3.1: the daemon, its clients and its API — the same question
(« which version? ») asked through the CLI, the Python SDK and raw HTTP."""

from __future__ import annotations

import json

from .. import engine
from .common import needs_docker, verdict_line


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


def api_tuple(version: str | None) -> tuple[int, ...] | None:
    """Pure: ``"1.41"`` → ``(1, 41)``; None when there is no version."""
    try:
        return tuple(int(p) for p in str(version).split("."))
    except ValueError:
        return None


def versions_facts(rows: list[dict]) -> dict:
    """Pure: do the three server answers agree, and how does each client's API
    version compare with the server's (``"same"``, ``"older"``, ``"newer"`` or ``None``)?
    A client speaks the server's version when it negotiated (the CLI always does, the
    SDK with ``version="auto"``), an older one when it is older than the server."""
    servers = {(r["version"], r["API"]) for r in rows if r["rôle"] == "serveur"}
    server_api = next(iter(servers))[1] if len(servers) == 1 else None
    server = api_tuple(server_api)

    def relation(api: str | None) -> str | None:
        mine = api_tuple(api)
        if mine is None or server is None:
            return None
        return "same" if mine == server else "older" if mine < server else "newer"

    clients = [r for r in rows if r["rôle"] == "client"]
    cli = relation(clients[0]["API"]) if clients else None
    sdk = relation(clients[1]["API"]) if len(clients) > 1 else None
    return {"same_server": len(servers) == 1 and None not in next(iter(servers)),
            "cli_api": cli, "sdk_api": sdk,
            "clients_within_server_api": cli in ("same", "older") and sdk in ("same", "older")}


RELATION = {"same": "la même que le serveur", "older": "plus ancienne, que le serveur comprend encore",
            "newer": "plus récente que celle du serveur", None: "inconnue"}


def versions_sentences(facts: dict) -> list[str]:
    """Pure: the verdicts of :func:`versions_agree`, true on any engine."""
    how = f"CLI : {RELATION[facts['cli_api']]} ; SDK : {RELATION[facts['sdk_api']]}"
    return [
        verdict_line("la CLI, le SDK et l'API brute interrogent le même démon et obtiennent la même réponse",
                     facts["same_server"], "les trois réponses du serveur diffèrent"),
        verdict_line(f"chaque client parle une version d'API que le serveur comprend ({how})",
                     facts["clients_within_server_api"], "un client n'a pas négocié sa version d'API"),
    ]


@needs_docker
def versions_table():
    """Client versus server versions, asked three ways (a DataFrame; the
    versions depend on the machine)."""
    import pandas as pd

    return pd.DataFrame(live_versions_rows())


@needs_docker
def versions_agree() -> None:
    """The machine-independent conclusions of :func:`versions_table`, as verdicts."""
    for line in versions_sentences(versions_facts(live_versions_rows())):
        print(line)


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
