#!/usr/bin/env bash
# The application processes of the local stack (API, relays, bridges, workers, maintenance, beat,
# Flower, Prometheus), one supervisord program per instance.
# Sourced by ops/stack.sh, which defines the paths and helpers used here; not run on its own.
# shellcheck shell=bash
#
# Why supervisord (PyPI `supervisor`, requirements/dev.in): it restarts a crashed process at once
# and backs off one that keeps dying at start; it keeps one log per process; `supervisorctl
# status|start|stop|restart|tail` works on any instance; it runs as root without systemd (CI and
# the development machines have none). Each instance is a program of its own rather than one
# `numprocs` program: instance 1 keeps the name, log and ports it always had, the others differ
# in more than a number supervisord could expand (their metrics ports skip the ones in use), and
# `supervisorctl update` then adds or removes only the instances a new count changes.
# PostgreSQL, Redis and Kafka stay pid-file daemons (ops/stack_postgres.sh, stack_brokers.sh):
# pg_ctl and redis-server manage themselves, and tests stop and start them around the apps.

# --- (g) counts and settings -----------------------------------------------------------------

# Topic `tasks` has this many partitions (db/topics.py); a consumer group gives each to one
# bridge, so bridges beyond it would sit idle.
TASK_PARTITIONS=32
SCALE_KEYS=(WORKERS BRIDGES RELAYS API_WORKERS API_THREADS WORKER_CONCURRENCY FLOWER_MAX_TASKS)
SUPERVISORD_CONF=$STACK_DIR/supervisord.conf
# The niceness of the processes behind the API (instance_env), of Kafka and of the replica
# (stack_brokers.sh, stack_postgres.sh); 0 runs everything alike.
BACKGROUND_NICE=${BACKGROUND_NICE:-19}
[[ $BACKGROUND_NICE =~ ^(1?[0-9])$ ]] || die "BACKGROUND_NICE must be 0-19, not '$BACKGROUND_NICE'"
PROGRAM_DIR=$STACK_DIR/supervisor
ENV_DIR=$STACK_DIR/env

scale_default() {
    case $1 in
    WORKERS | BRIDGES | RELAYS) echo 1 ;;
    API_WORKERS) echo 2 ;;
    API_THREADS | WORKER_CONCURRENCY) echo 4 ;;
    # Flower keeps every task it saw in memory; the cap keeps its memory bounded.
    FLOWER_MAX_TASKS) echo 10000 ;;
    esac
}

# Sets SCALE[KEY] from the environment, else from the last start (.stack/run/scale), else the
# default, so `ops/stack.sh start worker` keeps the count `make up WORKERS=2` set.
load_scale() {
    local key value file=$RUN_DIR/scale
    declare -gA SCALE=()
    if [[ -r $file ]]; then
        while IFS='=' read -r key value; do
            SCALE[$key]=$value
        done <"$file"
    fi
    for key in "${SCALE_KEYS[@]}"; do
        value=${!key:-${SCALE[$key]:-$(scale_default "$key")}}
        [[ $value =~ ^[1-9][0-9]{0,5}$ ]] || die "$key must be a whole number >= 1, not '$value'"
        SCALE[$key]=$value
    done
    ((SCALE[BRIDGES] <= TASK_PARTITIONS)) ||
        die "BRIDGES=${SCALE[BRIDGES]}: topic tasks has $TASK_PARTITIONS partitions, one per bridge at most"
}

save_scale() {
    # A temporary file of this process's own: several `start`s run at once (the bench starts
    # the relay, bridge and worker in parallel), and a shared name let one move the other's.
    local key tmp=$RUN_DIR/scale.new.$$
    for key in "${SCALE_KEYS[@]}"; do
        printf '%s=%s\n' "$key" "${SCALE[$key]}"
    done >"$tmp"
    mv -f "$tmp" "$RUN_DIR/scale"
}

# --- (h) instances ---------------------------------------------------------------------------

# NAME for the first instance of a component, NAME-2, NAME-3... for the others.
instance_component() { printf '%s\n' "${1%-[0-9]*}"; }
instance_number() {
    if [[ $1 =~ -([0-9]+)$ ]]; then echo "${BASH_REMATCH[1]}"; else echo 1; fi
}

is_app_instance() {
    local comp app
    comp=$(instance_component "$1")
    [[ $1 == "$comp" || $1 =~ ^$comp-[1-9][0-9]*$ ]] || return 1
    for app in "${APPS[@]}"; do
        [[ $app == "$comp" ]] && return 0
    done
    return 1
}

# The instances of a component at the current counts (load_scale).
component_instances() {
    local n count=1
    case $1 in
    relay) count=${SCALE[RELAYS]} ;;
    bridge) count=${SCALE[BRIDGES]} ;;
    worker) count=${SCALE[WORKERS]} ;;
    esac
    printf '%s\n' "$1"
    for ((n = 2; n <= count; n++)); do
        printf '%s-%d\n' "$1" "$n"
    done
}

# Workers take 9103, then the ports from 9105 on that no relay (9101, 9111...) or bridge (9102,
# 9112...) uses; 9104 is the maintenance worker's.
worker_port() {
    local n=$1 port=9103 k=1
    while ((k < n)); do
        port=$((port + 1))
        if ((port != 9104 && (port - 9100) % 10 != 1 && (port - 9100) % 10 != 2)); then
            k=$((k + 1))
        fi
    done
    echo "$port"
}

# The port an instance listens on: its HTTP port, or the port of its metrics.
instance_port() {
    local n
    n=$(instance_number "$1")
    case $(instance_component "$1") in
    api) echo 8080 ;;
    flower) echo 5555 ;;
    prometheus) echo 9090 ;;
    maintenance) echo 9104 ;;
    relay) echo $((9101 + 10 * (n - 1))) ;;
    bridge) echo $((9102 + 10 * (n - 1))) ;;
    worker) worker_port "$n" ;;
    *) echo - ;;
    esac
}

# Extra worker nodes run under a hostname of their own (a UTS namespace), as on a second
# machine, so Flower, node names and lease owners tell them apart from node 1.
uts_works() { unshare --uts true 2>/dev/null; }

# Sets CMD to the command line of an instance.
instance_command() {
    local name=$1 n
    n=$(instance_number "$name")
    case $(instance_component "$name") in
    api)
        # Threads let a worker serve other requests while one waits on PostgreSQL or Redis.
        CMD=(python -m webapp.serve --workers "${SCALE[API_WORKERS]}"
            --threads "${SCALE[API_THREADS]}" --bind 127.0.0.1:8080 --graceful-timeout 10)
        ;;
    relay) CMD=(python -m relay) ;;
    bridge) CMD=(python -m bridge) ;;
    worker)
        CMD=(celery -A celery_tasks.app worker --loglevel=INFO -Q tasks
            "--concurrency=${SCALE[WORKER_CONCURRENCY]}" "--hostname=worker$n@%h")
        if ((n > 1)) && [[ -n $UTS_OK ]]; then
            # shellcheck disable=SC2016 # expanded by that sh, not here
            CMD=(unshare --uts sh -c 'hostname "$0" && exec "$@"' "$(hostname)-$n" "${CMD[@]}")
        fi
        ;;
    maintenance)
        # Beat's jobs (reconciler, due scheduled tasks, partitions, key purge) on a lane of
        # their own, so no backlog of tasks, whatever its priority, delays them.
        # Two processes: a long re-drive (which hands the lane back every few seconds) and
        # the reconciler never wait for each other.
        CMD=(celery -A celery_tasks.app worker --loglevel=INFO -Q maintenance --concurrency=2
            "--hostname=maintenance@%h")
        ;;
    beat) CMD=(celery -A celery_tasks.app beat --loglevel=INFO
        "--schedule=$RUN_DIR/celerybeat-schedule") ;;
    flower)
        # Flower still shows live workers and the latest tasks; the history is PostgreSQL's.
        CMD=(celery -A celery_tasks.app flower --address=127.0.0.1 --port=5555
            "--max_tasks=${SCALE[FLOWER_MAX_TASKS]}")
        ;;
    prometheus)
        CMD=(/usr/bin/prometheus "--config.file=$STACK_DIR/prometheus.yml"
            "--storage.tsdb.path=$STACK_DIR/prometheus" --storage.tsdb.retention.time=2d
            --web.listen-address=127.0.0.1:9090)
        ;;
    esac
}

# The environment an instance runs with besides the caller's, one NAME=value a line. The venv
# comes first on PATH; the caller's other variables (DATABASE_URL and friends) pass through.
# The local stack is for development and fault drills, so the `crash` handler may run here,
# and callbacks may go to receivers on this machine (127.0.0.1; refused by default elsewhere).
instance_env() {
    local name=$1 n
    n=$(instance_number "$name")
    printf '%s\n' "PATH=$VENV/bin:$PATH" "VIRTUAL_ENV=$VENV" \
        "PYTHONUNBUFFERED=${PYTHONUNBUFFERED:-1}" \
        "CELERY_TASKS_FAULT_INJECTION=${CELERY_TASKS_FAULT_INJECTION:-1}" \
        "LOG_FORMAT=${LOG_FORMAT:-json}" \
        "WEBAPP_WEBHOOKS_ALLOW_PRIVATE=${WEBAPP_WEBHOOKS_ALLOW_PRIVATE:-true}" \
        "RELAY_WEBHOOKS_ALLOW_PRIVATE=${RELAY_WEBHOOKS_ALLOW_PRIVATE:-true}"
    ((n == 1)) || echo "LOG_SERVICE=$name"
    case $(instance_component "$name") in
    api)
        # Reads go to the stack's streaming replica; DATABASE_REPLICA_URL= (empty) turns it off.
        echo "DATABASE_REPLICA_URL=${DATABASE_REPLICA_URL-$REPLICA_URL}"
        echo "PROMETHEUS_MULTIPROC_DIR=$STACK_DIR/metrics/$name"
        # Every API worker must sign and read the same console cookies.
        echo "WEBAPP_UI_SECRET_KEY=$(ui_secret_key)"
        ;;
    relay) echo "RELAY_METRICS_PORT=$(instance_port "$name")" ;;
    bridge) echo "BRIDGE_METRICS_PORT=$(instance_port "$name")" ;;
    worker | maintenance)
        echo "CELERY_TASKS_METRICS_PORT=$(instance_port "$name")"
        echo "PROMETHEUS_MULTIPROC_DIR=$STACK_DIR/metrics/$name"
        [[ $name != maintenance ]] || echo "LOG_SERVICE=maintenance"
        ;;
    # Flower reads FLOWER_* options from the environment; the password stays off ps.
    flower) echo "FLOWER_BASIC_AUTH=$(flower_credentials)" ;;
    esac
    case $(instance_component "$name") in
    # Everything behind the API runs at a lower CPU priority (ops/stack_run.sh reads this),
    # so that on one machine a burst of submits is answered first and drained right after,
    # instead of every process slowing the others down alike; BACKGROUND_NICE=0 turns it off.
    relay | bridge | worker | maintenance | beat | flower | prometheus)
        echo "STACK_NICE=$BACKGROUND_NICE"
        echo "STACK_CPU_GROUP=background"
        ;;
    # ... and where this machine has cpu groups, in a lighter one than the API (ops/cpu_groups.sh).
    api) echo "STACK_CPU_GROUP=api" ;;
    esac
}

# Writes .stack/env/NAME.env (NUL-separated, mode 600: it holds passwords): the caller's
# environment and the instance's own, which ops/stack_run.sh runs NAME with from then on.
write_instance_env() {
    local name=$1 entry extra
    extra=$(instance_env "$name") || die "could not work out the environment of $name"
    mkdir -p "$ENV_DIR"
    chmod 700 "$ENV_DIR"
    (
        umask 077
        while IFS= read -r -d '' entry; do
            case $entry in
            TASKSTACK_PROCESS=* | SUPERVISOR_*) ;;
            *) printf '%s\0' "$entry" ;;
            esac
        done < <(env -0)
        printf '%s\n' "$extra" | tr '\n' '\0'
    ) >"$ENV_DIR/$name.env.new"
    mv "$ENV_DIR/$name.env.new" "$ENV_DIR/$name.env"
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

# The web console's session signing key: WEBAPP_UI_SECRET_KEY when set, else one generated on
# the first start and kept in .stack/ui/secret-key (mode 600), so sessions survive restarts.
ui_secret_key() {
    local file=$STACK_DIR/ui/secret-key
    if [[ -n ${WEBAPP_UI_SECRET_KEY:-} ]]; then
        printf '%s\n' "$WEBAPP_UI_SECRET_KEY"
        return 0
    fi
    if [[ ! -s $file ]]; then
        mkdir -p "$(dirname "$file")"
        (
            umask 077
            head -c 48 /dev/urandom | base64 | tr -d '/+=\n' >"$file"
            echo >>"$file"
        )
    fi
    head -n 1 "$file"
}

# shellcheck source=ops/stack_supervisor.sh
source "$REPO/ops/stack_supervisor.sh"
