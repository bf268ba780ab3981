#!/usr/bin/env bash
# Re-drive dead-lettered tasks: a thin wrapper of `taskctl dlt redrive` for those who expect a
# script. Every option is passed through, e.g. ops/redrive.sh --type fail --dry-run
# `taskctl dlt redrive` is a client of the API's re-drives; on the local stack it signs in with
# the stack's development key unless TASKCTL_API_KEY says otherwise.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
if [[ -z ${TASKCTL_API_KEY:-} && -r $REPO/.stack/dev-api-key ]]; then
    TASKCTL_API_KEY=$(<"$REPO/.stack/dev-api-key")
    export TASKCTL_API_KEY
fi
exec "$REPO/.venv/bin/taskctl" dlt redrive "$@"
