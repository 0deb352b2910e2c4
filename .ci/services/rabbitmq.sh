#!/usr/bin/env bash
# RabbitMQ for the suite: AMQP on 127.0.0.1, no plugins, its own Erlang port mapper.
source "$(dirname "$0")/lib.sh"

port=$WEIR_TEST_AMQP_PORT
dir=$STATE/rabbitmq
bin=/usr/lib/rabbitmq/bin
reuse_running "$port" RabbitMQ
# Debian's /usr/sbin wrappers switch to the rabbitmq user and log under /var/log: call the real scripts.
[ -x "$bin/rabbitmq-server" ] || { say "RabbitMQ not found (apt-get install rabbitmq-server)"; exit 1; }

export HOME=$dir  # the Erlang cookie lives in $HOME
export RABBITMQ_NODENAME=weir-test@localhost
export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT=$port
export RABBITMQ_DIST_PORT=$((port + 1)) ERL_EPMD_PORT=$((port + 2)) ERL_EPMD_ADDRESS=127.0.0.1
export RABBITMQ_MNESIA_BASE=$dir/mnesia RABBITMQ_LOG_BASE=$dir/log RABBITMQ_PID_FILE=$dir/rabbitmq.pid
export RABBITMQ_CONFIG_FILE=$dir/rabbitmq RABBITMQ_ENABLED_PLUGINS_FILE=$dir/enabled_plugins
# Erlang distribution on loopback too, not on every interface.
export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
export RABBITMQ_DEFAULT_USER=$WEIR_TEST_AMQP_USER RABBITMQ_DEFAULT_PASS=$WEIR_TEST_AMQP_PASSWORD

kill_pidfile "$dir/rabbitmq.pid"
rm -rf "$dir"
mkdir -p "$dir/log"
echo '[].' >"$RABBITMQ_ENABLED_PLUGINS_FILE"
cat >"$dir/rabbitmq.conf" <<CONF
loopback_users = none
log.console = false
log.file.level = warning
CONF
setsid "$bin/rabbitmq-server" </dev/null >"$dir/log/startup.log" 2>&1 &
wait_for "$port" RabbitMQ "$dir/log/startup.log" 120
say "RabbitMQ on 127.0.0.1:$port (data in $dir)"
