#!/bin/sh
# Entrypoint of the course image: give the notebook user the docker socket, then run the command.
#
# - Started as root (the student's one command says `--user root`): when the host's Docker socket
#   is mounted, find its group id *inside* the container (it differs between Debian, Ubuntu and
#   Docker Desktop), make jovyan a member of that group, then drop to jovyan (uid 1000) with setpriv.
# - Started as jovyan (Binder, or a plain `docker run`): nothing to change, just `exec "$@"`
#   (Binder passes its own `jupyter notebook ...` command and relies on this).
# - DOCKERCOURSE_INSTRUCTOR=1 switches nbgrader's instructor tools (formgrader, create
#   assignment) on; students never see them otherwise.
set -e

if [ "${DOCKERCOURSE_INSTRUCTOR:-0}" = "1" ]; then
    export JUPYTER_CONFIG_PATH=/opt/dockercourse/jupyter/instructor
fi

sock=/var/run/docker.sock
user="${NB_USER:-jovyan}"

if [ "$(id -u)" = "0" ]; then
    if [ -S "$sock" ]; then
        gid=$(stat -c %g "$sock")
        group=$(getent group "$gid" | cut -d: -f1)
        if [ -z "$group" ]; then
            groupadd --gid "$gid" docker-host
            group=docker-host
        fi
        usermod --append --groups "$group" "$user"
        echo "dockercourse: $user uses $sock through group $group (gid $gid)" >&2
    fi
    exec setpriv --reuid="$user" --regid="$user" --init-groups "$@"
fi

if [ -S "$sock" ] && ! { [ -r "$sock" ] && [ -w "$sock" ]; }; then
    echo "dockercourse: $sock est monté mais inaccessible pour $(id -un) ; relancez docker run avec --user root" \
         "(l'image donnera alors le socket à $user et redescendra à l'uid 1000)." >&2
fi
exec "$@"
