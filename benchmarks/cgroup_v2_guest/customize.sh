#!/bin/sh
# mmdebstrap customize hook of the cgroup v2 guest (benchmarks/cgroup_v2_vm.py), run as root on
# the host: $1 the root, $2 a uv binary, $3 the requirements file, $4 the CA bundle to trust,
# $5 uv's cache folder on the host, $6 this folder (the guest's files).
set -eu
ROOT=$1 UV=$2 REQS=$3 CA=$4 CACHE=$5 FILES=$6
install -m 755 "$FILES/init.sh" "$ROOT/usr/local/sbin/dc-init"
install -m 755 "$FILES/run.sh" "$ROOT/usr/local/sbin/dc-guest-run"
install -m 644 "$FILES/dc-harness.service" "$ROOT/etc/systemd/system/dc-harness.service"
mkdir -p "$ROOT/etc/systemd/system/multi-user.target.wants"
ln -sf /etc/systemd/system/dc-harness.service "$ROOT/etc/systemd/system/multi-user.target.wants/dc-harness.service"
for unit in serial-getty@ttyS0.service getty@tty1.service systemd-firstboot.service; do
    ln -sf /dev/null "$ROOT/etc/systemd/system/$unit"
done
echo dcgrade-vm > "$ROOT/etc/hostname"
printf '/dev/vda / ext4 rw,relatime 0 1\n' > "$ROOT/etc/fstab"
# a small initramfs: only what finds the root disk (the default, MODULES=most, is ~10x larger)
printf 'virtio_pci\nvirtio_blk\next4\n' >> "$ROOT/etc/initramfs-tools/modules"
printf 'MODULES=list\n' > "$ROOT/etc/initramfs-tools/conf.d/dcvm"
chroot "$ROOT" update-initramfs -u -k all
# the project's Python dependencies, from PyPI on the host side (the guest has no network)
chroot "$ROOT" python3 -m venv /opt/venv
mkdir -p "$ROOT/var/cache/uv" "$ROOT/tmp/dcvm"
cp "$UV" "$ROOT/tmp/dcvm/uv"
cp "$REQS" "$ROOT/tmp/dcvm/requirements.txt"
cp "$CA" "$ROOT/tmp/dcvm/ca.crt"
mount --bind "$CACHE" "$ROOT/var/cache/uv"
rc=0
chroot "$ROOT" env SSL_CERT_FILE=/tmp/dcvm/ca.crt UV_CACHE_DIR=/var/cache/uv UV_LINK_MODE=copy \
    /tmp/dcvm/uv pip install --python /opt/venv/bin/python --system-certs --compile-bytecode \
    -r /tmp/dcvm/requirements.txt || rc=$?
umount "$ROOT/var/cache/uv"
rm -rf "$ROOT/tmp/dcvm" "$ROOT/var/cache/uv"
[ "$rc" = 0 ] || exit "$rc"
site=$(chroot "$ROOT" /opt/venv/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
echo /srv/course/src > "$ROOT$site/dockercourse-course.pth"
