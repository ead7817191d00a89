#!/bin/busybox sh
# PID 1 of the course's tiny QEMU guest (dockercourse.vm): says when it is up, its kernel and
# its memory, on the serial console, then powers off. The markers that dockercourse.vm reads are
# put in place of the at-sign names by dockercourse.vm.init_script().
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
read up idle < /proc/uptime
echo "@READY@ uptime=$up"
echo "@UNAME@$(uname -r)"
total=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)
avail=$(awk '/^MemAvailable:/ {print $2}' /proc/meminfo)
echo "@MEM@ total_kb=$total available_kb=$avail"
poweroff -f
