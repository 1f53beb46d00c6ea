#!/bin/sh
# Records each start in /data/starts, then serves /www on port 8080 until stopped; /health is
# there (200) while the option `healthy` is true, and missing (404) otherwise.
trap 'exit 0' TERM INT
date +%s >> /data/starts
mkdir -p /www
if grep -q '"healthy"[[:space:]]*:[[:space:]]*true' /data/options.json; then
    echo ok > /www/health
fi
httpd -f -p 8080 -h /www &
server=$!
trap 'kill $server; exit 0' TERM INT
echo "health: serving on port 8080"
wait $server
