#!/bin/sh
# Calls the supervisor API as an add-on with role `default`. /data/results appears when every
# call is done: one line `<name> <HTTP status>` per call (`none` without an answer); the body of
# each successful answer is in /data/<name>.body. (`wget -T` crashes this busybox: `timeout`.)
trap 'exit 0' TERM INT
API=http://supervisor
OUT=/data/results.tmp
rm -f /data/results
: > "$OUT"

# call NAME TOKEN URL [wget options...]
call() {
    name=$1 token=$2 url=$3
    shift 3
    if [ -n "$token" ]; then
        set -- --header "Authorization: Bearer $token" "$@"
    fi
    headers=$(timeout 30 wget -S -q -O "/data/$name.body" "$@" "$url" 2>&1)
    status=$(echo "$headers" | sed -n 's|^ *HTTP/[0-9.]* \([0-9][0-9][0-9]\).*|\1|p' | tail -n 1)
    echo "$name ${status:-none}" >> "$OUT"
}

call info "$SUPERVISOR_TOKEN" "$API/info"
call addons_self_info "$SUPERVISOR_TOKEN" "$API/addons/self/info"
call supervisor_options "$SUPERVISOR_TOKEN" "$API/supervisor/options" \
    --header "Content-Type: application/json" --post-data "{}"
call no_token "" "$API/supervisor/info"
mv "$OUT" /data/results
echo "api_client: $(tr '\n' ' ' < /data/results)"
while :; do sleep 3600 & wait $!; done
