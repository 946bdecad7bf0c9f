#!/usr/bin/env bash
# A throw-away PostgreSQL server on 127.0.0.1 for the tests (CI and development).
#
#   scripts/postgres_sandbox.sh start DIR   # prints the server URL (TEST_DATABASE_URL)
#   scripts/postgres_sandbox.sh stop DIR    # stops it and deletes DIR
#
# Installs PostgreSQL from the Debian packages when no server binaries are found. initdb
# refuses to run as root, so as root the cluster belongs to the `postgres` user the package
# creates. Durability is off (fsync, full-page writes): the data is thrown away anyway.
set -euo pipefail

command=${1:?start or stop}
dir=${2:?a directory for the cluster}

bin_dir() {
    local found
    found=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    if [[ -z "$found" ]] && command -v pg_config >/dev/null; then
        found=$(pg_config --bindir)
    fi
    echo "$found"
}

as_owner() {
    if [[ $EUID -eq 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

case "$command" in
start)
    bin=$(bin_dir)
    if [[ -z "$bin" || ! -x "$bin/initdb" ]]; then
        echo "installing PostgreSQL from the Debian packages" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >&2
        apt-get install -y -qq postgresql >&2
        bin=$(bin_dir)
    fi
    mkdir -p "$dir"
    if [[ $EUID -eq 0 ]]; then
        chown postgres "$dir"
    fi
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    as_owner "$bin/initdb" -D "$dir/data" -A trust -U postgres --no-sync -E UTF8 >"$dir/initdb.log" 2>&1
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-h 127.0.0.1 -p $port -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=500" \
        start >&2
    echo "postgresql://postgres@127.0.0.1:$port/postgres"
    ;;
stop)
    bin=$(bin_dir)
    if [[ -d "$dir/data" ]]; then
        as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate stop >&2 || true
    fi
    rm -rf "$dir"
    ;;
*)
    echo "usage: $0 start|stop DIR" >&2
    exit 2
    ;;
esac
