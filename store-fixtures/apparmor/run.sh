#!/bin/sh
# Records each start in /data/starts and idles until stopped.
trap 'exit 0' TERM INT
date +%s >> /data/starts
echo "apparmor: running"
while :; do sleep 3600 & wait $!; done
