#!/bin/sh
# Start a Debian root's containerd + dockerd (the course's current-engine lane).
#
# Run by dockercourse.currentengine as
#     unshare -m --propagation private sh current_engine.sh ROOT STATE BRIDGE CIDR
# i.e. already in a private mount namespace: nothing mounted here is seen by the host, and
# everything disappears with the namespace's last process. A plain chroot is not enough
# (`docker exec` into a container with a WORKDIR fails), hence pivot_root.
#
# STATE holds the engine's own folders, bound over the root's:
#   run/        -> /run                 sockets and pid files (the host reaches run/docker.sock)
#   docker/     -> /var/lib/docker      data root of this image store only
#   containerd/ -> /var/lib/containerd
#   etc/        -> /etc/docker          daemon.json
# dockerd's own output goes to this script's stdout, containerd's to run/containerd.log.
set -eu
root=$1 state=$2 bridge=$3 cidr=$4

mount --bind "$root" "$root"
mount -t proc proc "$root/proc"
mount --rbind /sys "$root/sys"
mount --rbind /dev "$root/dev"
mount -t tmpfs -o mode=1777 tmpfs "$root/tmp"
mount --bind "$state/run" "$root/run"
mount --bind "$state/docker" "$root/var/lib/docker"
mount --bind "$state/containerd" "$root/var/lib/containerd"
mount --bind "$state/etc" "$root/etc/docker"

cd "$root"
pivot_root . .oldroot
cd /
umount -l /.oldroot

export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# Our own bridge (dockerd only creates docker0 itself); the network namespace is the host's.
ip link show "$bridge" >/dev/null 2>&1 || ip link add "$bridge" type bridge
ip addr replace "$cidr" dev "$bridge"
ip link set "$bridge" up

containerd >/run/containerd.log 2>&1 &
exec dockerd
