"""What the checks of one submission share, and the registry they are declared in.

:class:`Context` holds the snapshot of the submission's files (read once), the daemon, the build
(made once) and :class:`AppRun`, the image running once as a service with ``MESSAGE`` set, which
the health, reachability, environment, logs and stop checks all use. A check is a function
``(Result, Context)`` declared with :func:`check`, which files it in :data:`CHECKS`.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from pathlib import Path

from .. import engine, offline
from . import timing
from .build import (
    Build,
    ensure_image,
)
from .containers import (
    not_ready_reason,
    service,
    wait_ready,
)
from .protocol import Result
from .snapshot import Snapshot, submission_id

#: The pins the offline wheelhouse carries (its list is the single source of truth).
REQUIRED_PINS = dict(req.lower().split("==", 1) for req in offline.default_requirements())


MESSAGE_VAR = "MESSAGE"


class AppRun:
    """The submission's image running once as a service (``MESSAGE`` set to a marker,
    health probed every second), shared by the checks that need it answering."""

    def __init__(self, ctx: Context, build: Build):
        self.marker = "Bonjour de la correction " + secrets.token_hex(3)
        self._cm = service(ctx.client, build.image, ctx.sub, ctx.run_name, env={MESSAGE_VAR: self.marker},
                           health_fast=True)
        self.ctr = self._cm.__enter__()
        with timing.span("app ready"):
            self.base, self.seconds, self.why = wait_ready(self.ctr)
        self.ready_at = time.time() if self.base else None  # the engine's clock: health probes are dated
        self.stopped = False

    def reason(self) -> str:
        return not_ready_reason(self.ctr, self.why)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._cm.__exit__(None, None, None)


class Context:
    """What the checks of one submission share: its files (read once), the daemon,
    the build (made once) and the running app (started once)."""

    def __init__(self, project: str | Path, client=None, run_name: str = "app"):
        self.run_name = run_name  # the shared app container's name suffix (one per concurrent run)
        self.project = Path(project).resolve()
        self.sub = submission_id(self.project)
        self.snapshot = Snapshot.of(self.project)
        self._client = client
        self._build: Build | None = None
        self._app: AppRun | None = None

    @property
    def client(self):
        if self._client is None:
            self._client = engine.client()
        return self._client

    def build(self) -> Build:
        if self._build is None:
            self._build = ensure_image(self.project, self.client, snapshot=self.snapshot)
        return self._build

    def app(self) -> AppRun:
        if self._app is None:
            self._app = AppRun(self, self.build())
        return self._app

    def image_attrs(self) -> dict:
        return self.client.images.get(self.build().image).attrs

    def dockerfile(self) -> str:
        return self.snapshot.text("Dockerfile") or ""

    def close(self) -> None:
        if self._app is not None:
            self._app.close()
            self._app = None


def _needs_image(res: Result, ctx: Context) -> Build | None:
    b = ctx.build()
    if not b.ok:
        res.fatal = ("Impossible de vérifier : l'image ne se construit pas (voir la vérification "
                     "« Construction de l'image »).")
        return None
    return b


def _answering_app(res: Result, ctx: Context) -> AppRun | None:
    """The shared running app if it answers; else the reason goes in ``res``."""
    if not _needs_image(res, ctx):
        return None
    app = ctx.app()
    if app.base is None:
        res.fatal = app.reason()
        return None
    return app


CHECKS: dict[str, tuple[str, object]] = {}


def check(name: str, title: str):
    def deco(func):
        CHECKS[name] = (title, func)
        return func

    return deco
