#!/usr/bin/env bash
# MariaDB for the suite: root without a password on 127.0.0.1 (TCP only), the `test` database.
source "$(dirname "$0")/lib.sh"

port=$WEIR_TEST_MARIADB_PORT
dir=$STATE/mariadb
reuse_running "$port" MariaDB
command -v mariadbd >/dev/null || PATH=$PATH:/usr/sbin
command -v mariadbd >/dev/null || { say "mariadbd not found (apt-get install mariadb-server)"; exit 1; }

kill_pidfile "$dir/mariadbd.pid"
rm -rf "$dir"
mkdir -p "$dir"
user=$(id -un)
# --no-defaults: nothing from /etc/mysql, whose socket and datadir belong to a system server.
mariadb-install-db --no-defaults --datadir="$dir/data" --user="$user" \
  --auth-root-authentication-method=normal --skip-test-db >"$dir/install.log" 2>&1 \
  || { tail -n 20 "$dir/install.log" >&2; exit 1; }
setsid mariadbd --no-defaults --datadir="$dir/data" --user="$user" \
  --bind-address=127.0.0.1 --port="$port" --socket="$dir/mariadb.sock" \
  --pid-file="$dir/mariadbd.pid" --log-error="$dir/mariadb.log" \
  --skip-name-resolve --innodb-flush-log-at-trx-commit=0 --max-connections=300 \
  </dev/null >/dev/null 2>&1 &
wait_for "$port" MariaDB "$dir/mariadb.log"
# With --skip-name-resolve a TCP client from 127.0.0.1 is not 'localhost': give it its account.
mariadb --no-defaults --socket="$dir/mariadb.sock" -u root <<SQL
CREATE USER IF NOT EXISTS '$WEIR_TEST_MARIADB_USER'@'127.0.0.1' IDENTIFIED BY '$WEIR_TEST_MARIADB_PASSWORD';
GRANT ALL PRIVILEGES ON *.* TO '$WEIR_TEST_MARIADB_USER'@'127.0.0.1' WITH GRANT OPTION;
CREATE DATABASE IF NOT EXISTS \`$WEIR_TEST_MARIADB_DATABASE\`;
SQL
say "MariaDB on 127.0.0.1:$port (data in $dir)"
