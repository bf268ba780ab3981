#!/usr/bin/env bash
# The application processes of the local stack (API, relay, bridge, workers, beat, Flower, Prometheus).
# Sourced by ops/stack.sh, which defines the paths and helpers used here; not run on its own.
# shellcheck shell=bash

# --- (g) application processes ---------------------------------------------------------------

# Launches one app process without waiting for it; sets STARTED_PID as start_daemon does.
app_launch() {
    local name=$1 port pattern running=
    local -a cmd extra_env=()
    pattern=$(component_pattern "$name")
    daemon_pid "$name" "$pattern" >/dev/null && running=1
    case $name in
    api)
        # Threads let a worker serve other requests while one waits on PostgreSQL or Redis.
        cmd=(gunicorn --config python:webapp.gunicorn_conf --workers "${API_WORKERS:-2}"
            --threads "${API_THREADS:-4}" --bind 127.0.0.1:8080 --graceful-timeout 10
            "webapp:create_app()")
        # Reads go to the stack's streaming replica; DATABASE_REPLICA_URL= (empty) turns it off.
        extra_env=("DATABASE_REPLICA_URL=${DATABASE_REPLICA_URL-$REPLICA_URL}")
        [[ -n $running ]] || extra_env+=("PROMETHEUS_MULTIPROC_DIR=$(fresh_metrics_dir api)")
        ;;
    relay) cmd=(python -m relay) ;;
    bridge) cmd=(python -m bridge) ;;
    worker)
        cmd=(celery -A celery_tasks.app worker --loglevel=INFO -Q tasks
            "--concurrency=${WORKER_CONCURRENCY:-4}" "--hostname=worker1@%h")
        [[ -n $running ]] || extra_env+=("PROMETHEUS_MULTIPROC_DIR=$(fresh_metrics_dir worker)")
        ;;
    maintenance)
        # Beat's jobs (reconciler, due scheduled tasks, partitions, key purge) on a lane of
        # their own, so no backlog of tasks, whatever its priority, delays them.
        cmd=(celery -A celery_tasks.app worker --loglevel=INFO -Q maintenance --concurrency=2
            "--hostname=maintenance@%h")
        extra_env+=("CELERY_TASKS_METRICS_PORT=9104" "LOG_SERVICE=maintenance")
        [[ -n $running ]] || extra_env+=("PROMETHEUS_MULTIPROC_DIR=$(fresh_metrics_dir maintenance)")
        ;;
    beat) cmd=(celery -A celery_tasks.app beat --loglevel=INFO
        "--schedule=$RUN_DIR/celerybeat-schedule") ;;
    flower)
        # Flower keeps every task it saw in memory; the cap keeps its memory bounded (it still
        # shows live workers and the latest tasks). The tasks' history is PostgreSQL's.
        cmd=(celery -A celery_tasks.app flower --address=127.0.0.1 --port=5555
            "--max_tasks=${FLOWER_MAX_TASKS:-10000}")
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
    # and fault drills, so the `crash` handler may run here (off by default elsewhere), and
    # callbacks may go to receivers on this machine (127.0.0.1; refused by default elsewhere).
    start_daemon "$name" "$pattern" env "PATH=$VENV/bin:$PATH" "VIRTUAL_ENV=$VENV" \
        "PYTHONUNBUFFERED=${PYTHONUNBUFFERED:-1}" \
        "CELERY_TASKS_FAULT_INJECTION=${CELERY_TASKS_FAULT_INJECTION:-1}" \
        "LOG_FORMAT=${LOG_FORMAT:-json}" \
        "WEBAPP_WEBHOOKS_ALLOW_PRIVATE=${WEBAPP_WEBHOOKS_ALLOW_PRIVATE:-true}" \
        "RELAY_WEBHOOKS_ALLOW_PRIVATE=${RELAY_WEBHOOKS_ALLOW_PRIVATE:-true}" \
        "${extra_env[@]}" \
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
    for name in relay bridge worker maintenance beat; do
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
