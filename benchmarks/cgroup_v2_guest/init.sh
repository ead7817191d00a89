#!/bin/sh
# PID 1 of the cgroup v2 guest *without* systemd (benchmarks/cgroup_v2_vm.py, config "plain"):
# what a server without systemd (OpenRC, a container host, WSL) has. The root filesystem is the
# same as the systemd configuration's; only PID 1 differs, so /run/systemd/system never exists.
# It mounts what systemd would, cgroup v2 as OpenRC's "unified" mode does (nsdelegate), then
# hands over to tini, which reaps orphans as any real init does, and runs the common runner.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
mountpoint -q /proc || mount -t proc proc /proc
mountpoint -q /sys || mount -t sysfs sysfs /sys
mountpoint -q /dev || mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mountpoint -q /dev/pts || mount -t devpts -o gid=5,mode=620 devpts /dev/pts
mountpoint -q /dev/shm || mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /dev/shm
mountpoint -q /sys/fs/cgroup || mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup
mount -o remount,rw /
mountpoint -q /run || mount -t tmpfs -o mode=755,nosuid,nodev tmpfs /run
mkdir -p /run/lock
mountpoint -q /tmp || mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /tmp
hostname dcgrade-vm
ip link set lo up
exec /usr/bin/tini -s -- /usr/local/sbin/dc-guest-run plain
