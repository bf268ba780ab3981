#!/usr/bin/env bash
# Runs the whole task service on this machine without Docker: PostgreSQL, Redis and Kafka as
# plain daemons, then the API, outbox relay, Kafka bridge, Celery worker, beat and Flower.
# Everything lives under .stack/ (data, pid files, logs); every subcommand is safe to repeat.
#
#   ops/stack.sh up | infra | down | status | venv
#   ops/stack.sh logs [-f] [NAME...]
#   ops/stack.sh start|stop|restart NAME
#
# NAME is one of: postgres replica redis kafka api relay bridge worker beat flower prometheus.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
STACK_DIR=$REPO/.stack
RUN_DIR=$STACK_DIR/run
LOG_DIR=$STACK_DIR/logs
VENV=$REPO/.venv
KAFKA_HOME=$REPO/ops/kafka
KAFKA_DIR=$STACK_DIR/kafka
PG_BIN=/usr/lib/postgresql/15/bin

# shellcheck source=ops/lib.sh
source "$REPO/ops/lib.sh"

INFRA=(postgres replica redis kafka)
APPS=(api relay bridge worker beat flower prometheus)

usage() {
    sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

# Port a component listens on, "-" for those that have none the script waits for.
component_port() {
    case $1 in
    postgres) echo 5432 ;;
    replica) echo 5433 ;;
    redis) echo 6379 ;;
    kafka) echo 9092 ;;
    api) echo 8080 ;;
    flower) echo 5555 ;;
    prometheus) echo 9090 ;;
    *) echo - ;;
    esac
}

# A string that the daemon's command line contains, to tell it from a reused pid.
component_pattern() {
    case $1 in
    redis) echo redis-server ;;
    kafka) echo kafka.Kafka ;;
    api) echo gunicorn ;;
    relay) echo webapp.relay ;;
    bridge) echo "-m bridge" ;;
    worker | beat | flower) echo "celery_tasks.app $1" ;;
    prometheus) echo "prometheus --config.file" ;;
    *) return 1 ;;
    esac
}

is_component() {
    local c
    for c in "${INFRA[@]}" "${APPS[@]}"; do
        [[ $c == "$1" ]] && return 0
    done
    return 1
}

# --- (a) Debian packages ---------------------------------------------------------------------

ensure_debian_packages() {
    local -a missing=()
    command -v redis-server >/dev/null || missing+=(redis-server)
    command -v redis-cli >/dev/null || missing+=(redis-tools)
    [[ -x $PG_BIN/initdb ]] || missing+=(postgresql-15)
    [[ -x $PG_BIN/psql ]] || missing+=(postgresql-client-15)
    command -v java >/dev/null || missing+=(openjdk-17-jdk-headless)
    command -v mvn >/dev/null || missing+=(maven)
    command -v curl >/dev/null || missing+=(curl)
    [[ -x /usr/bin/prometheus ]] || missing+=(prometheus)
    # The Flower browser test (tests/e2e/test_flower_browser.py) drives Debian's Chromium.
    [[ -x /usr/bin/chromium ]] || missing+=(chromium)
    [[ -x /usr/bin/chromedriver ]] || missing+=(chromium-driver)
    ((${#missing[@]} > 0)) || return 0
    ((EUID == 0)) || die "missing Debian packages (${missing[*]}); install them as root"

    log "installing Debian packages: ${missing[*]}"
    # The packages' maintainer scripts would start Debian's own PostgreSQL and Redis on the
    # ports this stack uses; a policy-rc.d that answers 101 forbids that during the install.
    local policy=/usr/sbin/policy-rc.d added_policy=
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod 755 "$policy"
        added_policy=1
    fi
    local rc=0
    DEBIAN_FRONTEND=noninteractive apt-get update -q &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" || rc=$?
    [[ -z $added_policy ]] || rm -f "$policy"
    ((rc == 0)) || die "apt-get failed (exit $rc)"
}

# --- (b) Python virtualenv -------------------------------------------------------------------

# The editable install maps only the top-level packages that existed when it ran, so the list
# of packages is part of the fingerprint besides the pinned requirements and pyproject.toml.
venv_fingerprint() {
    (
        cd "$REPO"
        sha256sum requirements/base.txt requirements/dev.txt pyproject.toml
        shopt -s nullglob
        printf '%s\n' ./*/__init__.py
    ) | sha256sum | cut -d' ' -f1
}

ensure_venv() {
    local stamp=$VENV/.stack-stamp want
    want=$(venv_fingerprint)
    if [[ -x $VENV/bin/python && -f $stamp && $(<"$stamp") == "$want" ]] &&
        "$VENV/bin/python" -c '' 2>/dev/null; then
        return 0
    fi
    if ! { [[ -x $VENV/bin/python ]] && "$VENV/bin/python" -c '' 2>/dev/null; }; then
        # A venv whose interpreter is gone (pyenv version removed) cannot be repaired in place.
        rm -rf "$VENV"
        log "creating virtualenv $VENV"
        "${PYTHON:-python3}" -m venv "$VENV"
    fi
    log "installing Python requirements into .venv"
    (
        cd "$REPO"
        "$VENV/bin/python" -m pip install -q -r requirements/base.txt -r requirements/dev.txt
        "$VENV/bin/python" -m pip install -q -e . --no-deps
    )
    printf '%s\n' "$want" >"$stamp"
}

# --- (c) Kafka jars --------------------------------------------------------------------------

ensure_kafka_jars() {
    local libs=$KAFKA_HOME/libs want
    want=$(sha256sum "$KAFKA_HOME/pom.xml" | cut -d' ' -f1)
    if [[ -f $libs/.stack-stamp && $(<"$libs/.stack-stamp") == "$want" ]]; then
        return 0
    fi
    log "fetching Kafka jars with Maven into ops/kafka/libs"
    # Start from an empty folder so jars of a previous Kafka version cannot shadow new ones.
    rm -rf "$libs"
    (cd "$KAFKA_HOME" && mvn -q -B dependency:copy-dependencies -DoutputDirectory=libs \
        -DincludeScope=runtime)
    printf '%s\n' "$want" >"$libs/.stack-stamp"
}

# --- (d) PostgreSQL --------------------------------------------------------------------------

# Sets PG_BASE (the real folder behind .stack/pg), PGDATA, PG_SOCK and PG_LOG.
pg_paths() {
    if [[ -e $STACK_DIR/pg ]]; then
        PG_BASE=$(readlink -f "$STACK_DIR/pg")
    else
        PG_BASE=$STACK_DIR/pg
    fi
    PGDATA=$PG_BASE/primary
    PG_SOCK=$PG_BASE/sock
    if [[ -L $STACK_DIR/pg ]]; then
        PG_LOG=$PG_BASE/postgres.log
    else
        PG_LOG=$LOG_DIR/postgres.log
    fi
}

# PostgreSQL refuses to run as root, so its files belong to the postgres user; cd / keeps
# runuser from complaining about a working directory that user cannot enter.
pg_as() { (cd / && runuser -u postgres -- "$@"); }

pg_prepare() {
    ((EUID == 0)) || die "run as root: PostgreSQL is started as the postgres user via runuser"
    [[ -x $PG_BIN/initdb ]] || die "PostgreSQL 15 is not installed (ops/stack.sh infra installs it)"
    if [[ ! -e $STACK_DIR/pg ]]; then
        local sock_file=$STACK_DIR/pg/sock/.s.PGSQL.5432.lock alt
        # A unix socket path is limited to 107 bytes, and a repo under /root (mode 700) cannot
        # be entered by the postgres user; both send the data to a folder outside the repo.
        if runuser -u postgres -- test -x "$STACK_DIR" && ((${#sock_file} <= 100)); then
            mkdir "$STACK_DIR/pg"
        else
            alt=/var/lib/taskservice/$(printf '%s' "$REPO" | sha256sum | cut -c1-12)
            mkdir -p "$alt"
            ln -s "$alt" "$STACK_DIR/pg"
            log "note: the postgres user cannot use $STACK_DIR, so PostgreSQL data lives in $alt (.stack/pg links there)"
        fi
    fi
    pg_paths
    mkdir -p "$PGDATA" "$PG_SOCK"
    chown postgres:postgres "$PG_BASE" "$PGDATA" "$PG_SOCK"
    chmod 700 "$PGDATA"
    touch "$PG_LOG"
    chown postgres:postgres "$PG_LOG"
    if [[ -L $STACK_DIR/pg ]]; then
        ln -sfn "$PG_LOG" "$LOG_DIR/postgres.log"
    fi
}

pg_pid() {
    local pid=
    [[ -r $PGDATA/postmaster.pid ]] || return 1
    read -r pid <"$PGDATA/postmaster.pid" || return 1
    proc_matches "$pid" postgres || return 1
    printf '%s\n' "$pid"
}

pg_initdb() {
    local -a opts=(-D "$PGDATA" --auth-local=trust --auth-host=scram-sha-256 -U postgres
        --encoding=UTF8)
    log "initialising PostgreSQL cluster in $PGDATA"
    # initdb empties the folder again when it fails, so the second try starts clean.
    if ! pg_as "$PG_BIN/initdb" "${opts[@]}" --locale=C.UTF-8 >>"$LOG_DIR/initdb.log" 2>&1; then
        warn "initdb with locale C.UTF-8 failed, retrying with locale C"
        pg_as "$PG_BIN/initdb" "${opts[@]}" --locale=C >>"$LOG_DIR/initdb.log" 2>&1 ||
            {
                show_log_tail "$LOG_DIR/initdb.log"
                die "initdb failed"
            }
    fi
}

# The stack's settings live in their own file, rewritten on every start, so postgresql.conf
# stays as initdb wrote it and ALTER SYSTEM (postgresql.auto.conf, read last) still wins.
pg_configure() {
    local conf=$PGDATA/stack.conf hba=$PGDATA/pg_hba.conf
    cat >"$conf" <<EOF
# Written by ops/stack.sh on every start: edit the script, not this file.
listen_addresses = '127.0.0.1'
port = 5432
unix_socket_directories = '$PG_SOCK'
max_connections = 300
wal_level = replica
max_wal_senders = 5
wal_keep_size = '1GB'
shared_buffers = '256MB'
EOF
    chown postgres:postgres "$conf"
    if ! grep -q "^include = 'stack.conf'" "$PGDATA/postgresql.conf"; then
        printf "\n# Settings of the local stack (ops/stack.sh).\ninclude = 'stack.conf'\n" \
            >>"$PGDATA/postgresql.conf"
    fi
    # initdb writes both lines for --auth-host; they are checked so an edited file still works.
    local line
    for line in "host all all 127.0.0.1/32 scram-sha-256" \
        "host replication all 127.0.0.1/32 scram-sha-256"; do
        if ! awk -v want="$line" '{ $1 = $1 } $0 == want { found = 1 } END { exit !found }' "$hba"; then
            printf '%s\n' "$line" >>"$hba"
        fi
    done
}

pg_start() {
    local pid
    pg_prepare
    if pid=$(pg_pid); then
        log "postgres already running (pid $pid)"
        return 0
    fi
    ensure_port_free 5432 postgres
    [[ -s $PGDATA/PG_VERSION ]] || pg_initdb
    pg_configure
    log "starting postgres"
    if ! (
        close_extra_fds
        pg_as "$PG_BIN/pg_ctl" -D "$PGDATA" -l "$PG_LOG" -w -t 60 start >/dev/null
    ); then
        show_log_tail "$PG_LOG"
        die "PostgreSQL did not start"
    fi
    wait_for_port 5432 30 || die "PostgreSQL started but does not listen on 5432"
}

pg_psql() {
    "$PG_BIN/psql" -h "$PG_SOCK" -p 5432 -U postgres -d postgres -v ON_ERROR_STOP=1 -qAtX "$@"
}

pg_ensure_role_db() {
    pg_psql <<'SQL'
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'tasks') THEN
        CREATE ROLE tasks LOGIN CREATEDB REPLICATION PASSWORD 'tasks';
    END IF;
END
$$;
SQL
    if [[ -z $(pg_psql -c "SELECT 1 FROM pg_database WHERE datname = 'tasks'") ]]; then
        log "creating database tasks"
        pg_psql -c "CREATE DATABASE tasks OWNER tasks"
    fi
}

pg_stop() {
    local pid
    pid=$(pg_pid) || return 0
    log "stopping postgres (pid $pid)"
    pg_as "$PG_BIN/pg_ctl" -D "$PGDATA" -m fast -w -t 60 stop >/dev/null
    wait_port_closed 5432 15 || die "port 5432 still open after stopping postgres"
}

# --- (d2) PostgreSQL streaming replica --------------------------------------------------------

REPLICA_PORT=5433
REPLICA_URL=postgresql+psycopg://tasks:tasks@127.0.0.1:$REPLICA_PORT/tasks

# Sets REPLICA_DATA and REPLICA_LOG beside the primary's (after pg_paths).
replica_paths() {
    REPLICA_DATA=$PG_BASE/replica
    if [[ -L $STACK_DIR/pg ]]; then
        REPLICA_LOG=$PG_BASE/replica.log
    else
        REPLICA_LOG=$LOG_DIR/replica.log
    fi
}

replica_pid() {
    local pid=
    replica_paths
    [[ -r $REPLICA_DATA/postmaster.pid ]] || return 1
    read -r pid <"$REPLICA_DATA/postmaster.pid" || return 1
    proc_matches "$pid" postgres || return 1
    printf '%s\n' "$pid"
}

pg_system_id() {
    "$PG_BIN/pg_controldata" -D "$1" 2>/dev/null | awk -F': *' '/^Database system identifier/ { print $2 }'
}

# A fresh copy of the primary, as the `tasks` role (it has REPLICATION); -R writes
# standby.signal and primary_conninfo, so the copy starts as a streaming standby.
replica_clone() {
    log "cloning the primary into $REPLICA_DATA (pg_basebackup -R)"
    rm -rf "$REPLICA_DATA"
    mkdir -p "$REPLICA_DATA"
    chown postgres:postgres "$REPLICA_DATA"
    chmod 700 "$REPLICA_DATA"
    if ! pg_as env PGPASSWORD=tasks "$PG_BIN/pg_basebackup" -h 127.0.0.1 -p 5432 -U tasks \
        -D "$REPLICA_DATA" -R -X stream -c fast >>"$REPLICA_LOG" 2>&1; then
        show_log_tail "$REPLICA_LOG"
        rm -rf "$REPLICA_DATA"
        die "pg_basebackup failed"
    fi
}

# The primary's stack settings, then the replica's own: later lines win, and a standby needs
# limits (max_connections and friends) at least as high as its primary's.
replica_configure() {
    local conf=$REPLICA_DATA/stack.conf
    {
        cat "$PGDATA/stack.conf"
        cat <<EOF
port = $REPLICA_PORT
hot_standby = on
# Keeps the primary's vacuum from removing rows a replica query still reads, which would
# otherwise cancel that query with a recovery conflict.
hot_standby_feedback = on
shared_buffers = '128MB'
EOF
    } >"$conf.new"
    mv "$conf.new" "$conf"
    chown postgres:postgres "$conf"
}

replica_start() {
    local pid
    pg_prepare
    replica_paths
    if pid=$(replica_pid); then
        log "replica already running (pid $pid)"
        return 0
    fi
    pg_pid >/dev/null || die "the replica needs the primary: start postgres first"
    ensure_port_free "$REPLICA_PORT" replica
    touch "$REPLICA_LOG"
    chown postgres:postgres "$REPLICA_LOG"
    if [[ -L $STACK_DIR/pg ]]; then
        ln -sfn "$REPLICA_LOG" "$LOG_DIR/replica.log"
    fi
    if [[ ! -s $REPLICA_DATA/PG_VERSION ]]; then
        replica_clone
    elif [[ $(pg_system_id "$REPLICA_DATA") != "$(pg_system_id "$PGDATA")" ]]; then
        warn "the replica was cloned from another cluster; cloning the primary again"
        replica_clone
    fi
    replica_configure
    log "starting replica"
    if ! (
        close_extra_fds
        pg_as "$PG_BIN/pg_ctl" -D "$REPLICA_DATA" -l "$REPLICA_LOG" -w -t 60 start >/dev/null
    ); then
        show_log_tail "$REPLICA_LOG"
        die "the PostgreSQL replica did not start"
    fi
    wait_for_port "$REPLICA_PORT" 30 || die "the replica does not listen on $REPLICA_PORT"
}

replica_stop() {
    local pid
    replica_paths
    pid=$(replica_pid) || return 0
    log "stopping replica (pid $pid)"
    pg_as "$PG_BIN/pg_ctl" -D "$REPLICA_DATA" -m fast -w -t 60 stop >/dev/null
    wait_port_closed "$REPLICA_PORT" 15 || die "port $REPLICA_PORT still open after stopping the replica"
}

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
    start_daemon kafka kafka.Kafka java -Xms256m -Xmx1g \
        -Dlog4j2.configurationFile="$KAFKA_HOME/log4j2.properties" \
        -cp "$KAFKA_HOME/libs/*" kafka.Kafka "$props"
    if ! wait_for_port 9092 60 "$STARTED_PID"; then
        show_log_tail "$LOG_DIR/kafka.log"
        die "Kafka did not listen on 9092 within 60s"
    fi
}

# A controlled shutdown of a single KRaft node takes a few seconds; 60 s before SIGKILL.
kafka_stop() { stop_daemon kafka kafka.Kafka 60 9092 9093; }

# --- (g) application processes ---------------------------------------------------------------

# Launches one app process without waiting for it; sets STARTED_PID as start_daemon does.
app_launch() {
    local name=$1 port pattern running=
    local -a cmd extra_env=()
    pattern=$(component_pattern "$name")
    daemon_pid "$name" "$pattern" >/dev/null && running=1
    case $name in
    api)
        cmd=(gunicorn --config python:webapp.gunicorn_conf --workers "${API_WORKERS:-2}"
            --bind 127.0.0.1:8080 --graceful-timeout 10 "webapp:create_app()")
        # Reads go to the stack's streaming replica; DATABASE_REPLICA_URL= (empty) turns it off.
        extra_env=("DATABASE_REPLICA_URL=${DATABASE_REPLICA_URL-$REPLICA_URL}")
        [[ -n $running ]] || extra_env+=("PROMETHEUS_MULTIPROC_DIR=$(fresh_metrics_dir api)")
        ;;
    relay) cmd=(python -m webapp.relay) ;;
    bridge) cmd=(python -m bridge) ;;
    worker)
        cmd=(celery -A celery_tasks.app worker --loglevel=INFO
            "--concurrency=${WORKER_CONCURRENCY:-4}" "--hostname=worker1@%h")
        [[ -n $running ]] || extra_env+=("PROMETHEUS_MULTIPROC_DIR=$(fresh_metrics_dir worker)")
        ;;
    beat) cmd=(celery -A celery_tasks.app beat --loglevel=INFO
        "--schedule=$RUN_DIR/celerybeat-schedule") ;;
    flower)
        cmd=(celery -A celery_tasks.app flower --address=127.0.0.1 --port=5555)
        # Flower reads FLOWER_* options from the environment; the password stays off ps.
        [[ -n $running ]] || extra_env+=("FLOWER_BASIC_AUTH=$(flower_credentials)")
        ;;
    prometheus)
        cmd=(/usr/bin/prometheus "--config.file=$REPO/ops/prometheus/prometheus.yml"
            "--storage.tsdb.path=$STACK_DIR/prometheus" --storage.tsdb.retention.time=2d
            --web.listen-address=127.0.0.1:9090)
        ;;
    esac
    port=$(component_port "$name")
    if [[ -z $running && $port != - ]]; then
        ensure_port_free "$port" "$name"
    fi
    # env puts the venv first on PATH for the daemon only; the caller's other variables
    # (DATABASE_URL and friends) pass through unchanged. The local stack is for development
    # and fault drills, so the `crash` handler may run here (off by default elsewhere).
    start_daemon "$name" "$pattern" env "PATH=$VENV/bin:$PATH" "VIRTUAL_ENV=$VENV" \
        "PYTHONUNBUFFERED=${PYTHONUNBUFFERED:-1}" \
        "CELERY_TASKS_FAULT_INJECTION=${CELERY_TASKS_FAULT_INJECTION:-1}" \
        "LOG_FORMAT=${LOG_FORMAT:-json}" "${extra_env[@]}" \
        "${cmd[@]}"
}

# prometheus_client's multiprocess folder of a component with several processes (gunicorn,
# Celery prefork). It must start empty: files of a previous run would add old samples to the
# new ones, and counters would never restart at zero.
fresh_metrics_dir() {
    local dir=$STACK_DIR/metrics/$1
    rm -rf "$dir"
    mkdir -p "$dir"
    printf '%s\n' "$dir"
}

# Flower's basic-auth credentials (user:password): FLOWER_BASIC_AUTH when set, else the ones
# generated on the first start and kept in .stack/flower/credentials (mode 600).
flower_credentials() {
    local file=$STACK_DIR/flower/credentials
    if [[ -n ${FLOWER_BASIC_AUTH:-} ]]; then
        printf '%s\n' "$FLOWER_BASIC_AUTH"
        return 0
    fi
    if [[ ! -s $file ]]; then
        mkdir -p "$(dirname "$file")"
        (
            umask 077
            printf 'admin:%s\n' "$(head -c 18 /dev/urandom | base64 | tr -d '/+=')" >"$file"
        )
    fi
    head -n 1 "$file"
}

app_failed() {
    show_log_tail "$LOG_DIR/$1.log" 30
    die "$1 failed to start: $2"
}

# Starts the named app processes, then waits for each fresh one to prove itself: the API
# answers /healthz, Flower listens, the others are still alive 2 s after their launch.
apps_start() {
    local name deadline now_us
    local -A fresh=() launched_us=()
    ensure_venv
    for name in "$@"; do
        app_launch "$name"
        if [[ -n $STARTED_PID ]]; then
            fresh[$name]=$STARTED_PID
            launched_us[$name]=${EPOCHREALTIME/./}
        fi
    done
    ((${#fresh[@]} > 0)) || return 0
    if [[ -n ${fresh[api]:-} ]]; then
        deadline=$((SECONDS + 60))
        until curl -fsS -o /dev/null --max-time 2 http://127.0.0.1:8080/healthz 2>/dev/null; do
            proc_alive "${fresh[api]}" || app_failed api "gunicorn exited"
            ((SECONDS < deadline)) || app_failed api "/healthz did not answer within 60s"
            sleep 0.5
        done
    fi
    if [[ -n ${fresh[flower]:-} ]]; then
        wait_for_port 5555 60 "${fresh[flower]}" || app_failed flower "port 5555 not listening"
    fi
    if [[ -n ${fresh[prometheus]:-} ]]; then
        wait_for_port 9090 60 "${fresh[prometheus]}" ||
            app_failed prometheus "port 9090 not listening"
    fi
    for name in relay bridge worker beat; do
        [[ -n ${fresh[$name]:-} ]] || continue
        # Import errors and bad settings kill these within a second or so; 2 s catches them.
        # The clock starts at each launch, so processes started together share one wait.
        now_us=${EPOCHREALTIME/./}
        while ((now_us - launched_us[$name] < 2000000)); do
            sleep 0.2
            now_us=${EPOCHREALTIME/./}
        done
        proc_alive "${fresh[$name]}" || app_failed "$name" "exited right after start"
    done
}

app_stop() {
    local port
    port=$(component_port "$1")
    [[ $port != - ]] || port=
    # shellcheck disable=SC2086 # an empty port means no port argument
    stop_daemon "$1" "$(component_pattern "$1")" 15 $port
}

# --- subcommands -----------------------------------------------------------------------------

prepare_dirs() { mkdir -p "$RUN_DIR" "$LOG_DIR" "$KAFKA_DIR"; }

run_taskctl() {
    log "taskctl $*"
    (cd "$REPO" && PATH="$VENV/bin:$PATH" "$VENV/bin/taskctl" "$@")
}

cmd_infra() {
    prepare_dirs
    ensure_debian_packages
    ensure_venv
    ensure_kafka_jars
    pg_start
    pg_ensure_role_db
    replica_start
    redis_start
    kafka_start
    run_taskctl migrate
    run_taskctl topics ensure
}

# Authentication is on by default, so the quick start keeps a development key (tenant `dev`,
# every scope, a generous rate limit) in .stack/dev-api-key; it is created once and reused.
dev_api_key() {
    (cd "$REPO" && "$VENV/bin/taskctl" apikey ensure --key-file "$STACK_DIR/dev-api-key" \
        --name dev --tenant dev --scope submit,read,admin --rate-limit 100000/minute)
}

cmd_up() {
    local dev_key
    cmd_infra
    apps_start "${APPS[@]}"
    dev_key=$(dev_api_key) || die "could not create the development API key"
    cat <<EOF

Local stack is up.
  API          http://127.0.0.1:8080  (/healthz, /readyz, /metrics, /api/tasks, /api/docs)
  API key      $dev_key  (tenant dev; also in .stack/dev-api-key)
  Flower       http://127.0.0.1:5555  (user:password $(flower_credentials))
  Prometheus   http://127.0.0.1:9090  (metrics: relay 9101, bridge 9102, worker 9103)
  PostgreSQL   postgresql://tasks:tasks@127.0.0.1:5432/tasks
  Replica      postgresql://tasks:tasks@127.0.0.1:5433/tasks  (streaming, read-only)
  Redis        redis://127.0.0.1:6379  (Celery broker on db 1)
  Kafka        127.0.0.1:9092
  Logs         $LOG_DIR  (ops/stack.sh logs [-f] [NAME])

EOF
    cmd_status
}

cmd_down() {
    local name pids=() pid rc=0
    prepare_dirs
    # App processes stop in parallel: their 15 s grace periods overlap instead of adding up.
    for name in "${APPS[@]}"; do
        app_stop "$name" &
        pids+=($!)
    done
    for pid in "${pids[@]}"; do
        wait "$pid" || rc=1
    done
    kafka_stop
    redis_stop
    replica_stop
    pg_stop
    ((rc == 0)) || die "some app processes did not stop cleanly"
    log "stack is down"
}

cmd_status() {
    local name pid state port
    for name in "${INFRA[@]}" "${APPS[@]}"; do
        if [[ $name == postgres ]]; then
            pid=$(pg_pid) || pid=
        elif [[ $name == replica ]]; then
            pid=$(replica_pid) || pid=
        else
            pid=$(daemon_pid "$name" "$(component_pattern "$name")") || pid=
        fi
        state=running
        [[ -n $pid ]] || state=stopped
        port=$(component_port "$name")
        printf '%-10s %-8s pid=%-8s port=%s\n' "$name" "$state" "${pid:--}" "$port"
    done
}

cmd_logs() {
    local arg
    local -a follow=() files=()
    for arg in "$@"; do
        case $arg in
        -f | --follow) follow=(-f) ;;
        *)
            is_component "$arg" || die "unknown component '$arg'"
            files+=("$LOG_DIR/$arg.log")
            ;;
        esac
    done
    if ((${#files[@]} == 0)); then
        shopt -s nullglob
        files=("$LOG_DIR"/*.log)
        ((${#files[@]} > 0)) || die "no logs yet in $LOG_DIR"
    fi
    exec tail -n 100 "${follow[@]}" -- "${files[@]}"
}

cmd_start() {
    prepare_dirs
    case $1 in
    postgres)
        pg_start
        pg_ensure_role_db
        ;;
    replica) replica_start ;;
    redis) redis_start ;;
    kafka) kafka_start ;;
    *) apps_start "$1" ;;
    esac
}

cmd_stop() {
    prepare_dirs
    case $1 in
    postgres) pg_stop ;;
    replica) replica_stop ;;
    redis) redis_stop ;;
    kafka) kafka_stop ;;
    *) app_stop "$1" ;;
    esac
}

main() {
    (($# > 0)) || usage
    pg_paths
    local sub=$1
    shift
    case $sub in
    up | infra | down | status | venv)
        (($# == 0)) || usage
        case $sub in
        up) cmd_up ;;
        infra) cmd_infra ;;
        down) cmd_down ;;
        status) cmd_status ;;
        venv) ensure_venv ;;
        esac
        ;;
    logs) cmd_logs "$@" ;;
    start | stop | restart)
        if (($# != 1)) || ! is_component "$1"; then
            usage
        fi
        case $sub in
        start) cmd_start "$1" ;;
        stop) cmd_stop "$1" ;;
        restart)
            cmd_stop "$1"
            cmd_start "$1"
            ;;
        esac
        ;;
    *) usage ;;
    esac
}

main "$@"
