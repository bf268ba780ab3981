# shellcheck shell=bash
# CPU groups of the local stack, sourced by ops/lib.sh: the API ("api") and the primary PostgreSQL
# ("database") run in cpu cgroups of a high weight each, everything that drains tasks behind them
# (relay, bridge, worker, maintenance, beat, Flower, Prometheus, Kafka, the replica) in one of a
# low weight ("background"); Redis, which both sides use, stays where the stack was started.
#
# Why cgroups on top of the niceness the stack already gives the background (BACKGROUND_NICE):
# under the kernel's autogroup scheduling, niceness only ranks processes inside their session's
# group, and PostgreSQL makes every backend a session of its own. So each backend, the worker's
# included, weighed as much as all the API's threads together, and the niced processes sharing
# the API's session ran on its group's weight whenever the API waited on PostgreSQL. A cgroup
# ignores sessions: with the API and the primary in heavy groups and the drain in a light one,
# the API kept 0.99-1.09 cores while the stack drained its submits, against 0.72-0.78 with
# niceness alone (docs/capacity.md, "eighth" update). The drain still takes every cycle the API
# and the database leave, so it catches up as soon as a burst ends. The database has a group of
# its own so that inside it a backend competes with backends only, not with the API's threads.
#
# The same split as Kubernetes' CPU requests (cpu.shares/cpu.weight per pod), on one machine.
# Only root may create cgroups: elsewhere, or with CPU_GROUPS=0, the functions do nothing and the
# niceness alone applies. The groups are created under the cpu cgroup the stack was started in,
# so a stack started inside a limited cgroup stays inside its limits.

CPU_GROUP_PREFIX=taskservice
# cgroup v1 cpu.shares (the default is 1024). The ratio, 512 to 1, is about that of niceness -10
# to 19; the background at 16 still gets a share under an API saturating every core.
declare -A CPU_GROUP_SHARES=([api]=8192 [database]=8192 [background]=16)

# Prints the cgroup v1 cpu hierarchy's mount point and this shell's path in it ("" when the cpu
# controller has no v1 hierarchy here).
cpu_cgroup_v1() {
    local base path
    for base in /sys/fs/cgroup/cpu /sys/fs/cgroup/cpu,cpuacct; do
        [[ -f $base/cpu.shares ]] || continue
        # /proc/self/cgroup: "ID:cpu,cpuacct:/path" for v1 hierarchies.
        path=$(awk -F: '$2 ~ /(^|,)cpu(,|$)/ { print $3; exit }' /proc/self/cgroup)
        printf '%s %s\n' "$base" "${path:-/}"
        return 0
    done
    return 1
}

# cpu_group_dir NAME: creates cgroup NAME (api, database, background) with its weight if needed
# and prints its directory; fails when this machine cannot give one.
cpu_group_dir() {
    local name=$1 shares=${CPU_GROUP_SHARES[$1]} base path dir weight parent
    [[ ${CPU_GROUPS:-1} != 0 && $EUID -eq 0 ]] || return 1
    if read -r base path < <(cpu_cgroup_v1); then
        dir=${base}${path%/}/$CPU_GROUP_PREFIX-$name
        mkdir -p "$dir" 2>/dev/null || return 1
        printf '%s\n' "$shares" 2>/dev/null >"$dir/cpu.shares" || return 1
    elif [[ -f /sys/fs/cgroup/cgroup.controllers ]]; then
        # cgroup v2: cpu.weight is 1-10000 with a default of 100, so the same ratios scaled.
        path=$(awk -F: '$1 == "0" { print $3; exit }' /proc/self/cgroup)
        parent=/sys/fs/cgroup${path%/}
        grep -qw cpu "$parent/cgroup.subtree_control" 2>/dev/null ||
            printf '+cpu\n' 2>/dev/null >"$parent/cgroup.subtree_control" || return 1
        dir=$parent/$CPU_GROUP_PREFIX-$name
        weight=$(((shares * 100 + 1023) / 1024))
        mkdir -p "$dir" 2>/dev/null || return 1
        printf '%s\n' "$weight" 2>/dev/null >"$dir/cpu.weight" || return 1
    else
        return 1
    fi
    printf '%s\n' "$dir"
}

# cpu_group_enter NAME: moves the calling (sub)shell into cgroup NAME, so that what it runs or
# execs from then on, and every process those fork, runs there. A no-op without cpu groups.
cpu_group_enter() {
    local dir
    dir=$(cpu_group_dir "$1") || return 0
    printf '%s\n' "$BASHPID" 2>/dev/null >"$dir/cgroup.procs" || true
}

# Prints one line saying whether the stack runs in cpu groups, for `make up`.
cpu_groups_report() {
    local api db bg
    if api=$(cpu_group_dir api) && db=$(cpu_group_dir database) &&
        bg=$(cpu_group_dir background); then
        log "cpu groups: $api, $db (the primary PostgreSQL), $bg (the drain, Kafka, the replica)"
    else
        log "cpu groups: off (they need root and a writable cpu cgroup;" \
            "CPU_GROUPS=${CPU_GROUPS:-1}): niceness only"
    fi
}
