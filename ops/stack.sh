#!/usr/bin/env bash
# Runs the whole task service on this machine without Docker: PostgreSQL, Redis and Kafka as
# plain daemons, then the API, outbox relays, Kafka bridges, Celery workers, beat, Flower and
# Prometheus under supervisord, which restarts any of them that crashes.
# Everything lives under .stack/ (data, pid files, logs); every subcommand is safe to repeat.
#
#   ops/stack.sh up | infra | down | status | venv
#   ops/stack.sh logs [-f] [NAME...]
#   ops/stack.sh start|stop|restart NAME
#
# NAME is one of: postgres replica redis kafka api relay bridge worker maintenance beat flower
# prometheus (every instance of it), or one instance such as worker-2. `up` and `start` take the
# counts WORKERS BRIDGES RELAYS API_WORKERS (default 1 1 1 2) from the environment, else keep
# those of the last start; `down` forgets them.
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
APPS=(api relay bridge worker maintenance beat flower prometheus)

usage() {
    sed -n '2,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

# Port an infrastructure daemon listens on (ops/stack_apps.sh has the applications').
component_port() {
    case $1 in
    postgres) echo 5432 ;;
    replica) echo 5433 ;;
    redis) echo 6379 ;;
    kafka) echo 9092 ;;
    esac
}

# A string that the daemon's command line contains, to tell it from a reused pid.
component_pattern() {
    case $1 in
    redis) echo redis-server ;;
    kafka) echo kafka.Kafka ;;
    *) return 1 ;;
    esac
}

is_infra() {
    local c
    for c in "${INFRA[@]}"; do
        [[ $c == "$1" ]] && return 0
    done
    return 1
}

is_component() { is_infra "$1" || is_app_instance "$1"; }

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
    # The Flower browser test (tests/e2e/test_flower.py) drives Debian's Chromium.
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
        sha256sum requirements/base.txt requirements/dev.txt pyproject.toml client/pyproject.toml
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
        # The Python client is a distribution of its own (client/pyproject.toml); its tests
        # import it from this venv. httpx, its one dependency, is pinned in base.txt (the
        # relay posts webhooks with it).
        "$VENV/bin/python" -m pip install -q -e ./client --no-deps
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

# The components live in files of their own, sourced here so every function sees the same paths.
# shellcheck source=ops/stack_postgres.sh
source "$REPO/ops/stack_postgres.sh"
# shellcheck source=ops/stack_brokers.sh
source "$REPO/ops/stack_brokers.sh"
# shellcheck source=ops/stack_apps.sh
source "$REPO/ops/stack_apps.sh"

# --- subcommands -----------------------------------------------------------------------------

prepare_dirs() { mkdir -p "$RUN_DIR" "$LOG_DIR" "$KAFKA_DIR"; }

run_taskctl() {
    log "taskctl $*"
    (cd "$REPO" && PATH="$VENV/bin:$PATH" "$VENV/bin/taskctl" "$@")
}

cmd_infra() {
    prepare_dirs
    cpu_groups_report
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
  Console      http://127.0.0.1:8080/ui/  (sign in with the API key)
  Flower       http://127.0.0.1:5555  (user:password $(flower_credentials))
  Prometheus   http://127.0.0.1:9090  (metrics: relay 9101, bridge 9102, worker 9103, maintenance 9104)
  Instances    WORKERS=${SCALE[WORKERS]} BRIDGES=${SCALE[BRIDGES]} RELAYS=${SCALE[RELAYS]} API_WORKERS=${SCALE[API_WORKERS]}  (each instance's metrics port: make status)
  PostgreSQL   postgresql://tasks:tasks@127.0.0.1:5432/tasks
  Replica      postgresql://tasks:tasks@127.0.0.1:5433/tasks  (streaming, read-only)
  Redis        redis://127.0.0.1:6379  (Celery broker on db 1)
  Kafka        127.0.0.1:9092
  Logs         $LOG_DIR  (ops/stack.sh logs [-f] [NAME]; supervisorctl -c .stack/supervisord.conf)

EOF
    cmd_status
}

cmd_down() {
    prepare_dirs
    apps_down
    kafka_stop
    redis_stop
    replica_stop
    pg_stop
    log "stack is down"
}

cmd_status() {
    local name pid state
    for name in "${INFRA[@]}"; do
        if [[ $name == postgres ]]; then
            pid=$(pg_pid) || pid=
        elif [[ $name == replica ]]; then
            pid=$(replica_pid) || pid=
        else
            pid=$(daemon_pid "$name" "$(component_pattern "$name")") || pid=
        fi
        state=running
        [[ -n $pid ]] || state=stopped
        printf '%-12s %-8s pid=%-8s port=%s\n' "$name" "$state" "${pid:--}" "$(component_port "$name")"
    done
    pid=$(daemon_pid supervisord "$SUPERVISORD_PATTERN") || pid=
    state=running
    [[ -n $pid ]] || state=stopped
    printf '%-12s %-8s pid=%-8s port=-\n' supervisord "$state" "${pid:--}"
    apps_status
}

cmd_logs() {
    local arg
    local -a follow=() files=()
    for arg in "$@"; do
        case $arg in
        -f | --follow) follow=(-f) ;;
        *)
            is_component "$arg" || die "unknown component '$arg'"
            if is_infra "$arg" || [[ $arg != "$(instance_component "$arg")" ]]; then
                files+=("$LOG_DIR/$arg.log")
            else
                # A component's logs are those of every instance: NAME.log, NAME-2.log...
                shopt -s nullglob
                files+=("$LOG_DIR/$arg.log" "$LOG_DIR/$arg"-[0-9]*.log)
                shopt -u nullglob
            fi
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
    *) apps_stop "$1" ;;
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
