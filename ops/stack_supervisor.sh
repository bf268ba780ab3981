#!/usr/bin/env bash
# supervisord of the local stack: its configuration, its daemon, and starting, stopping and
# listing the application instances it runs (ops/stack_apps.sh says which and why).
# Sourced by ops/stack_apps.sh; not run on its own.
# shellcheck shell=bash

SUPERVISORD_PATTERN="-c $SUPERVISORD_CONF"

ctl() { "$VENV/bin/supervisorctl" -c "$SUPERVISORD_CONF" "$@"; }

# write_if_changed FILE TEXT: replaces FILE only when TEXT differs, atomically, so readers that
# watch it (Prometheus) never see half a file. Fails when nothing changed.
write_if_changed() {
    [[ -f $1 && $(<"$1") == "$2" ]] && return 1
    printf '%s\n' "$2" >"$1.new"
    mv "$1.new" "$1"
}

# --- configuration ---------------------------------------------------------------------------

render_program() {
    local name=$1 template word command=
    instance_command "$name"
    # supervisord splits the command as a POSIX shell would and expands %(...)s in it.
    for word in "$REPO/ops/stack_run.sh" "$name" "${CMD[@]}"; do
        word=$(printf '%q' "$word")
        command+=" ${word//%/%%}"
    done
    template=$(<"$REPO/ops/supervisor/program.conf.in")
    template=${template//@NAME@/"$name"}
    template=${template//@COMMAND@/"${command# }"}
    template=${template//@REPO@/"$REPO"}
    template=${template//@LOG_DIR@/"$LOG_DIR"}
    printf '%s\n' "$template"
}

# Prometheus finds every instance through file_sd target files, one per job; the config names
# them relative to itself (ops/prometheus/prometheus.yml), the rendered copy by their path.
render_prometheus() {
    local targets=$STACK_DIR/targets text job name port groups
    mkdir -p "$targets"
    text=$(<"$REPO/ops/prometheus/prometheus.yml")
    text=${text//\"targets\//\"$targets/}
    text=${text//- rules\//- $REPO/ops/prometheus/rules/}
    if write_if_changed "$STACK_DIR/prometheus.yml" "$text" && [[ -n ${PROC_PID[prometheus]:-} ]]; then
        ctl signal HUP prometheus >/dev/null || warn "could not reload Prometheus"
    fi
    for job in relay bridge worker; do
        groups=
        while read -r name; do
            port=$(instance_port "$name")
            groups+="${groups:+,}"$'\n  '"{\"targets\": [\"127.0.0.1:$port\"], \"labels\": {\"process\": \"$name\"}}"
        done < <(component_instances "$job"; [[ $job != worker ]] || echo maintenance)
        write_if_changed "$targets/$job.json" "[$groups"$'\n'"]" || true
    done
}

# Renders supervisord's configuration for the current counts: the main file and one program
# per instance; programs of instances no longer counted are removed. UTS_OK is read by
# instance_command (ops/stack_apps.sh).
# shellcheck disable=SC2034
render_supervisor() {
    local template comp name file
    local -A wanted=()
    load_scale
    save_scale
    UTS_OK=
    if ((SCALE[WORKERS] > 1)); then
        if uts_works; then
            UTS_OK=1
        else
            warn "unshare --uts fails here; extra worker nodes share node 1's hostname"
        fi
    fi
    mkdir -p "$PROGRAM_DIR"
    template=$(<"$REPO/ops/supervisor/supervisord.conf.in")
    template=${template//@RUN_DIR@/"$RUN_DIR"}
    template=${template//@LOG_DIR@/"$LOG_DIR"}
    template=${template//@REPO@/"$REPO"}
    template=${template//@CONF_DIR@/"$PROGRAM_DIR"}
    write_if_changed "$SUPERVISORD_CONF" "$template" || true
    for comp in "${APPS[@]}"; do
        while read -r name; do
            wanted[$name]=1
            write_if_changed "$PROGRAM_DIR/$name.conf" "$(render_program "$name")" || true
        done < <(component_instances "$comp")
    done
    for file in "$PROGRAM_DIR"/*.conf; do
        [[ -e $file ]] || continue
        name=${file##*/}
        [[ -n ${wanted[${name%.conf}]:-} ]] || rm -f "$file"
    done
    render_prometheus
}

# Every configured instance, in the order of APPS and then of instance number.
configured_instances() {
    local comp file
    for comp in "${APPS[@]}"; do
        if [[ ! -e $PROGRAM_DIR/$comp.conf ]]; then
            echo "$comp"
            continue
        fi
        for file in "$PROGRAM_DIR/$comp.conf" "$PROGRAM_DIR/$comp"-*.conf; do
            [[ -e $file ]] || continue
            file=${file##*/}
            echo "${file%.conf}"
        done | sort -t- -k2,2n
    done
}

# --- the daemon ------------------------------------------------------------------------------

supervisord_running() { daemon_pid supervisord "$SUPERVISORD_PATTERN" >/dev/null; }

supervisord_start() {
    local deadline
    supervisord_running && return 0
    start_daemon supervisord "$SUPERVISORD_PATTERN" "$VENV/bin/supervisord" -n -c "$SUPERVISORD_CONF"
    deadline=$((SECONDS + 20))
    until ctl pid >/dev/null 2>&1; do
        if ! proc_alive "$STARTED_PID" || ((SECONDS >= deadline)); then
            show_log_tail "$LOG_DIR/supervisord.log"
            die "supervisord did not start"
        fi
        sleep 0.2
    done
}

# Sets PROC_STATE[NAME], PROC_PID[NAME] and PROC_UPTIME[NAME] from `supervisorctl status`.
read_states() {
    local name state rest
    declare -gA PROC_STATE=() PROC_PID=() PROC_UPTIME=()
    supervisord_running || return 0
    while read -r name state rest; do
        PROC_STATE[$name]=$state
        if [[ $rest =~ ^pid\ ([0-9]+),\ uptime\ (.*)$ ]]; then
            PROC_PID[$name]=${BASH_REMATCH[1]}
            PROC_UPTIME[$name]=${BASH_REMATCH[2]}
        fi
    done < <(ctl status 2>/dev/null || true)
}

# NAME as given (one instance) or, for a component, every instance of it that is configured.
expand_instances() {
    local name inst
    for name in "$@"; do
        if [[ $name != "$(instance_component "$name")" ]]; then
            echo "$name"
            continue
        fi
        while read -r inst; do
            [[ $(instance_component "$inst") == "$name" ]] && echo "$inst"
        done < <(configured_instances)
    done
}

app_failed() {
    show_log_tail "$LOG_DIR/$1.log" 30
    ctl stop "$1" >/dev/null 2>&1 || true
    die "$1 failed to start: $2"
}

# --- starting and stopping -------------------------------------------------------------------

# Starts the named components (every instance) or instances that are not running, at the
# counts of load_scale; waits until each is RUNNING (alive for startsecs), the API answers
# /healthz and Flower and Prometheus listen.
apps_start() {
    local name inst port pid deadline
    local -a targets=() to_start=() failed=()
    local -A before=() asked=() queued=() fresh=() jobs=()
    ensure_venv
    read_states
    for name in "${!PROC_STATE[@]}"; do
        [[ ${PROC_STATE[$name]} != @(RUNNING|STARTING) ]] || before[$name]=1
    done
    render_supervisor
    supervisord_start
    # Adds and removes programs, and restarts those whose command changed (API_WORKERS=4).
    ctl update >/dev/null || die "supervisorctl update failed"
    read_states
    mapfile -t targets < <(expand_instances "$@")
    for inst in "${targets[@]}"; do
        asked[$inst]=1
    done
    # The update stopped the programs it changed; those that ran before run again.
    for name in "${!before[@]}"; do
        [[ -z ${PROC_STATE[$name]:-} || -n ${asked[$name]:-} ]] || targets+=("$name")
    done
    for inst in "${targets[@]}"; do
        [[ -z ${queued[$inst]:-} ]] || continue
        queued[$inst]=1
        [[ -n ${PROC_STATE[$inst]:-} ]] || die "unknown instance $inst (WORKERS=${SCALE[WORKERS]}" \
            "BRIDGES=${SCALE[BRIDGES]} RELAYS=${SCALE[RELAYS]})"
        case ${PROC_STATE[$inst]} in
        RUNNING | STARTING)
            [[ -z ${asked[$inst]:-} ]] || log "$inst already running (pid ${PROC_PID[$inst]:-?})"
            continue
            ;;
        BACKOFF) ctl stop "$inst" >/dev/null || true ;;
        esac
        port=$(instance_port "$inst")
        [[ $port == - ]] || ensure_port_free "$port" "$inst"
        write_instance_env "$inst"
        to_start+=("$inst")
    done
    ((${#to_start[@]} > 0)) || return 0
    log "starting ${to_start[*]}"
    # One supervisorctl per instance: given several names it starts them one after another.
    for inst in "${to_start[@]}"; do
        ctl start "$inst" >/dev/null 2>&1 &
        jobs[$inst]=$!
        fresh[$inst]=1
    done
    for inst in "${to_start[@]}"; do
        wait "${jobs[$inst]}" || failed+=("$inst")
    done
    if ((${#failed[@]} > 0)); then
        # supervisord may have restarted a crashed instance between our look and our start.
        read_states
        mapfile -t failed < <(for inst in "${failed[@]}"; do
            [[ ${PROC_STATE[$inst]:-} == RUNNING ]] || echo "$inst"
        done)
    fi
    ((${#failed[@]} == 0)) || app_failed "${failed[0]}" "it exited within 2s of its start (${failed[*]})"
    if [[ -n ${fresh[api]:-} ]]; then
        deadline=$((SECONDS + 60))
        until curl -fsS -o /dev/null --max-time 2 http://127.0.0.1:8080/healthz 2>/dev/null; do
            ((SECONDS < deadline)) || app_failed api "/healthz did not answer within 60s"
            sleep 0.5
        done
    fi
    for name in flower prometheus; do
        [[ -n ${fresh[$name]:-} ]] || continue
        read_states
        pid=${PROC_PID[$name]:-}
        wait_for_port "$(instance_port "$name")" 60 "$pid" ||
            app_failed "$name" "port $(instance_port "$name") not listening"
    done
}

# Stops the named components (every instance) or instances, in parallel: their grace periods
# overlap instead of adding up. Leftovers of an instance are ended even when supervisord is gone.
apps_stop() {
    local inst port rc=0
    local -a targets=() pids=()
    read_states
    mapfile -t targets < <(expand_instances "$@")
    for inst in "${targets[@]}"; do
        if [[ ${PROC_STATE[$inst]:-} == @(RUNNING|STARTING|BACKOFF) ]]; then
            log "stopping $inst (pid ${PROC_PID[$inst]:--})"
            ctl stop "$inst" >/dev/null &
            pids+=($!)
        fi
    done
    for port in "${pids[@]}"; do
        wait "$port" || rc=1
    done
    for inst in "${targets[@]}"; do
        stop_marked "$inst" -x "$(stack_marker "$inst")" 5
        port=$(instance_port "$inst")
        if [[ $port != - ]]; then
            wait_port_closed "$port" 15 || die "port $port still open after stopping $inst"
        fi
    done
    ((rc == 0)) || die "supervisorctl stop failed for some of: ${targets[*]}"
}

# make down: every instance, supervisord, and whatever any instance left behind; the counts go
# back to their defaults.
apps_down() {
    local port
    if supervisord_running; then
        log "stopping every application process"
        ctl stop all >/dev/null || warn "supervisorctl stop all failed"
    fi
    stop_daemon supervisord "$SUPERVISORD_PATTERN" 30
    stop_marked "the stack's applications" -F "TASKSTACK_PROCESS=$STACK_DIR/" 15
    for port in 8080 5555 9090; do
        wait_port_closed "$port" 15 || die "port $port still open after stopping the applications"
    done
    rm -f "$RUN_DIR/scale"
}

# One line per instance: NAME STATE pid=PID port=PORT [uptime].
apps_status() {
    local inst state
    read_states
    while read -r inst; do
        state=${PROC_STATE[$inst]:-STOPPED}
        state=${state,,}
        [[ $state != exited ]] || state=stopped
        printf '%-12s %-8s pid=%-8s port=%s%s\n' "$inst" "$state" "${PROC_PID[$inst]:--}" \
            "$(instance_port "$inst")" "${PROC_UPTIME[$inst]:+ uptime=${PROC_UPTIME[$inst]}}"
    done < <(configured_instances)
}
