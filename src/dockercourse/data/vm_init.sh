#!/bin/busybox sh
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
