# shellcheck shell=bash
# Helpers for ops/stack.sh and ops/stack_run.sh: messages, ports, processes marked by their
# environment, pid files and detached daemons.
# Sourced, never run; the caller has set -euo pipefail and defines REPO, STACK_DIR, RUN_DIR and
# LOG_DIR.

log() { printf '[stack] %s\n' "$*"; }
warn() { printf '[stack] warning: %s\n' "$*" >&2; }
die() {
    printf '[stack] error: %s\n' "$*" >&2
    exit 1
}

# Prints the last lines of a log to stderr, so a failed start explains itself in CI output.
show_log_tail() {
    local file=$1 lines=${2:-30}
    [[ -e $file ]] || return 0
    printf '[stack] ---- last %s lines of %s ----\n' "$lines" "$file" >&2
    tail -n "$lines" -- "$file" >&2 || true
    printf '[stack] ----\n' >&2
}

# --- ports -----------------------------------------------------------------------------------

# True when something accepts TCP connections on 127.0.0.1:<port>. Uses bash's /dev/tcp so no
# client tool is needed; the timeout covers a listener whose accept backlog is full.
port_open() {
    timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

# wait_for_port PORT TIMEOUT_S [PID]: waits until the port listens; gives up early when PID dies,
# so a daemon that crashes at start fails in seconds instead of after the whole timeout.
wait_for_port() {
    local port=$1 deadline=$((SECONDS + $2)) pid=${3:-}
    until port_open "$port"; do
        if [[ -n $pid ]] && ! proc_running "$pid"; then
            return 1
        fi
        ((SECONDS < deadline)) || return 1
        sleep 0.2
    done
}

wait_port_closed() {
    local port=$1 deadline=$((SECONDS + $2))
    while port_open "$port"; do
        ((SECONDS < deadline)) || return 1
        sleep 0.2
    done
}

# Refuses to start a component whose port is taken by something else (a Debian-started service,
# another checkout's stack): starting anyway would leave a daemon that crashes on bind.
ensure_port_free() {
    local port=$1 name=$2
    if port_open "$port"; then
        die "port $port is in use by a process this stack did not start; cannot start $name"
    fi
}

# --- processes -------------------------------------------------------------------------------

# Prints a process's command line; fails for a missing pid and for a zombie (whose cmdline is
# empty), which a bare `kill -0` would report as alive.
proc_cmdline() {
    local -a argv=()
    mapfile -d '' argv 2>/dev/null <"/proc/$1/cmdline" || return 1
    ((${#argv[@]} > 0)) || return 1
    printf '%s\n' "${argv[*]}"
}

proc_alive() {
    [[ $1 =~ ^[0-9]+$ ]] && proc_cmdline "$1" >/dev/null
}

# True while PID exists and has not exited (a zombie has). Unlike proc_alive it does not read
# the command line, which is empty for an instant while a process execs: a daemon started
# through `setsid nohup java` execs three times, and a start once failed at once with "did not
# listen within 60s" because the check landed in one of those instants.
proc_running() {
    local stat
    [[ $1 =~ ^[0-9]+$ ]] || return 1
    { stat=$(<"/proc/$1/stat"); } 2>/dev/null || return 1
    [[ ${stat##*) } != Z* ]]
}

# True when PID is alive and its command line contains PATTERN. Pid files can outlive their
# process (a reboot, a SIGKILL); this keeps a reused pid from being mistaken for ours.
proc_matches() {
    local pid=$1 pattern=$2 cmdline
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    cmdline=$(proc_cmdline "$pid") || return 1
    [[ $cmdline == *"$pattern"* ]]
}

# Live (non-zombie) members of a process group. Every daemon runs in its own session, so its
# group holds the children it forked (the API's server and Celery workers) even after the leader died.
group_pids() {
    local pgid=$1 f line state pgrp
    for f in /proc/[0-9]*/stat; do
        read -r line 2>/dev/null <"$f" || continue
        # The command name in parentheses may contain spaces; the fields after it do not.
        read -r state _ pgrp _ <<<"${line##*) }"
        if [[ $pgrp == "$pgid" && $state != Z ]]; then
            f=${f#/proc/}
            printf '%s\n' "${f%/stat}"
        fi
    done
}

# Closes every inherited descriptor above stderr. A daemon that kept a copy of the caller's
# output pipe (CI reads this script through one) would make the reader wait forever.
close_extra_fds() {
    local fd
    for fd in /proc/"$BASHPID"/fd/*; do
        fd=${fd##*/}
        if ((fd > 2 && fd != 255)); then
            eval "exec $fd>&-" 2>/dev/null || true
        fi
    done
}

# --- marked processes ------------------------------------------------------------------------

# The environment entry every process of one application instance inherits (ops/stack_run.sh
# sets it), so its leftovers are found whatever became of their parent or process group.
stack_marker() { printf 'TASKSTACK_PROCESS=%s/%s\n' "$STACK_DIR" "$1"; }

# marked_pids -x|-F ENTRY: live processes whose environment holds ENTRY whole (-x) or holds an
# entry containing it (-F). Zombies have an empty environment and are never listed.
marked_pids() {
    local mode=$1 entry=$2 file pid
    local -a how=(-lzF)
    [[ $mode != -x ]] || how=(-lzxF)
    while IFS= read -r file; do
        pid=${file#/proc/}
        pid=${pid%/environ}
        [[ $pid == "$$" || $pid == "$BASHPID" ]] || printf '%s\n' "$pid"
    done < <(grep "${how[@]}" -e "$entry" /proc/[0-9]*/environ 2>/dev/null || true)
}

# stop_marked LABEL -x|-F ENTRY TIMEOUT_S: SIGTERM to every process marked ENTRY, SIGKILL to
# those still there after TIMEOUT_S; returns once they are gone.
stop_marked() {
    local label=$1 mode=$2 entry=$3 timeout_s=$4 pids deadline
    pids=$(marked_pids "$mode" "$entry")
    [[ -n $pids ]] || return 0
    log "stopping leftover processes of $label: ${pids//$'\n'/ }"
    # shellcheck disable=SC2086 # one pid per word
    kill -TERM $pids 2>/dev/null || true
    deadline=$((SECONDS + timeout_s))
    while [[ -n $(marked_pids "$mode" "$entry") ]] && ((SECONDS < deadline)); do
        sleep 0.2
    done
    pids=$(marked_pids "$mode" "$entry")
    [[ -n $pids ]] || return 0
    warn "$label: processes still running after ${timeout_s}s, sending SIGKILL"
    # shellcheck disable=SC2086 # one pid per word
    kill -KILL $pids 2>/dev/null || true
    deadline=$((SECONDS + 10))
    while [[ -n $(marked_pids "$mode" "$entry") ]]; do
        ((SECONDS < deadline)) || die "$label: processes survived SIGKILL"
        sleep 0.2
    done
}

# --- pid-file daemons ------------------------------------------------------------------------

pid_file() { printf '%s/%s.pid\n' "$RUN_DIR" "$1"; }

read_pid_file() {
    local file pid=
    file=$(pid_file "$1")
    [[ -s $file ]] || return 1
    read -r pid <"$file" || [[ -n $pid ]] || return 1
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    printf '%s\n' "$pid"
}

# daemon_pid NAME PATTERN: prints the pid of the running daemon NAME, or fails.
daemon_pid() {
    local pid
    pid=$(read_pid_file "$1") || return 1
    proc_matches "$pid" "$2" || return 1
    printf '%s\n' "$pid"
}

# start_daemon NAME PATTERN CMD...: starts CMD from the repo root in a new session, with stdin,
# stdout and stderr detached (stdout and stderr appended to .stack/logs/NAME.log), and records
# its pid. Sets STARTED_PID to the new pid, or to "" when NAME was already running.
STARTED_PID=
start_daemon() {
    local name=$1 pattern=$2 pid
    shift 2
    STARTED_PID=
    if pid=$(daemon_pid "$name" "$pattern"); then
        log "$name already running (pid $pid)"
        return 0
    fi
    # Children of a leader that died (SIGKILL in a fault test) may still hold its port.
    stop_daemon "$name" "$pattern" 5
    log "starting $name"
    (
        cd "$REPO" || exit 1
        close_extra_fds
        # START_CPU_GROUP (the caller's, for this call only): the cpu group the daemon runs in.
        [[ -z ${START_CPU_GROUP:-} ]] || cpu_group_enter "$START_CPU_GROUP"
        # setsid execs in place here: a background subshell of a script is never a process
        # group leader, so $! below is the daemon's own pid and its session and group id.
        exec setsid nohup "$@" </dev/null >>"$LOG_DIR/$name.log" 2>&1
    ) &
    STARTED_PID=$!
    printf '%s\n' "$STARTED_PID" >"$(pid_file "$name")"
}

# session_nice PID NICENESS: give the session PID leads the niceness its processes were started
# with. Under the kernel's autogroup scheduling (sched(7); on here and on many distributions'
# kernels) CPU time is shared between sessions first, and a process's nice value only ranks it
# among the processes of its own session. A daemon in a session of its own (start_daemon's
# setsid, pg_ctl's postmaster) therefore ignored `nice -n 19` and competed with the API as an
# equal: the session's autogroup takes the niceness instead. Only the group of a session leader
# is changed, so a caller's terminal session is never touched; a no-op without autogroup.
# It reaches the processes of that session only: PostgreSQL makes every process it forks a
# session leader of its own (the replica's startup process and WAL receiver included), so for
# the replica it ranks the postmaster alone; the cpu groups (ops/cpu_groups.sh), where the
# machine has them, reach every process of a cluster.
session_nice() {
    local pid=$1 niceness=$2 sid
    [[ -w /proc/$pid/autogroup ]] || return 0
    # Field 6 of /proc/PID/stat, the 4th after the command name (which may hold spaces).
    sid=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f4) || return 0
    [[ $sid == "$pid" ]] || return 0
    printf '%s\n' "$niceness" 2>/dev/null >"/proc/$pid/autogroup" ||
        warn "could not set the scheduling group of pid $pid to niceness $niceness"
}

# stop_daemon NAME PATTERN TIMEOUT_S [PORT...]: SIGTERM to the daemon, then SIGKILL to whatever
# is left of its process group after TIMEOUT_S; returns once the group is gone and the ports
# are closed. A no-op when NAME is not running.
stop_daemon() {
    local name=$1 pattern=$2 timeout_s=$3 pid port deadline leftovers
    shift 3
    pid=$(read_pid_file "$name") || return 0
    if proc_alive "$pid" && ! proc_matches "$pid" "$pattern"; then
        # The pid now belongs to an unrelated process: the daemon died long ago.
        rm -f "$(pid_file "$name")"
        return 0
    fi
    if proc_alive "$pid"; then
        log "stopping $name (pid $pid)"
        kill -TERM "$pid" 2>/dev/null || true
    else
        leftovers=$(group_pids "$pid")
        if [[ -z $leftovers ]]; then
            rm -f "$(pid_file "$name")"
            return 0
        fi
        # The leader is gone but its children are not: nobody else will tell them to stop.
        log "stopping leftover processes of $name"
        # shellcheck disable=SC2086 # one pid per word
        kill -TERM $leftovers 2>/dev/null || true
    fi
    deadline=$((SECONDS + timeout_s))
    while [[ -n $(group_pids "$pid") ]] && ((SECONDS < deadline)); do
        sleep 0.2
    done
    leftovers=$(group_pids "$pid")
    if [[ -n $leftovers ]]; then
        warn "$name still running after ${timeout_s}s, sending SIGKILL"
        # shellcheck disable=SC2086 # one pid per word
        kill -KILL $leftovers 2>/dev/null || true
        deadline=$((SECONDS + 10))
        while [[ -n $(group_pids "$pid") ]]; do
            ((SECONDS < deadline)) || die "$name (process group $pid) survived SIGKILL"
            sleep 0.2
        done
    fi
    rm -f "$(pid_file "$name")"
    for port in "$@"; do
        wait_port_closed "$port" 15 || die "port $port still open after stopping $name"
    done
}

# shellcheck source=ops/cpu_groups.sh
source "$REPO/ops/cpu_groups.sh"
