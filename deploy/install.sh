#!/usr/bin/env bash
# Installs the supervisor as a systemd service, or removes it. Run as root from the project root:
#   deploy/install.sh              build (with Cargo.lock's versions) and install, then start
#   deploy/install.sh --uninstall  stop and remove what the install put in place; the data
#                                  directory /var/lib/supervisor is kept (remove it yourself)
set -euo pipefail
cd "$(dirname "$0")/.."

prefix=/usr/local
unit=/etc/systemd/system/supervisor.service
completions=(
    "/usr/share/bash-completion/completions/ha"
    "/usr/share/zsh/vendor-completions/_ha"
    "/usr/share/fish/vendor_completions.d/ha.fish"
)

# The plugin programs are the workspace's packages under plugins/ (plugin-dns, ...).
packages=(-p daemon -p cli)
programs=(supervisor ha)
for manifest in plugins/*/Cargo.toml; do
    [ -e "$manifest" ] || continue
    name="plugin-$(basename "$(dirname "$manifest")")"
    packages+=(-p "$name")
    programs+=("$name")
done

if [ "${1:-}" = "--uninstall" ]; then
    systemctl disable --now supervisor.service 2>/dev/null || true
    rm -f "$unit"
    systemctl daemon-reload
    for program in "${programs[@]}"; do
        rm -f "$prefix/bin/$program"
    done
    rm -rf "$prefix/share/supervisor" "$prefix/share/doc/supervisor"
    rm -f "${completions[@]}"
    echo "supervisor removed; its data is still in /var/lib/supervisor"
    exit 0
fi

cargo build --release --locked "${packages[@]}"
for program in "${programs[@]}"; do
    install -m 0755 "target/release/$program" "$prefix/bin/$program"
done

# The recipes the supervisor makes the plugins' images from when it can't pull them: found at
# <dir of the executable>/../share/supervisor/plugins.
rm -rf "$prefix/share/supervisor/plugins"
install -d -m 0755 "$prefix/share/supervisor"
cp -a plugins "$prefix/share/supervisor/plugins"
host_packages=$(sed -n 's/^host_packages: *\[\(.*\)\].*/\1/p' plugins/*/image.yaml | tr ',' ' ')
# git clones the add-on repositories, apparmor_parser loads add-ons' own profiles; the rest are
# the plugins' host packages.
# shellcheck disable=SC2086
apt-get install -y --no-install-recommends git ca-certificates apparmor $host_packages

# Shell completions of `ha`, where each shell looks for them.
"$prefix/bin/ha" completion bash | install -D -m 0644 /dev/stdin "${completions[0]}"
"$prefix/bin/ha" completion zsh | install -D -m 0644 /dev/stdin "${completions[1]}"
"$prefix/bin/ha" completion fish | install -D -m 0644 /dev/stdin "${completions[2]}"

install -m 0644 deploy/supervisor.service "$unit"
install -d -m 0755 "$prefix/share/doc/supervisor"
install -m 0644 README.md "$prefix/share/doc/supervisor/README.md"
systemctl daemon-reload
systemctl enable --now supervisor.service
echo "supervisor installed; try: ha info"
