#!/bin/sh
# Appends every line read on stdin to /data/stdin.log; idles once stdin is closed.
trap 'exit 0' TERM INT
echo "stdin_reader: reading stdin"
while IFS= read -r line; do
    echo "$line" >> /data/stdin.log
done
echo "stdin_reader: stdin closed"
while :; do sleep 3600 & wait $!; done
