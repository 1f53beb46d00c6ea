#!/bin/sh
# Records each start in /data/starts, then exits with status 3 at once when the option `crash`
# is true, or after `crash_after` seconds when that is above 0; else idles until stopped.
trap 'exit 0' TERM INT
date +%s >> /data/starts
options=$(cat /data/options.json)
if echo "$options" | grep -q '"crash"[[:space:]]*:[[:space:]]*true'; then
    echo "crasher: crashing now"
    exit 3
fi
after=$(echo "$options" | sed -n 's/.*"crash_after"[[:space:]]*:[[:space:]]*\([0-9][0-9]*\).*/\1/p')
if [ "${after:-0}" -gt 0 ]; then
    echo "crasher: crashing in $after seconds"
    sleep "$after" & wait $!
    echo "crasher: crashing now"
    exit 3
fi
echo "crasher: running"
while :; do sleep 3600 & wait $!; done
