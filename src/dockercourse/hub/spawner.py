"""The class server's spawner: each member's JupyterLab in a session of their own (:mod:`.session`).

Configured by the hub's generated ``jupyterhub_config.py`` (:mod:`.app`); the class list gives
each member's index (their subordinate ids and their session's address) and role.
"""

from __future__ import annotations

import asyncio
import pwd
from pathlib import Path

from jupyterhub.spawner import Spawner
from traitlets import Dict, Float, Integer, List, Unicode

from . import network, session


class ClassSpawner(Spawner):
    """Start, poll and stop a member's session. The hub runs as root."""

    hub_root = Unicode(str(session.DEFAULT_ROOT), config=True, help="The class server's folder.")
    members = Dict(config=True, help="{login: {'index': int, 'role': 'student'|'instructor'}} from the class list.")
    memory_mib = Integer(2048, config=True, help="Memory of a whole session (JupyterLab, kernels, engine, containers).")
    session_cpus = Float(1.0, config=True, help="CPU cores of a whole session.")
    session_pids = Integer(1024, config=True, help="Processes of a whole session.")
    disk_gib = Integer(10, config=True, help="Size of each member's disk (sparse).")
    engine_source = Unicode("", config=True, help="The current engine's Debian root ('' : no engine).")
    base_tar = Unicode("", config=True, help="docker save of the course's base image, loaded at the first session.")
    notebooks = Unicode("", config=True, help="The lecture notebooks copied into a member's home the first time.")
    hidden = List(Unicode(), config=True, help="Folders covered inside every session.")
    instructor_hidden = List(Unicode(), config=True, help="Folders covered inside students' sessions only.")

    pid = Integer(0)
    start_timeout = 120
    http_timeout = 90

    def _spec(self) -> session.SessionSpec:
        name = self.user.name
        member = self.members.get(name)
        if member is None:
            raise session.SessionError(f"{name} n'est pas dans la liste de classe")
        pw = pwd.getpwnam(name)
        instructor = member.get("role") == "instructor"
        env = self.get_env()
        return session.SessionSpec(
            user=name, uid=pw.pw_uid, gid=pw.pw_gid, index=int(member["index"]), root=self.hub_root,
            instructor=instructor, memory_mib=self.memory_mib, cpus=self.session_cpus, pids=self.session_pids,
            disk_gib=self.disk_gib, env=env, args=list(self.args), engine_source=self.engine_source,
            base_tar=self.base_tar, notebooks=self.notebooks,
            hidden=list(self.hidden) + ([] if instructor else list(self.instructor_hidden)))

    async def start(self):
        member = self.members.get(self.user.name) or {}
        self.ip = str(network.session_address(int(member.get("index", 0))))
        self.port = session.SERVER_PORT
        spec = self._spec()
        proc = await asyncio.to_thread(session.start, spec)
        self.pid = proc.pid
        return (self.ip, self.port)

    async def poll(self):
        if not self.pid:
            return 0
        member = self.members.get(self.user.name)
        if member is None:
            return 0
        spec = session.SessionSpec(user=self.user.name, uid=0, gid=0, index=int(member["index"]), root=self.hub_root)
        if session.running(spec, self.pid):
            return None
        return 1

    async def stop(self, now=False):
        member = self.members.get(self.user.name)
        if member is not None:
            pw = pwd.getpwnam(self.user.name)
            spec = session.SessionSpec(user=self.user.name, uid=pw.pw_uid, gid=pw.pw_gid,
                                       index=int(member["index"]), root=self.hub_root)
            await asyncio.to_thread(session.stop, spec)
        self.pid = 0

    def get_state(self):
        state = super().get_state()
        if self.pid:
            state["pid"] = self.pid
        return state

    def load_state(self, state):
        super().load_state(state)
        self.pid = state.get("pid", 0)

    def clear_state(self):
        super().clear_state()
        self.pid = 0


def member_table(path: str | Path) -> dict[str, dict]:
    """The spawner's ``members`` from a class list file."""
    from .roster import read_roster

    return {m.id: {"index": m.index, "role": m.role} for m in read_roster(path)}
