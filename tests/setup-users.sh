#!/bin/bash
# The unprivileged users the rootless tests run as (idempotent, as root):
#   vcetest       with a subordinate id range in /etc/subuid and /etc/subgid
#   vcetest-nosub without one, as on a lab PC nobody configured
# Also /dev/net/tun and /dev/fuse 0666 (Debian's defaults; this machine has
# 0600), which rootless networking (pasta, slirp4netns) and fuse-overlayfs
# need.
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "setup-users.sh: run as root" >&2; exit 1; }
for user in vcetest vcetest-nosub; do
	id "$user" >/dev/null 2>&1 || useradd --create-home --shell /bin/bash "$user"
done
grep -q '^vcetest:' /etc/subuid || usermod --add-subuids 400000-465535 vcetest
grep -q '^vcetest:' /etc/subgid || usermod --add-subgids 400000-465535 vcetest
sed -i '/^vcetest-nosub:/d' /etc/subuid /etc/subgid
[ -c /dev/net/tun ] && chmod 0666 /dev/net/tun
[ -c /dev/fuse ] && chmod 0666 /dev/fuse
exit 0
