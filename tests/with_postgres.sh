#!/usr/bin/env bash
# Run a command with a throwaway PostgreSQL server and EVEDGE_TEST_POSTGRES pointing at it:
# `make test-postgres` runs the suite this way (docs/architecture.md §7: the same models on
# PostgreSQL). Needs PostgreSQL's server binaries (Debian: apt-get install postgresql).
set -euo pipefail
bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
if [ ! -x "$bindir/initdb" ]; then
  echo "PostgreSQL server binaries not found (apt-get install postgresql)" >&2
  exit 2
fi
dir=$(mktemp -d /tmp/evedge-pg.XXXXXX)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
as_owner=()
if [ "$(id -u)" = 0 ]; then  # initdb refuses to run as root
  chown postgres "$dir"
  as_owner=(runuser -u postgres --)
fi
"${as_owner[@]}" "$bindir/initdb" -D "$dir/data" -A trust -U postgres >/dev/null
# fsync off: a test server, thrown away afterwards (durability is tested on SQLite).
"${as_owner[@]}" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
  -o "-p $port -k $dir -c fsync=off -c max_connections=200" start >/dev/null
trap '"${as_owner[@]}" "$bindir/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null; rm -rf "$dir"' EXIT
EVEDGE_TEST_POSTGRES="postgresql://postgres@127.0.0.1:$port/postgres" "$@"
