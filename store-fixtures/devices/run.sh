#!/bin/sh
# Twice a second, writes /data/devices: one line per character device node under /dev (links
# followed, /dev/null left out), `<path> open` when the add-on may open it, `<path> denied` when
# its device cgroup refuses. A node of a device the kernel lacks still counts as open: the error
# then is the kernel's ("No such device"), not the cgroup's ("Operation not permitted").
trap 'exit 0' TERM INT
echo "devices: running"
while :; do
    : > /data/devices.tmp
    for node in $(find /dev -maxdepth 4 \( -name shm -o -name pts \) -prune -o -print 2>/dev/null); do
        [ -c "$node" ] && [ "$node" != /dev/null ] || continue
        if (exec 3<"$node") 2>&1 | grep -q "not permitted"; then
            echo "$node denied" >> /data/devices.tmp
        else
            echo "$node open" >> /data/devices.tmp
        fi
    done
    mv /data/devices.tmp /data/devices
    sleep 0.5 & wait $!
done
