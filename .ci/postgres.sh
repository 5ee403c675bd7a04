#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests: a fresh cluster in DIR, listening only on a
# unix socket inside DIR (no TCP port at all), trusting local connections, tuned for speed
# (fsync off: the data is thrown away).
#
#   .ci/postgres.sh start DIR   prints the URL to put in PMCARDS_TEST_DB
#   .ci/postgres.sh stop DIR    stops the server (DIR is left for the caller to remove)
#
# Uses Debian's server binaries (apt-get install postgresql); as root, the server runs as
# the `postgres` user, since PostgreSQL refuses to run as root.
set -euo pipefail
cmd=${1:?usage: postgres.sh start|stop DIR}
dir=${2:?usage: postgres.sh start|stop DIR}

bin=""
for candidate in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
  if [ -x "$candidate/pg_ctl" ]; then bin=$candidate; break; fi
done
if [ -z "$bin" ]; then
  bin=$(dirname "$(command -v pg_ctl || true)")
fi
if [ ! -x "$bin/pg_ctl" ]; then
  echo "postgres.sh: no PostgreSQL server binaries (apt-get install postgresql)" >&2
  exit 1
fi

as_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

case "$cmd" in
  start)
    mkdir -p "$dir"
    if [ "$(id -u)" = 0 ]; then chown postgres: "$dir"; fi
    as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 \
      >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start -o \
      "-c listen_addresses='' -c unix_socket_directories='$dir' -c port=5432 \
       -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
       -c max_connections=200" >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
    echo "postgresql+psycopg://postgres@/postgres?host=$dir"
    ;;
  stop)
    if [ -f "$dir/data/postmaster.pid" ]; then
      as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
    fi
    ;;
  *)
    echo "usage: postgres.sh start|stop DIR" >&2
    exit 2
    ;;
esac
