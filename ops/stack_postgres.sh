#!/usr/bin/env bash
# PostgreSQL primary and streaming replica of the local stack.
# Sourced by ops/stack.sh, which defines the paths and helpers used here; not run on its own.
# shellcheck shell=bash

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
# A checkpoint every 15 minutes or 4 GB of WAL (defaults 5 min, 1 GB). Under a drain the WAL
# volume hurried every checkpoint: 190 MB of dirty pages written in 17 s, during which the whole
# stack slowed (bench, issue 12). Fewer checkpoints also mean fewer full-page images, which
# the first write of each page after one adds to the WAL. Crash recovery replays up to that much.
checkpoint_timeout = '15min'
max_wal_size = '4GB'
# Full-page images compressed (lz4, PostgreSQL 15+). After VACUUM frees room in old pages, new
# rows land in them and the first write of each page after a checkpoint logs the whole 8 kB
# page: in a drain just after the bench's VACUUM, 56 % of the WAL was full-page images of the
# tasks partition (pg_waldump --stats), 7 to 11 kB per task, and the replica receives, writes
# and fsyncs every byte of it. lz4 took that to 4.7 to 5.7 kB per task at a small CPU cost.
wal_compression = lz4
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
    # The primary answers the API's submits: it runs in a heavy cpu group (ops/cpu_groups.sh).
    pg_ctl_start postgres "$PGDATA" "$PG_LOG" 5432 0 database
}

# pg_ctl_start NAME DATA_DIR LOG PORT [NICENESS [CPU_GROUP]]: start one cluster and wait until it
# listens; every process of the cluster inherits NICENESS (0 when not given) and CPU_GROUP.
pg_ctl_start() {
    local name=$1 data=$2 logfile=$3 port=$4 niceness=${5:-0} group=${6:-}
    log "starting $name"
    if ! (
        close_extra_fds
        [[ -z $group ]] || cpu_group_enter "$group"
        pg_as nice -n "$niceness" \
            "$PG_BIN/pg_ctl" -D "$data" -l "$logfile" -w -t 60 start >/dev/null
    ); then
        show_log_tail "$logfile"
        die "$name did not start"
    fi
    wait_for_port "$port" 30 || die "$name started but does not listen on $port"
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
# Used by stack_apps.sh (the API's DATABASE_REPLICA_URL).
# shellcheck disable=SC2034
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
        session_nice "$pid" "$BACKGROUND_NICE"
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
    # No submit waits for the replica (the API writes to the primary, and looks a task the
    # replica has not replayed yet up on the primary), so it replays at the background priority;
    # lists and searches show its view, older while a long burst keeps it behind (README).
    pg_ctl_start replica "$REPLICA_DATA" "$REPLICA_LOG" "$REPLICA_PORT" \
        "$BACKGROUND_NICE" background
    # The postmaster's session only: each process it forks leads a session of its own (lib.sh).
    if pid=$(replica_pid); then
        session_nice "$pid" "$BACKGROUND_NICE"
    fi
}

replica_stop() {
    local pid
    replica_paths
    pid=$(replica_pid) || return 0
    log "stopping replica (pid $pid)"
    pg_as "$PG_BIN/pg_ctl" -D "$REPLICA_DATA" -m fast -w -t 60 stop >/dev/null
    wait_port_closed "$REPLICA_PORT" 15 || die "port $REPLICA_PORT still open after stopping the replica"
}
