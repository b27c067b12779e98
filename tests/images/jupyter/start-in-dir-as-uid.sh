#!/bin/bash
# nbhosting's contract (one image per course, one container per student):
# started as root, `start-in-dir-as-uid.sh DIR UID CMD...` makes a user
# for UID if there is none, gives what DIR holds on its own filesystem to
# UID, and runs CMD as that user in DIR with HOME=/home/jovyan.
set -e
if [ $# -lt 3 ] || [ "$(id -u)" != 0 ]; then
	echo "usage (as root): start-in-dir-as-uid.sh DIR UID CMD..." >&2
	exit 2
fi
dir=$1 uid=$2
shift 2
if ! getent passwd "$uid" >/dev/null; then
	useradd --no-create-home --home-dir /home/jovyan --no-user-group --gid 100 \
		--uid "$uid" --shell /bin/bash "student$uid"
fi
user=$(getent passwd "$uid" | cut -d: -f1)
find "$dir" -xdev -exec chown "$uid" {} +
cd "$dir"
exec runuser -u "$user" -- env HOME=/home/jovyan "$@"
