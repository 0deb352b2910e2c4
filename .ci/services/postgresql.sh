#!/usr/bin/env bash
# PostgreSQL for the suite: trust auth on 127.0.0.1, the `test` database, fsync off.
source "$(dirname "$0")/lib.sh"

port=$WEIR_TEST_PG_PORT
dir=$STATE/postgresql
reuse_running "$port" PostgreSQL

bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
[ -x "$bin/initdb" ] || { say "PostgreSQL server binaries not found (apt-get install postgresql)"; exit 1; }
SERVICE_USER=postgres

[ -f "$dir/data/postmaster.pid" ] && kill_pidfile "$dir/data/postmaster.pid"
rm -rf "$dir"
mkdir -p "$dir/run"
[ "$(id -u)" = 0 ] && chown -R postgres: "$dir"
as_service_user "$bin/initdb" --pgdata="$dir/data" --username="$WEIR_TEST_PG_USER" \
  --auth=trust --no-sync --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
  || { tail -n 20 "$dir/initdb.log" >&2; exit 1; }
as_service_user "$bin/pg_ctl" --pgdata="$dir/data" --log="$dir/postgresql.log" --silent \
  -o "-c listen_addresses=127.0.0.1 -p $port -k $dir/run -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
  start
wait_for "$port" PostgreSQL "$dir/postgresql.log"
as_service_user "$bin/psql" -q -h 127.0.0.1 -p "$port" -U "$WEIR_TEST_PG_USER" -d postgres \
  -c "CREATE DATABASE $WEIR_TEST_PG_DATABASE" >/dev/null
say "PostgreSQL on 127.0.0.1:$port (data in $dir)"
