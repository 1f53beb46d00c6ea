#!/bin/sh
# Serves /www on the ingress port until stopped.
httpd -f -v -p 8099 -h /www &
server=$!
trap 'kill $server; exit 0' TERM INT
echo "ingress: serving /www on port 8099"
wait $server
