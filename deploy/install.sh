#!/usr/bin/env bash
# Builds the release binaries and installs them with the systemd unit. Run as root from the
# project root: deploy/install.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p daemon -p cli
install -m 0755 target/release/supervisor /usr/local/bin/supervisor
install -m 0755 target/release/ha /usr/local/bin/ha
install -m 0644 deploy/supervisor.service /etc/systemd/system/supervisor.service
install -d -m 0755 /usr/local/share/doc/supervisor
install -m 0644 README.md /usr/local/share/doc/supervisor/README.md
systemctl daemon-reload
systemctl enable --now supervisor.service
echo "supervisor installed; try: ha info"
