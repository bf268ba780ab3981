#!/usr/bin/env bash
# Re-drive dead-lettered tasks: a thin wrapper of `taskctl dlt redrive` for those who expect a
# script. Every option is passed through, e.g. ops/redrive.sh --type fail --dry-run
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
exec "$REPO/.venv/bin/taskctl" dlt redrive "$@"
