#!/bin/sh
# Records the start and idles until stopped.
trap 'exit 0' TERM INT
echo "build_local: started, version $(cat /fixture-version), build arg $(cat /fixture-arg)"
date +%s >> /data/starts
while :; do sleep 3600 & wait $!; done
