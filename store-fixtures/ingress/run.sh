#!/bin/sh
# Serves /www on the ingress port until stopped: the port the supervisor names in
# /addons/self/info (picked for it when the config says `ingress_port: 0`), as bashio reads it.
trap 'exit 0' TERM INT
info=$(timeout 30 wget -q -O- --header "Authorization: Bearer $SUPERVISOR_TOKEN" http://supervisor/addons/self/info)
port=$(echo "$info" | sed -n 's/.*"ingress_port":\([0-9][0-9]*\).*/\1/p')
port=${port:-8099}
httpd -f -v -p "$port" -h /www &
server=$!
trap 'kill $server; exit 0' TERM INT
echo "ingress: serving /www on port $port"
wait $server
