#!/usr/bin/env bash
# Redis and the Kafka broker of the local stack.
# Sourced by ops/stack.sh, which defines the paths and helpers used here; not run on its own.
# shellcheck shell=bash

# --- (e) Redis -------------------------------------------------------------------------------

redis_start() {
    local pid deadline
    if pid=$(daemon_pid redis redis-server); then
        log "redis already running (pid $pid)"
        return 0
    fi
    ensure_port_free 6379 redis
    mkdir -p "$STACK_DIR/redis"
    log "starting redis"
    # Append-only, because Redis is the Celery broker: a restart must not lose queued tasks.
    # The outer redirection catches what redis-server prints before it opens its own log.
    # shellcheck disable=SC2094
    (
        close_extra_fds
        exec redis-server --bind 127.0.0.1 --port 6379 --daemonize yes \
            --dir "$STACK_DIR/redis" --pidfile "$RUN_DIR/redis.pid" \
            --logfile "$LOG_DIR/redis.log" --appendonly yes --save ''
    ) </dev/null >>"$LOG_DIR/redis.log" 2>&1 || {
        show_log_tail "$LOG_DIR/redis.log"
        die "redis-server failed to start"
    }
    deadline=$((SECONDS + 30))
    until [[ $(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null) == PONG ]]; do
        if ((SECONDS >= deadline)); then
            show_log_tail "$LOG_DIR/redis.log"
            die "redis did not answer PING within 30s"
        fi
        sleep 0.2
    done
}

redis_stop() { stop_daemon redis redis-server 30 6379; }

# --- (f) Kafka -------------------------------------------------------------------------------

kafka_java() {
    java -Dlog4j2.configurationFile="$KAFKA_HOME/log4j2.properties" -cp "$KAFKA_HOME/libs/*" "$@"
}

kafka_start() {
    local pid props=$KAFKA_DIR/server.properties template rendered cluster_id
    if pid=$(daemon_pid kafka kafka.Kafka); then
        log "kafka already running (pid $pid)"
        session_nice "$pid" "$BACKGROUND_NICE"
        return 0
    fi
    ensure_kafka_jars
    ensure_port_free 9092 kafka
    ensure_port_free 9093 kafka
    mkdir -p "$KAFKA_DIR/data"
    template=$(<"$KAFKA_HOME/server.properties.in")
    rendered=${template//@DATA_DIR@/"$KAFKA_DIR/data"}
    if [[ ! -f $props || $(<"$props") != "$rendered" ]]; then
        printf '%s\n' "$rendered" >"$props"
    fi
    if [[ ! -f $KAFKA_DIR/data/meta.properties ]]; then
        log "formatting Kafka storage in $KAFKA_DIR/data"
        cluster_id=$(kafka_java kafka.tools.StorageTool random-uuid | tail -n 1)
        kafka_java kafka.tools.StorageTool format -t "$cluster_id" -c "$props" \
            </dev/null >>"$LOG_DIR/kafka.log" 2>&1 || {
            show_log_tail "$LOG_DIR/kafka.log"
            die "formatting Kafka storage failed"
        }
    fi
    # Only the relay and the bridge talk to Kafka, and both run behind the API (ops/stack_apps.sh,
    # BACKGROUND_NICE, ops/cpu_groups.sh): the broker that serves them does too.
    START_CPU_GROUP=background start_daemon kafka kafka.Kafka \
        nice -n "$BACKGROUND_NICE" java -Xms256m -Xmx1g \
        -Dlog4j2.configurationFile="$KAFKA_HOME/log4j2.properties" \
        -cp "$KAFKA_HOME/libs/*" kafka.Kafka "$props"
    if ! wait_for_port 9092 60 "$STARTED_PID"; then
        show_log_tail "$LOG_DIR/kafka.log"
        die "Kafka did not listen on 9092 within 60s"
    fi
    session_nice "$STARTED_PID" "$BACKGROUND_NICE"
}

# A controlled shutdown of a single KRaft node takes a few seconds; 60 s before SIGKILL.
kafka_stop() { stop_daemon kafka kafka.Kafka 60 9092 9093; }
