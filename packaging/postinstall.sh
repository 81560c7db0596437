#!/bin/sh
# Create the service user and its state directory.
set -e
if ! getent passwd provision >/dev/null; then
	if command -v adduser >/dev/null 2>&1 && adduser --help 2>&1 | grep -q -- --system; then
		adduser --system --group --home /var/lib/provision --no-create-home provision >/dev/null
	else
		useradd --system --user-group --home-dir /var/lib/provision --shell /sbin/nologin provision
	fi
fi
install -d -m 0700 -o provision -g provision /var/lib/provision
install -d -m 0750 -o root -g provision /etc/provision
if command -v systemctl >/dev/null 2>&1; then systemctl daemon-reload >/dev/null 2>&1 || true; fi
