# The course image « Conteneurisation avec Docker »: a French JupyterLab 4 with nbgrader, the
# notebooks, the TP and a docker CLI, for three launches (README, "Launch"):
#   - the student's own Docker, socket mounted (the entrypoint gives jovyan the socket's group):
#       docker run --rm -p 8888:8888 -v /var/run/docker.sock:/var/run/docker.sock --user root IMAGE
#   - Binder (repo2docker builds this file; it runs `jupyter notebook ...` as uid 1000, no daemon);
#   - tests (`make test` builds it with `docker build` and with repo2docker, and runs both).
# Binder's rules are kept: a pinned FROM, the uid-1000 user jovyan as the final USER, the repo in
# $HOME, an ENTRYPOINT that ends in `exec "$@"`.
#
# Online, nothing is passed: the build stage is python:3.13-slim, pip reads PyPI and apt installs
# Debian's docker CLI. Offline (no PyPI nor Debian inside containers), the kit makes a build base
# with the course's wheels and the host's docker CLI (`python -m dockercourse offline
# --course-build` prints it) and the build gets `--build-arg BUILD_BASE=<that tag>`. Either way the
# final stage starts again from python:3.13-slim and only copies the finished virtualenv and the
# CLI: no wheelhouse in the image, and the TP's base image stays what it is.
ARG BUILD_BASE=python:3.13-slim

FROM ${BUILD_BASE} AS build
ARG NB_USER=jovyan
ENV HOME=/home/${NB_USER} PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# The docker CLI: the offline build base carries one; online, Debian's package (trixie names it
# docker-cli; older archives only have docker.io, whose client is the same binary).
RUN if [ -x /opt/dockercourse/bin/docker ]; then cp /opt/dockercourse/bin/docker /usr/local/bin/docker; \
    else apt-get update -q \
      && { apt-get install -y -q --no-install-recommends docker-cli \
           || apt-get install -y -q --no-install-recommends docker.io; } \
      && cp /usr/bin/docker /usr/local/bin/docker && rm -rf /var/lib/apt/lists/*; fi \
 && docker --version
# Dependencies from the single source, pyproject.toml, into a virtualenv. Only pyproject.toml is
# copied (an empty package stands in for src/), so this slow layer is rebuilt only when the
# dependencies change; the install is editable and the final stage brings the real src/ to $HOME.
# rfc3987-syntax goes: importing it costs ~2 CPU-s in every Jupyter server (src/dockercourse/lightimports.py).
COPY pyproject.toml ${HOME}/
RUN mkdir -p ${HOME}/src/dockercourse && touch ${HOME}/README.md ${HOME}/src/dockercourse/__init__.py \
 && python -m venv /opt/venv && /opt/venv/bin/pip install --quiet -e "${HOME}[test]" \
 && /opt/venv/bin/pip uninstall --quiet --yes rfc3987-syntax \
 && /opt/venv/bin/jupyter labextension list 2>&1 | grep -q "@jupyter/nbgrader" \
 && /opt/venv/bin/python -c "import jupyterlab_language_pack_fr_FR"

FROM python:3.13-slim
ARG NB_USER=jovyan
ARG NB_UID=1000
ENV USER=${NB_USER} NB_USER=${NB_USER} NB_UID=${NB_UID} HOME=/home/${NB_USER} \
    PATH=/opt/venv/bin:${PATH} PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1 \
    JUPYTER_CONFIG_PATH=/opt/dockercourse/jupyter/student
RUN useradd --create-home --uid ${NB_UID} --shell /bin/bash ${NB_USER}
COPY --from=build /usr/local/bin/docker /usr/local/bin/docker
COPY --from=build /opt/venv /opt/venv
# French UI by default; nbgrader's instructor tools off for students (DOCKERCOURSE_INSTRUCTOR=1).
COPY image/overrides.json /opt/venv/share/jupyter/lab/settings/overrides.json
COPY image/jupyter/ /opt/dockercourse/jupyter/
COPY image/entrypoint.sh /usr/local/bin/dockercourse-entrypoint
COPY --chown=${NB_UID}:${NB_UID} . ${HOME}

USER ${NB_USER}
WORKDIR ${HOME}
# The TP in the nbgrader exchange, so that the assignment list offers it (exchange: ~/.state).
RUN nbgrader release_assignment tp-conteneurisation --force --log-level=WARN
EXPOSE 8888
ENTRYPOINT ["/usr/local/bin/dockercourse-entrypoint"]
CMD ["jupyter", "lab", "--ip=0.0.0.0", "--port=8888", "--no-browser"]
