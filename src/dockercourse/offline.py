"""The offline classroom kit: ``python:3.13-slim`` without Docker Hub or PyPI.

The course's Dockerfiles say ``FROM python:3.13-slim`` and ``RUN pip install -r
requirements.txt``. When the real image cannot be pulled, :func:`ensure` builds a
stand-in from Debian packages:

1. a *wheelhouse* of the TP's dependencies (``data/wheelhouse.txt``, plus any
   extra requirement files), downloaded on the host for the image's Python
   (cp313) and architecture;
2. a Debian trixie ``minbase`` root filesystem (mmdebstrap) with python3.13,
   pip, venv and ca-certificates, made to look like the official image
   (``python``/``pip`` on PATH, no PEP 668 block);
3. the wheelhouse baked in at ``/opt/dockercourse/wheelhouse`` with
   ``/etc/pip.conf`` saying ``no-index`` + ``find-links``, so the unchanged
   ``pip install`` works with no network;
4. ``docker import`` tagged ``python:3.13-slim``, labelled as a stand-in with
   the hash of its recipe.

The rootfs tarball is cached in the state folder under its recipe hash: when the
image with that hash exists the step is a no-op, and when only the tarball
exists, re-importing it takes seconds. ``--from-tar`` loads an
instructor-provided ``docker save`` archive instead.

The course image (top-level ``Dockerfile``) needs far more than the TP: JupyterLab,
nbgrader, pandas... and a ``docker`` command line. Baking those wheels into the
stand-in would change the TP's base image (its size is in notebook outputs and in
the TP's image-size budget), so :func:`ensure_course_build_base` puts them in a
*separate* image, ``dockercourse-course-build:<hash>``, derived from the stand-in
and used only as the course Dockerfile's build stage (``--build-arg
BUILD_BASE=...``). The course image itself starts again from ``python:3.13-slim``
and copies the finished virtualenv, so no wheel ends up in it. Online, the build
argument is simply not given and the same Dockerfile installs from PyPI and apt.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from . import engine, hostpkg
from .errors import DockercourseError

BASE_IMAGE = engine.BASE_IMAGE
SUITE = "trixie"
PYTHON_TAG = "3.13"
MIRROR = hostpkg.MIRROR
PACKAGES = ("python3", "python3-pip", "python3-venv", "ca-certificates")
WHEELHOUSE_IN_IMAGE = "/opt/dockercourse/wheelhouse"
#: Bump when the build steps below change in a way the inputs do not show.
RECIPE_VERSION = "2"
STANDIN_LABEL = engine.STANDIN_LABEL
RECIPE_LABEL = f"{engine.LABEL}.recipe"

PIP_CONF = f"""\
# Offline classroom kit: pip installs only from the wheelhouse baked into this image.
[global]
no-index = true
find-links = {WHEELHOUSE_IN_IMAGE}
disable-pip-version-check = true
root-user-action = ignore
"""

# What the official image sets and Dockerfiles may rely on.
IMAGE_CHANGES = (
    "ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin",
    "ENV LANG=C.UTF-8",
    f"ENV PYTHON_VERSION={PYTHON_TAG}",
    'CMD ["python3"]',
)


class KitError(DockercourseError, RuntimeError):
    """The kit could not be built or loaded (message says what to do)."""


@dataclass(frozen=True)
class Recipe:
    """Everything that decides the stand-in image's content."""

    requirements: tuple[str, ...]
    arch: str = "x86_64"
    suite: str = SUITE
    packages: tuple[str, ...] = PACKAGES
    version: str = RECIPE_VERSION
    changes: tuple[str, ...] = field(default=IMAGE_CHANGES)

    def hash(self) -> str:
        payload = json.dumps(
            {"requirements": sorted(self.requirements), "arch": self.arch, "suite": self.suite,
             "packages": sorted(self.packages), "version": self.version, "changes": list(self.changes),
             "pip_conf": PIP_CONF},
            sort_keys=True,
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


def default_requirements() -> list[str]:
    text = resources.files("dockercourse.data").joinpath("wheelhouse.txt").read_text()
    return parse_requirements(text)


def parse_requirements(text: str) -> list[str]:
    """Requirement lines of a requirements file, without comments and blanks."""
    out = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            out.append(line)
    return out


def make_recipe(extra_requirement_files: list[str | Path] = (), arch: str | None = None) -> Recipe:
    reqs = default_requirements()
    for f in extra_requirement_files:
        reqs += parse_requirements(Path(f).read_text())
    return Recipe(requirements=tuple(dict.fromkeys(reqs)), arch=arch or _daemon_arch())


def _daemon_arch() -> str:
    try:
        return engine.client().info().get("Architecture") or "x86_64"
    except engine.DockerUnavailable:
        return os.uname().machine


def pip_platforms(arch: str) -> list[str]:
    """pip ``--platform`` tags that a Debian trixie (glibc 2.41) image accepts."""
    arch = {"amd64": "x86_64", "arm64": "aarch64"}.get(arch, arch)
    tags = [f"manylinux_2_{minor}_{arch}" for minor in (41, 39, 36, 34, 31, 28, 27, 24, 17)]
    return tags + [f"manylinux2014_{arch}", f"linux_{arch}"]


def image_status(recipe: Recipe | None = None) -> dict:
    """What is there now: ``{"present", "standin", "recipe", "up_to_date", "size"}``."""
    import docker

    c = engine.client()
    try:
        img = c.images.get(BASE_IMAGE)
    except docker.errors.ImageNotFound:
        return {"present": False, "standin": False, "recipe": None, "up_to_date": False, "size": None}
    lab = img.labels or {}
    standin = bool(lab.get(STANDIN_LABEL))
    rec = lab.get(RECIPE_LABEL)
    up_to_date = (not standin) or recipe is None or rec == recipe.hash()
    return {"present": True, "standin": standin, "recipe": rec, "up_to_date": up_to_date,
            "size": img.attrs.get("Size"), "id": img.id}


# --------------------------------------------------------------------------- steps


class Progress:
    """Numbered steps with elapsed time, printed as they happen."""

    def __init__(self, total: int):
        self.total, self.n, self.t0 = total, 0, time.monotonic()

    def step(self, text: str) -> None:
        self.n += 1
        print(f"[kit {self.n}/{self.total}] {text}  (+{time.monotonic() - self.t0:.0f} s)", flush=True)


def try_pull(timeout: float = 60) -> bool:
    """Try ``docker pull python:3.13-slim``; False quickly when Docker Hub is unreachable."""
    if not engine.docker_hub_reachable(timeout=5):
        return False
    print(f"Pulling {BASE_IMAGE} from Docker Hub...", flush=True)
    try:
        proc = subprocess.run(["docker", "pull", BASE_IMAGE], timeout=timeout, text=True,
                              stdout=sys.stdout, stderr=subprocess.STDOUT)
    except subprocess.TimeoutExpired:
        return False
    return proc.returncode == 0


def load_tar(path: str | Path) -> None:
    """Load an instructor-provided ``docker save`` archive that contains the base image."""
    path = Path(path)
    if not path.is_file():
        raise KitError(f"Archive introuvable : {path}")
    print(f"Loading {path} ({path.stat().st_size / 2**20:.0f} MiB) with docker load...", flush=True)
    proc = subprocess.run(["docker", "load", "-i", str(path)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise KitError(f"docker load a échoué : {proc.stderr.strip()}")
    print(proc.stdout.strip())
    loaded = loaded_tags(proc.stdout)
    if BASE_IMAGE not in loaded:
        raise KitError(f"L'archive {path.name} ne contient pas l'image {BASE_IMAGE} "
                       f"(elle contient : {', '.join(loaded) or 'aucune image nommée'}).")


def loaded_tags(docker_load_output: str) -> list[str]:
    """Pure: the ``repo:tag`` names that ``docker load`` reports."""
    return [line.split(":", 1)[1].strip() for line in docker_load_output.splitlines()
            if line.startswith("Loaded image:")]


def download_wheels(recipe: Recipe, dest: Path) -> list[str]:
    """Download the recipe's wheels (and their dependencies) for cp313 on the image's arch."""
    dest.mkdir(parents=True, exist_ok=True)
    req_file = dest / "requirements.txt"
    req_file.write_text("\n".join(recipe.requirements) + "\n")
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
           "--only-binary=:all:", "--implementation", "cp", "--python-version", PYTHON_TAG,
           "--abi", f"cp{PYTHON_TAG.replace('.', '')}", "--abi", "abi3", "--abi", "none",
           "-d", str(dest), "-r", str(req_file)]
    for plat in pip_platforms(recipe.arch):
        cmd += ["--platform", plat]
    cmd += ["--platform", "any"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise KitError("pip download failed (PyPI must be reachable from the host):\n" + proc.stderr[-2000:])
    return sorted(p.name for p in dest.glob("*.whl"))


def build_rootfs(recipe: Recipe, wheel_dir: Path, tar_path: Path, log_path: Path) -> None:
    """A Debian minbase root (:func:`hostpkg.debian_root`) + customisation, packed into ``tar_path``."""
    with tempfile.TemporaryDirectory(prefix="dockercourse-rootfs-", dir=tar_path.parent) as tmp:
        root = Path(tmp) / "rootfs"
        hostpkg.debian_root(recipe.suite, recipe.packages, root, log_path, hostpkg.deb_arch(recipe.arch),
                            error=KitError)
        customise_rootfs(root, wheel_dir)
        tmp_tar = tar_path.with_suffix(".partial")
        subprocess.run(["tar", "--numeric-owner", "-C", str(root), "-cf", str(tmp_tar), "."], check=True)
        tmp_tar.rename(tar_path)


def customise_rootfs(root: Path, wheel_dir: Path) -> None:
    """Make the Debian tree behave like ``python:3.13-slim`` plus the offline wheelhouse."""
    local_bin = root / "usr/local/bin"
    local_bin.mkdir(parents=True, exist_ok=True)
    for link, target in (("python", "/usr/bin/python3"), ("pip", "/usr/bin/pip3"),
                         ("python3", "/usr/bin/python3"), ("pip3", "/usr/bin/pip3")):
        p = local_bin / link
        if not p.exists():
            p.symlink_to(target)
    for marker in root.glob("usr/lib/python3*/EXTERNALLY-MANAGED"):
        marker.unlink()  # no PEP 668 block, like the official image
    wh = root / WHEELHOUSE_IN_IMAGE.lstrip("/")
    wh.mkdir(parents=True, exist_ok=True)
    for whl in wheel_dir.glob("*.whl"):
        shutil.copy2(whl, wh / whl.name)
    (root / "etc/pip.conf").write_text(PIP_CONF)
    (root / "etc/dockercourse-standin").write_text(
        "This is a local stand-in for python:3.13-slim built by the course's offline kit "
        "(Debian trixie packages + a wheelhouse). It is not the official image.\n")
    # slim it down like the official -slim images
    for pattern in ("var/lib/apt/lists/*", "var/cache/apt/*.bin", "var/cache/apt/archives/*.deb",
                    "usr/share/doc/*", "usr/share/man/*", "usr/share/info/*", "var/log/*.log",
                    "usr/share/locale/*"):
        for p in root.glob(pattern):
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)


def _remove_replaced(old_id: str | None) -> None:
    """Remove the previous stand-in once its tag moved to the new one (kept if still in use)."""
    import docker

    if not old_id:
        return
    c = engine.client()
    try:
        if old_id != c.images.get(BASE_IMAGE).id:
            c.images.remove(old_id)
    except docker.errors.APIError:  # a container still uses it, or it is gone already
        pass


def import_tar(recipe: Recipe, tar_path: Path) -> str:
    # Deliberately not the plain `dockercourse=1` label: every image built FROM this one inherits
    # its labels, and a student's own image must not look like something the course made.
    lab = {STANDIN_LABEL: "1", RECIPE_LABEL: recipe.hash()}
    lab["org.opencontainers.image.description"] = (
        f"Local stand-in for {BASE_IMAGE} (Debian {recipe.suite} packages + offline wheelhouse), "
        "built by the dockercourse offline kit")
    cmd = ["docker", "import"]
    for change in recipe.changes:
        cmd += ["--change", change]
    for k, v in lab.items():
        cmd += ["--change", f"LABEL {k}={json.dumps(v)}"]
    cmd += [str(tar_path), BASE_IMAGE]
    old = image_status()
    old_id = old.get("id") if old["standin"] else None
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise KitError(f"docker import failed: {proc.stderr.strip()}")
    _remove_replaced(old_id)
    return proc.stdout.strip()


def verify() -> str:
    """Run the base image once: Python version and pip's configuration."""
    c = engine.client()
    out = c.containers.run(BASE_IMAGE, ["sh", "-c", "python --version && pip --version | cut -d' ' -f1-2"],
                           remove=True, network_mode="none", name=engine.name("kit-verify"),
                           labels=engine.labels(purpose="kit-verify"))
    return out.decode().strip()


def ensure(from_tar: str | None = None, extra_requirements: list[str] = (), force: bool = False,
           pull: bool = True) -> str:
    """Make ``python:3.13-slim`` available; returns ``"present"``, ``"pulled"``,
    ``"loaded"``, ``"imported"`` (from the cached tarball) or ``"built"``."""
    t0 = time.monotonic()
    recipe = make_recipe(extra_requirements)
    status = image_status(recipe)
    if status["present"] and status["up_to_date"] and not force and not from_tar:
        kind = f"stand-in, recipe {status['recipe']}" if status["standin"] else "official image"
        print(f"{BASE_IMAGE} is ready ({kind}).")
        return "present"
    if from_tar:
        load_tar(from_tar)
        return "loaded"
    if pull and not status["standin"] and not force and try_pull():
        return "pulled"
    cache = engine.state_dir() / "offline"
    cache.mkdir(parents=True, exist_ok=True)
    tar_path = cache / f"rootfs-{recipe.hash()}.tar"
    if tar_path.exists() and not force:
        print(f"Docker Hub unreachable: importing the cached offline base {tar_path.name}...", flush=True)
        import_tar(recipe, tar_path)
        print(f"{BASE_IMAGE} stand-in imported in {time.monotonic() - t0:.1f} s: {verify()}")
        return "imported"
    print(f"Docker Hub unreachable: building a local stand-in for {BASE_IMAGE} "
          f"(recipe {recipe.hash()}, about a minute)", flush=True)
    prog = Progress(4)
    prog.step(f"downloading wheels for cp313/{recipe.arch}: {', '.join(recipe.requirements)}")
    wheel_dir = cache / f"wheels-{recipe.hash()}"
    wheels = download_wheels(recipe, wheel_dir)
    print(f"      {len(wheels)} wheels: {', '.join(wheels)}")
    prog.step(f"Debian {recipe.suite} minbase + {', '.join(recipe.packages)} (log: {cache / 'bootstrap.log'})")
    build_rootfs(recipe, wheel_dir, tar_path, cache / "bootstrap.log")
    prog.step(f"docker import as {BASE_IMAGE} ({tar_path.stat().st_size / 2**20:.0f} MiB tarball)")
    import_tar(recipe, tar_path)
    for old in cache.glob("rootfs-*.tar"):
        if old != tar_path:
            old.unlink()
    prog.step("checking the image")
    print(f"      {verify()}")
    print(f"{BASE_IMAGE} stand-in built in {time.monotonic() - t0:.0f} s.")
    return "built"


# --------------------------------------------------------------------------- course image build base

COURSE_BUILD_IMAGE = "dockercourse-course-build"
COURSE_BUILD_LABEL = f"{engine.LABEL}.course-build"
#: Bump when the course build base's steps change in a way the inputs do not show.
COURSE_BUILD_VERSION = "1"
#: Where the build base keeps the docker CLI; the course Dockerfile looks there before apt.
CLI_IN_IMAGE = "/opt/dockercourse/bin/docker"


def course_requirements(pyproject: str | Path | None = None) -> list[str]:
    """The course's own dependencies, read from ``pyproject.toml`` (the single source):
    build-system requirements, dependencies and every optional extra the image installs."""
    import tomllib

    path = Path(pyproject) if pyproject else Path(__file__).resolve().parents[2] / "pyproject.toml"
    data = tomllib.loads(path.read_text())
    reqs = list(data["build-system"]["requires"]) + list(data["project"]["dependencies"])
    reqs += data["project"].get("optional-dependencies", {}).get("test", [])
    return list(dict.fromkeys(reqs))


def host_docker_cli() -> Path:
    """The host's ``docker`` client, which the offline build base carries into the image.

    Offline, nothing can be installed inside a container; the host has a Linux docker
    client for the daemon's architecture (it is the course's subject), so that binary is
    what the course image gets. It must be a Linux ELF file (not Docker Desktop's macOS one)."""
    exe = shutil.which("docker")
    if exe is None:
        raise KitError("Aucun client docker sur cette machine : impossible de l'ajouter à l'image du cours.")
    path = Path(exe).resolve()
    with open(path, "rb") as f:
        if f.read(4) != b"\x7fELF":
            raise KitError(f"{path} n'est pas un binaire Linux : construisez l'image du cours en ligne.")
    return path


def course_build_hash(requirements: list[str], cli: Path, base_id: str) -> str:
    st = cli.stat()
    payload = json.dumps({"requirements": sorted(requirements), "cli": [str(cli), st.st_size, int(st.st_mtime)],
                          "base": base_id, "version": COURSE_BUILD_VERSION}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def ensure_course_build_base(pyproject: str | Path | None = None, force: bool = False) -> str | None:
    """Offline only: make ``dockercourse-course-build:<hash>`` (the stand-in plus the course's
    wheels and the host's docker CLI) and return its tag, to pass as ``BUILD_BASE``.

    Returns ``None`` when ``python:3.13-slim`` is the official image: then containers are
    assumed to reach PyPI and Debian, and the Dockerfile needs no build argument."""
    import docker

    status = image_status()
    if not status["present"]:
        raise KitError(f"{BASE_IMAGE} est absente : lancez d'abord python -m dockercourse offline.")
    if not status["standin"]:
        return None
    reqs = course_requirements(pyproject)
    cli = host_docker_cli()
    tag = f"{COURSE_BUILD_IMAGE}:{course_build_hash(reqs, cli, status['id'])}"
    c = engine.client()
    try:
        c.images.get(tag)
        if not force:
            print(f"{tag} is ready (course wheels + docker CLI for the course image).")
            return tag
    except docker.errors.ImageNotFound:
        pass
    t0 = time.monotonic()
    arch = _daemon_arch()
    cache = engine.state_dir() / "offline"
    wheel_dir = cache / f"course-wheels-{hashlib.sha256(json.dumps(sorted(reqs)).encode()).hexdigest()[:16]}"
    print(f"Building {tag}: downloading the course's wheels for cp313/{arch} (pyproject.toml)...", flush=True)
    wheels = download_wheels(Recipe(requirements=tuple(reqs), arch=arch), wheel_dir)
    print(f"      {len(wheels)} wheels ({sum(p.stat().st_size for p in wheel_dir.glob('*.whl')) / 2**20:.0f} MiB)")
    with tempfile.TemporaryDirectory(prefix="dockercourse-course-build-", dir=cache) as tmp:
        ctx = Path(tmp)
        (ctx / "wheels").mkdir()
        for whl in wheel_dir.glob("*.whl"):
            try:
                os.link(whl, ctx / "wheels" / whl.name)
            except OSError:
                shutil.copy2(whl, ctx / "wheels" / whl.name)
        shutil.copy2(cli, ctx / "docker")
        (ctx / "Dockerfile").write_text(
            f"FROM {BASE_IMAGE}\n"
            f"COPY wheels/ {WHEELHOUSE_IN_IMAGE}/\n"
            f"COPY docker {CLI_IN_IMAGE}\n"
            f"LABEL {COURSE_BUILD_LABEL}=1\n")
        proc = subprocess.run(["docker", "build", "-q", "-t", tag, "--label", f"{engine.LABEL}=1", str(ctx)],
                              capture_output=True, text=True, env=dict(os.environ, DOCKER_BUILDKIT="0"))
        if proc.returncode != 0:
            raise KitError(f"docker build {tag} failed: {proc.stderr.strip()[-2000:]}")
    for img in c.images.list(name=COURSE_BUILD_IMAGE):  # older recipes
        if tag not in img.tags:
            with contextlib.suppress(docker.errors.APIError):
                c.images.remove(img.id)
    print(f"{tag} built in {time.monotonic() - t0:.0f} s.")
    return tag
