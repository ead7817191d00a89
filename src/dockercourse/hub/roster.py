"""The class list: who logs in to the class server, and their Unix accounts.

A CSV with a header, one member per line: ``id`` (the login, which becomes the Unix account's
name) and ``role`` (``student``, the default, or ``instructor``); other columns are ignored::

    id,role
    alice,student
    bob,student
    prof,instructor

Pure parsing and validation here (:func:`parse_roster`); :func:`ensure_member` makes the account
(root): a real login account whose home is the session's disk, its group, its subordinate ids
(for its rootless engine) and, the first time only, a random password (returned once).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import pwd
import re
import secrets
import subprocess
from pathlib import Path

from ..errors import DockercourseError

ROLES = ("student", "instructor")
GROUPS = {"student": "dcstudents", "instructor": "dcinstructors"}
#: Written in the GECOS field of every account the hub made: it only ever touches those.
ACCOUNT_MARK = "dockercourse hub"
#: First subordinate uid/gid of member 0 (the grading sandboxes use 1,500,000,000 and up).
SUBID_BASE = 1_600_000_000
_ID = re.compile(r"^[a-z][a-z0-9_-]{0,30}$")
#: Names a school's list must not take over, even if they are free on this machine.
RESERVED = frozenset({"root", "daemon", "bin", "sys", "sync", "games", "man", "lp", "mail", "news", "uucp",
                      "proxy", "www-data", "backup", "list", "irc", "nobody", "admin", "jupyter", "jupyterhub",
                      "docker", "dcstudents", "dcinstructors"})


class RosterError(DockercourseError, ValueError):
    """A class list that cannot be used; the message is French and says which line."""


@dataclasses.dataclass(frozen=True)
class Member:
    id: str
    role: str = "student"
    index: int = 0  # position in the list: the member's subordinate ids and session address

    @property
    def instructor(self) -> bool:
        return self.role == "instructor"


def parse_roster(text: str) -> list[Member]:
    """The members of a class list (CSV text). Raises :class:`RosterError` on a bad id, an
    unknown role, a duplicate, or a list without students or without instructors."""
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    if not rows or "id" not in (rows[0].keys() if rows else ()):
        raise RosterError("la liste de classe doit être un CSV avec au moins une colonne « id » "
                          "(et « role » : student ou instructor).")
    out: list[Member] = []
    seen: set[str] = set()
    for n, row in enumerate(rows, start=2):
        ident = (row.get("id") or "").strip()
        role = (row.get("role") or "student").strip().lower() or "student"
        if not ident:
            continue
        if not _ID.match(ident) or ident in RESERVED or ident.startswith("dcgrade"):
            raise RosterError(f"ligne {n} : l'identifiant « {ident} » ne peut pas devenir un compte Unix "
                              "(minuscules, chiffres, - et _, 31 caractères au plus, commence par une lettre, "
                              "pas un nom réservé du système).")
        if role not in ROLES:
            raise RosterError(f"ligne {n} : rôle « {role} » inconnu (student ou instructor).")
        if ident in seen:
            raise RosterError(f"ligne {n} : « {ident} » figure deux fois dans la liste.")
        seen.add(ident)
        out.append(Member(ident, role, len(out)))
    if not any(m.instructor for m in out) or all(m.instructor for m in out):
        raise RosterError("la liste de classe doit compter au moins un enseignant (role=instructor) "
                          "et au moins un étudiant.")
    return out


def read_roster(path: str | Path) -> list[Member]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise RosterError(f"liste de classe illisible : {path} ({err.strerror}).") from None
    return parse_roster(text)


def session_home(root: Path, member: Member) -> Path:
    """Where the member's disk is mounted inside their session, and their Unix home."""
    return root / "sessions" / member.id / "home"


def ensure_member(member: Member, root: Path) -> tuple[int, int, str | None]:
    """The member's account (root). Returns (uid, gid, first password or None when the account
    already existed). Refuses an existing account the hub did not make."""
    from ..grading.host import SUBID_SPAN, ensure_account

    try:
        pw = pwd.getpwnam(member.id)
    except KeyError:
        pw = None
    if pw is not None and ACCOUNT_MARK not in pw.pw_gecos:
        raise RosterError(f"le compte Unix « {member.id} » existe déjà sur cette machine et n'a pas été créé "
                          "par le serveur de classe : renommez cet identifiant dans la liste.")
    uid, gid, _ = ensure_account(member.id, SUBID_BASE + member.index * SUBID_SPAN,
                                 home=str(session_home(root, member)), comment=ACCOUNT_MARK,
                                 groups=(GROUPS[member.role],))
    if pw is not None:
        return uid, gid, None
    password = first_password()
    subprocess.run(["chpasswd"], input=f"{member.id}:{password}\n", text=True, check=True, capture_output=True)
    return uid, gid, password


def first_password() -> str:
    """Readable and hard to guess: three groups of four letters and digits (about 62 bits)."""
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    return "-".join("".join(secrets.choice(alphabet) for _ in range(4)) for _ in range(3))


def remove_member(name: str) -> bool:
    """Delete an account the hub made (``userdel``); False when it is not one of ours."""
    try:
        pw = pwd.getpwnam(name)
    except KeyError:
        return False
    if ACCOUNT_MARK not in pw.pw_gecos:
        return False
    subprocess.run(["userdel", "-f", name], capture_output=True)
    return True
