#!/bin/sh
# The guest's runner, the same in both configurations (argument: "systemd" or "plain"):
# mounts the run's share (9p: the course as a tar, the job, and where the outputs go) and the
# host's cache (9p, read-only: the base image's `docker save`), unpacks the course, runs the
# guest step of benchmarks/cgroup_v2_vm.py, then powers the VM off.
CONFIG=${1:-unknown}
export PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export LANG=C.UTF-8 DOCKERCOURSE_STATE=/srv/state PYTHONDONTWRITEBYTECODE=1
echo "DCVM: runner started ($CONFIG, uptime $(cut -d' ' -f1 /proc/uptime) s)"
modprobe -a 9p 9pnet_virtio loop overlay br_netfilter veth tun 2>/dev/null
mkdir -p /mnt/share /mnt/cache
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 dcshare /mnt/share || echo "DCVM: no share"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,ro dccache /mnt/cache || echo "DCVM: no cache"
rm -rf /srv/course && mkdir -p /srv/course /srv/state
tar -xf /mnt/share/course.tar -C /srv/course
python3 -m compileall -q -j 2 /srv/course/src /srv/course/tests/utils >/dev/null 2>&1
echo "DCVM: course unpacked (uptime $(cut -d' ' -f1 /proc/uptime) s)"
/opt/venv/bin/python /srv/course/benchmarks/cgroup_v2_vm.py guest --config "$CONFIG" --share /mnt/share \
    2>&1 | tee /mnt/share/guest.log
echo "DCVM-DONE config=$CONFIG uptime=$(cut -d' ' -f1 /proc/uptime)"
sync
umount /mnt/share /mnt/cache 2>/dev/null
echo o > /proc/sysrq-trigger
sleep 60
