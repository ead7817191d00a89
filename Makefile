# « Conteneurisation avec Docker » — the README's commands.
#   make lab    prepare everything, then open JupyterLab on the course (LAB_ARGS=--no-browser headless)
#   make test-unit  the unit tier: pure logic, no Docker, no root (under a minute)
#   make test   the unit tier, then prepare everything and run every tier and lane (what CI runs)
#   make grade  grade every collected submission of the TP, each in its own sandbox (root)

PYTHON      ?= python3
VENV        := .venv
BIN         := $(CURDIR)/$(VENV)/bin
STATE       := $(CURDIR)/.state
LAB_ARGS    ?=
# Jupyter refuses to run as root without this flag (CI machines and fresh VMs are root).
ROOT_FLAG   := $(if $(filter 0,$(shell id -u)),--allow-root,)
PYTEST_ARGS ?=
GRADE_ARGS  ?=
# nbgrader shells out to alembic: the venv's bin must be on PATH for every call.
export PATH := $(BIN):$(PATH)
export DOCKERCOURSE_STATE := $(STATE)
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: setup venv engine kit current-root browser image lab test test-unit lint clean-docker outputs release grade clean \
	cgroup-v2-vm hub

setup: venv engine kit

# The venv is filled by uv, one wheel pip-installed into the venv first: faster than pip (~1.3x with
# cold caches, ~2.4x warm; benchmarks/setup_venv.py). If uv cannot be installed or fails, pip does it
# as before; INSTALLER=pip forces pip. --system-certs: the OS trust store, as pip uses (TLS-intercepting
# proxies). --compile-bytecode: the .pyc that pip writes; PYTHONDONTWRITEBYTECODE=1 above means nothing
# else will, and every nbgrader or kernel start would pay ~2 s. pip stays, upgraded: the offline kit
# runs `python -m pip download`. uv reads no pip.conf or PIP_* variable (a mirror: UV_DEFAULT_INDEX).
INSTALLER ?= uv
# rfc3987-syntax (jsonschema's format-nongpl extra, through jupyter-events) compiles Lark grammars when
# imported: ~2 CPU-s in every process that imports nbformat or jupyter_server (each nbgrader command,
# Jupyter server, nbval run, grading sandbox). No schema here uses its iri formats, and jsonschema
# works without it (src/dockercourse/lightimports.py); the course image drops it the same way.
DROP_SLOW_OPTIONAL = $(BIN)/python -m pip uninstall --quiet --yes --disable-pip-version-check rfc3987-syntax
UV_INSTALL = $(BIN)/uv pip install --python $(BIN)/python --system-certs --compile-bytecode \
	--upgrade-package pip pip -e '.[test,image-tests,hub]'
venv: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is required (nbgrader 0.9.6): set PYTHON=python3.11 or newer")'
	@echo "== Python environment ($(VENV))"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@if [ "$(INSTALLER)" = uv ]; then \
	  if $(BIN)/python -m pip install --quiet --disable-pip-version-check 'uv>=0.11'; then \
	    echo "== Installer: uv ($$($(BIN)/uv --version))"; echo "$(UV_INSTALL)"; $(UV_INSTALL) && exit 0; \
	    echo "== uv failed: falling back to pip" >&2; \
	  else echo "== uv could not be installed: falling back to pip" >&2; fi; \
	fi; \
	echo "== Installer: pip"; set -ex; \
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip; \
	$(BIN)/python -m pip install --disable-pip-version-check --progress-bar off -e '.[test,image-tests,hub]'
	$(DROP_SLOW_OPTIONAL)
	@touch $@

engine: venv
	@echo "== Docker engine"
	$(BIN)/python -m dockercourse engine

kit: engine
	@echo "== Offline classroom kit (python:3.13-slim)"
	$(BIN)/python -m dockercourse offline

# Debian's chromium for the browser test (Playwright drives it; its own browser download is unused).
browser: venv
	@test -x /usr/bin/chromium || { echo "== Chromium (apt-get install chromium)"; \
	  $(BIN)/python -m dockercourse.hostpkg install chromium \
	  || { echo "Install Chromium as /usr/bin/chromium (the browser test needs it)" >&2; exit 1; }; }

# The current engine's Debian root (trixie's Engine 26: the current-engine lane and the grading
# sandboxes run it), made with mmdebstrap beside the offline kit; root only.
current-root: venv
	@echo "== Current engine's Debian root"
	$(BIN)/python -m dockercourse engine --current --root-only

# The course image (offline-aware: on machines without Docker Hub it builds from the kit's build base).
image: kit
	$(BIN)/python -m dockercourse.courseimage dockercourse-course:latest

lab: setup
	@echo "== JupyterLab: open the URL printed below (Ctrl-C to stop)"
	$(BIN)/jupyter lab --notebook-dir=$(CURDIR) $(ROOT_FLAG) $(LAB_ARGS)

lint: venv
	$(BIN)/ruff check src tests

# The unit tier runs before the engine is set up: on a fresh machine, with no engine installed.
test-unit: venv
	@echo "== Unit tier (pure logic, no daemon)"
	$(BIN)/python tests/run_suites.py --unit $(PYTEST_ARGS)

# After the unit tier, everything the sessions need is prepared side by side (-j: the kit and the
# current engine's root are mostly downloads; apt calls take one lock, dockercourse.hostpkg).
test: test-unit
	@$(MAKE) --no-print-directory -j4 setup current-root browser lint
	@echo "== Tests (live Docker, notebooks under nbval, course image, class grading)"
	$(BIN)/python tests/run_suites.py $(PYTEST_ARGS)

# Re-execute the lecture notebooks in place to refresh their committed outputs, on the engine they come
# from: the current engine (Engine 26) with the containerd image store (root; docs/tests.md).
outputs: setup
	$(BIN)/python -m dockercourse outputs

# Regenerate the student version of the TP (release/ is generated, never edited by hand).
release: venv
	$(BIN)/nbgrader generate_assignment tp-conteneurisation --force

# Grade the class: one sandbox per submission (unprivileged user, rootless engine), the
# official scores written to gradebook.db; re-running resumes. GRADE_ARGS="--jobs 4 --student alice"
grade: setup
	$(BIN)/python -m dockercourse grade tp-conteneurisation $(GRADE_ARGS)

# The class server (root): JupyterHub, each member of CLASS (a CSV: id,role) in a session of their own
# with a rootless Docker engine (docs/class-server.md). HUB_ARGS="--port 8000 --memory 2048"
CLASS ?= classe.csv
HUB_ARGS ?=
hub: setup current-root
	$(BIN)/python -m dockercourse hub --class $(CLASS) $(HUB_ARGS)

# The class command on cgroup v2 with and without systemd, in a QEMU TCG guest (root, about an hour
# on 2 cores; benchmarks/cgroup_v2_vm.py, docs/benchmarks.md). CGV2_ARGS="--config plain --student NAME"
CGV2_ARGS ?=
cgroup-v2-vm: kit
	$(BIN)/python benchmarks/cgroup_v2_vm.py $(CGV2_ARGS)

clean-docker: venv
	$(BIN)/python -m dockercourse clean

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
