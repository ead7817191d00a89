"""What a Dockerfile means before it is built, read the way BuildKit reads it (pure functions).

:func:`stages` resolves every ``FROM``: the ``ARG`` lines before the first ``FROM`` give
defaults (a ``--build-arg`` overrides them, BuildKit's automatic platform ``ARG``\\ s exist),
``$VAR``, ``${VAR}``, ``${VAR:-default}``… are expanded, and a ``FROM <stage>`` follows
the stage it names. :func:`final_base` is the image the built image really starts from,
:func:`is_official_slim` the TP's base-image rule.

:func:`without_syntax_directive` removes a ``# syntax=`` parser directive: it names a
frontend image on Docker Hub, which an offline grader cannot pull; the engine's built-in
frontend builds the file instead (line numbers are kept).
"""

from __future__ import annotations

import dataclasses
import fnmatch
import re

from ..errors import DockercourseError

#: What BuildKit defines for ``FROM`` lines without any ``ARG`` (a linux/amd64 or arm64 host).
AUTOMATIC_ARGS = {"TARGETPLATFORM": "linux/amd64", "TARGETOS": "linux", "TARGETARCH": "amd64",
                  "TARGETVARIANT": "", "BUILDPLATFORM": "linux/amd64", "BUILDOS": "linux",
                  "BUILDARCH": "amd64", "BUILDVARIANT": ""}
_DIRECTIVE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$")
OFFICIAL_REPO = "docker.io/library/python"
#: The tags of the official Python 3.13 slim image (3.13-slim, 3.13.5-slim, 3.13-slim-trixie…).
_SLIM_TAG = re.compile(r"^3\.13(?:\.\d+)?-slim(?:-[a-z]+)?$")


def directives(text: str) -> tuple[dict[str, str], int]:
    """The parser directives at the top of a Dockerfile (lower-case keys) and how many lines
    they take. Like BuildKit: they stop at the first line that is not one (a comment, an
    empty line, an instruction); a directive seen twice ends them too."""
    found: dict[str, str] = {}
    n = 0
    for line in text.splitlines():
        m = _DIRECTIVE.match(line.strip())
        if not m or m.group(1).lower() in found:
            break
        found[m.group(1).lower()] = m.group(2)
        n += 1
    return found, n


def without_syntax_directive(text: str) -> tuple[str, str | None]:
    """``(text, frontend)``: the Dockerfile without its ``# syntax=`` directive, and the
    frontend it named (None, text unchanged, when there is none). The line is moved below
    the other directives as a plain comment, so every instruction keeps its line number and
    a following ``# escape=`` stays a directive."""
    found, n = directives(text)
    if "syntax" not in found:
        return text, None
    lines = text.splitlines(keepends=True)
    head = lines[:n]
    idx = next(i for i, ln in enumerate(head) if _DIRECTIVE.match(ln.strip()).group(1).lower() == "syntax")
    removed = head.pop(idx)
    eol = "\r\n" if removed.endswith("\r\n") else "\n"
    head.append(f"# (frontend {found['syntax']} remplacé par celui du moteur){eol}")
    return "".join(head + lines[n:]), found["syntax"]


def instructions(text: str) -> list[tuple[int, str, str]]:
    """``(line number, INSTRUCTION, arguments)`` of each instruction, continuation lines
    joined (with the escape character of ``# escape=``), comments and heredoc bodies skipped."""
    found, n = directives(text)
    escape = found.get("escape", "\\")
    escape = escape if escape in ("\\", "`") else "\\"
    lines = text.splitlines()
    out: list[tuple[int, str, str]] = []
    i = n
    while i < len(lines):
        start = i
        line = lines[i]
        i += 1
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = []
        while True:
            stripped = line.rstrip()
            if stripped.endswith(escape) and not stripped.endswith(escape * 2):
                parts.append(stripped[:-1])
                # comment and empty lines inside a continued instruction are dropped
                while i < len(lines) and (not lines[i].strip() or lines[i].lstrip().startswith("#")):
                    i += 1
                if i >= len(lines):
                    break
                line = lines[i]
                i += 1
                continue
            parts.append(line)
            break
        joined = " ".join(p.strip() for p in parts).strip()
        word, _, args = joined.partition(" ")
        out.append((start + 1, word.upper(), args.strip()))
        heredocs = re.findall(r"(?<!<)<<-?\s*[\"']?([A-Za-z_][A-Za-z0-9_]*)[\"']?", args) \
            if word.upper() in ("RUN", "COPY", "ADD") else []
        for marker in heredocs:
            while i < len(lines) and lines[i].strip() != marker:  # a heredoc body, up to its end word
                i += 1
            i += 1
    return out


class UnresolvedVariable(DockercourseError, ValueError):
    """``${VAR:?message}`` on an unset variable (BuildKit fails the build)."""


def expand(word: str, env: dict[str, str]) -> str:
    """``word`` with its variables expanded like BuildKit's shell lexer does for ``FROM``
    and ``ARG``: ``$VAR``, ``${VAR}``, ``${VAR:-d}``, ``${VAR-d}``, ``${VAR:+a}``, ``${VAR+a}``,
    ``${VAR:?m}``, ``${VAR#p}``/``##``/``%``/``%%``; unset is empty; ``\\$`` and single
    quotes keep a literal ``$``; quotes are removed."""
    out: list[str] = []
    i, n = 0, len(word)
    quote = ""
    while i < n:
        c = word[i]
        if c == "\\" and i + 1 < n and quote != "'":
            out.append(word[i + 1])
            i += 2
        elif c in "'\"" and (not quote or quote == c):
            quote = "" if quote else c
            i += 1
        elif c == "$" and quote != "'" and i + 1 < n:
            if word[i + 1] == "{":
                end = _closing_brace(word, i + 2)
                out.append(_expand_braced(word[i + 2:end], env))
                i = end + 1
            else:
                m = re.match(r"[A-Za-z_][A-Za-z0-9_]*", word[i + 1:])
                if m:
                    out.append(env.get(m.group(0), ""))
                    i += 1 + m.end()
                else:
                    out.append(c)
                    i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _closing_brace(word: str, start: int) -> int:
    depth = 1
    for j in range(start, len(word)):
        if word[j] == "{" and word[j - 1] == "$":
            depth += 1
        elif word[j] == "}":
            depth -= 1
            if depth == 0:
                return j
    raise ValueError(f"accolade non fermée dans « {word} »")


def _expand_braced(inner: str, env: dict[str, str]) -> str:
    m = re.match(r"([A-Za-z_][A-Za-z0-9_]*)(.*)$", inner, re.S)
    if not m:
        raise ValueError(f"variable invalide : ${{{inner}}}")
    name, rest = m.groups()
    is_set = name in env
    value = env.get(name, "")
    if not rest:
        return value
    for op in (":-", ":+", ":?", "-", "+", "?", "##", "#", "%%", "%"):
        if rest.startswith(op):
            arg = expand(rest[len(op):], env)
            break
    else:
        raise ValueError(f"modificateur inconnu dans ${{{inner}}}")
    if op == ":-":
        return value if value else arg
    if op == "-":
        return value if is_set else arg
    if op == ":+":
        return arg if value else ""
    if op == "+":
        return arg if is_set else ""
    if op in (":?", "?"):
        if (op == ":?" and not value) or (op == "?" and not is_set):
            raise UnresolvedVariable(f"{name} : {arg or 'variable non définie'}")
        return value
    return _trim(value, arg, op)


def _trim(value: str, pattern: str, op: str) -> str:
    sizes = range(len(value) + 1)
    if op in ("#", "##"):  # shortest / longest matching prefix removed
        for k in (sizes if op == "#" else reversed(sizes)):
            if fnmatch.fnmatchcase(value[:k], pattern):
                return value[k:]
    else:  # % / %%: shortest / longest matching suffix removed
        for k in (reversed(sizes) if op == "%" else sizes):
            if fnmatch.fnmatchcase(value[k:], pattern):
                return value[:k]
    return value


@dataclasses.dataclass
class Stage:
    """One ``FROM``: as written, as resolved, its ``AS`` name, and the external image it
    starts from (following ``FROM <earlier stage>``; "scratch" for none)."""

    line: int
    written: str
    image: str
    name: str = ""
    base: str = ""
    parent: int | None = None  # index of the stage it builds on


def stages(text: str, build_args: dict[str, str] | None = None) -> list[Stage]:
    """Every ``FROM`` of ``text``, resolved (see the module's docstring). A variable that
    cannot be resolved (``${X:?}``) leaves the stage's ``image`` as written."""
    env = dict(AUTOMATIC_ARGS)
    build_args = build_args or {}
    out: list[Stage] = []
    by_name: dict[str, int] = {}
    for lineno, word, args in instructions(text):
        if word == "ARG" and not out:
            for decl in _split_words(args):
                name, eq, default = decl.partition("=")
                if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                    continue
                if name in build_args:
                    env[name] = build_args[name]
                elif eq:
                    try:
                        env[name] = expand(default, env)
                    except ValueError:
                        env[name] = default
                else:
                    env.setdefault(name, "")
        elif word == "FROM":
            tokens = [t for t in _split_words(args) if not t.startswith("--")]
            if not tokens:
                continue
            written = tokens[0]
            try:
                image = expand(written, env)
            except ValueError:
                image = written
            name = tokens[2] if len(tokens) >= 3 and tokens[1].lower() == "as" else ""
            parent = by_name.get(image.lower())
            base = out[parent].base if parent is not None else image
            out.append(Stage(lineno, written, image, name, base, parent))
            if name:
                by_name[name.lower()] = len(out) - 1
    return out


def _split_words(args: str) -> list[str]:
    """Words separated by blanks, quotes kept together (expansion comes later)."""
    return re.findall(r"(?:[^\s\"']|\"[^\"]*\"|'[^']*')+", args)


def final_base(text: str, build_args: dict[str, str] | None = None) -> str | None:
    """The external image the built (last) stage starts from; None without ``FROM``."""
    found = stages(text, build_args)
    return found[-1].base if found else None


def normalize(ref: str) -> tuple[str, str, str]:
    """``(repository, tag, digest)`` of an image reference with Docker Hub's defaults
    (``python:3.13-slim`` → ``docker.io/library/python``, ``3.13-slim``, ``""``)."""
    ref = ref.strip()
    name, _, digest = ref.partition("@")
    slash = name.rfind("/")
    colon = name.rfind(":")
    tag = ""
    if colon > slash:
        name, tag = name[:colon], name[colon + 1:]
    parts = name.split("/")
    if len(parts) == 1 or not ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        parts = ["docker.io", *parts]
    if parts[0] in ("index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"):
        parts[0] = "docker.io"
    if parts[0] == "docker.io" and len(parts) == 2:
        parts.insert(1, "library")
    return "/".join(parts).lower(), tag or ("" if digest else "latest"), digest


def is_official_slim(ref: str | None) -> bool:
    """The TP's rule « l'image officielle Python slim »: Docker Hub's ``python`` image at a
    3.13 slim tag, however it is spelled (``docker.io/library/python:3.13-slim``, a digest…)."""
    if not ref:
        return False
    repo, tag, _ = normalize(ref)
    return repo == OFFICIAL_REPO and bool(_SLIM_TAG.match(tag))
