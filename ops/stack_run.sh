#!/usr/bin/env bash
# Runs one application process instance of the local stack; supervisord starts it, and starts it
# again after every crash (ops/supervisor/program.conf.in).
#
#   ops/stack_run.sh NAME COMMAND...
#
# Before it execs COMMAND it appends its output to .stack/logs/NAME.log, ends what a previous
# life of NAME left behind (the children of a leader killed with SIGKILL keep its port and its
# multiprocess files), empties the instance's metrics folder and replaces its environment with
# the one `ops/stack.sh start` wrote for NAME, so a restart runs with the settings of the start.
set -euo pipefail

NAME=$1
shift
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
STACK_DIR=$REPO/.stack
# lib.sh expects these three; this script only uses its process helpers.
RUN_DIR=$STACK_DIR/run
LOG_DIR=$STACK_DIR/logs
# shellcheck source=ops/lib.sh
source "$REPO/ops/lib.sh"

exec >>"$LOG_DIR/$NAME.log" 2>&1

env_file=$STACK_DIR/env/$NAME.env
[[ -r $env_file ]] || die "no environment for $NAME in $env_file: start it with ops/stack.sh start"

# The marker every process of this instance inherits, by which a later start or `make down`
# finds leftovers whatever became of their parent.
marker=$(stack_marker "$NAME")
stop_marked "$NAME" -x "$marker" 5

mapfile -d '' vars <"$env_file"
niceness=0
for var in "${vars[@]}"; do
    [[ $var != STACK_NICE=* ]] || niceness=${var#*=}
    [[ $var != STACK_CPU_GROUP=* ]] || cpu_group_enter "${var#*=}"
    if [[ $var == PROMETHEUS_MULTIPROC_DIR=* ]]; then
        # Files of a previous life would add old samples to the new ones, and counters would
        # never restart at zero (prometheus_client's multiprocess mode).
        rm -rf "${var#*=}"
        mkdir -p "${var#*=}"
    fi
done

exec nice -n "$niceness" env -i "${vars[@]}" "$marker" "$@"
