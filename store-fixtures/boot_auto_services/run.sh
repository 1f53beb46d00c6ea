#!/bin/sh
# Records the start and idles until stopped.
trap 'exit 0' TERM INT
echo "boot_auto_services: started"
date +%s >> /data/starts
while :; do sleep 3600 & wait $!; done
