#!/bin/sh
# Logs the options it was started with and idles until stopped.
trap 'exit 0' TERM INT
echo "schema_all: options $(cat /data/options.json)"
while :; do sleep 3600 & wait $!; done
