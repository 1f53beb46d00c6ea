#!/usr/bin/env bash
# Builds the release binaries and installs them with the plugins' image recipes, the host
# packages the recipes name, and the systemd unit. Run as root from the project root:
# deploy/install.sh
set -euo pipefail
cd "$(dirname "$0")/.."

# The plugin programs are the workspace's packages under plugins/ (plugin-dns, ...).
packages=(-p daemon -p cli)
programs=(supervisor ha)
for manifest in plugins/*/Cargo.toml; do
    [ -e "$manifest" ] || continue
    name="plugin-$(basename "$(dirname "$manifest")")"
    packages+=(-p "$name")
    programs+=("$name")
done
cargo build --release "${packages[@]}"
for program in "${programs[@]}"; do
    install -m 0755 "target/release/$program" "/usr/local/bin/$program"
done

# The recipes the supervisor makes the plugins' images from when it can't pull them: found at
# <dir of the executable>/../share/supervisor/plugins.
rm -rf /usr/local/share/supervisor/plugins
install -d -m 0755 /usr/local/share/supervisor
cp -a plugins /usr/local/share/supervisor/plugins
host_packages=$(sed -n 's/^host_packages: *\[\(.*\)\].*/\1/p' plugins/*/image.yaml | tr ',' ' ')
if [ -n "${host_packages// /}" ]; then
    # shellcheck disable=SC2086
    apt-get install -y --no-install-recommends $host_packages
fi

install -m 0644 deploy/supervisor.service /etc/systemd/system/supervisor.service
install -d -m 0755 /usr/local/share/doc/supervisor
install -m 0644 README.md /usr/local/share/doc/supervisor/README.md
systemctl daemon-reload
systemctl enable --now supervisor.service
echo "supervisor installed; try: ha info"
