#!/bin/bash
# As Jupyter docker-stacks' start.sh + start-notebook.sh do it. Started as
# root: jovyan becomes NB_UID:NB_GID (NB_GID's group made if missing), the
# home is given to them with CHOWN_HOME=yes (and CHOWN_EXTRA), and the
# server runs as them through sudo. Started as another uid: run as that,
# with a passwd entry added when there is none.
set -e
NB_USER=${NB_USER:-jovyan}
NB_UID=${NB_UID:-1000}
NB_GID=${NB_GID:-100}
if [ "$(id -u)" = 0 ]; then
	if ! getent group "$NB_GID" >/dev/null; then
		groupadd --force --non-unique --gid "$NB_GID" "${NB_GROUP:-$NB_USER}"
	fi
	if [ "$NB_GID" != "$(id -g jovyan)" ]; then
		usermod --gid "$NB_GID" jovyan
	fi
	if [ "$NB_UID" != "$(id -u jovyan)" ]; then
		usermod --non-unique --uid "$NB_UID" jovyan
	fi
	if [ "$CHOWN_HOME" = yes ]; then
		echo "start-notebook.sh: giving /home/jovyan to $NB_UID:$NB_GID"
		chown -R "$NB_UID:$NB_GID" /home/jovyan
	fi
	for extra in ${CHOWN_EXTRA//,/ }; do
		chown -R "$NB_UID:$NB_GID" "$extra"
	done
	exec sudo --preserve-env --set-home --user jovyan PATH="$PATH" "$0" "$@"
fi
if ! whoami >/dev/null 2>&1 && [ -w /etc/passwd ]; then
	echo "$NB_USER:x:$(id -u):$(id -g)::/home/jovyan:/bin/bash" >>/etc/passwd
fi
args=(--ip=0.0.0.0 --port=8888 --no-browser)
if [ -n "$JUPYTER_TOKEN" ]; then
	args+=(--NotebookApp.token="$JUPYTER_TOKEN")
fi
exec jupyter-notebook "${args[@]}" "$@"
