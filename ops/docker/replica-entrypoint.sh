#!/usr/bin/env bash
# Entry point of the `postgres-replica` service: on an empty volume, clone the primary with
# pg_basebackup -R (which writes standby.signal and primary_conninfo), then run as a hot standby.
set -euo pipefail
: "${PGDATA:?}" "${PRIMARY_HOST:?}" "${PGUSER:?}" "${PGPASSWORD:?}"
if [[ ! -s $PGDATA/PG_VERSION ]]; then
    until pg_isready -h "$PRIMARY_HOST" -U "$PGUSER" -q; do
        sleep 1
    done
    pg_basebackup -h "$PRIMARY_HOST" -U "$PGUSER" -D "$PGDATA" -R -X stream -c fast
    chmod 700 "$PGDATA"
fi
exec postgres -c hot_standby=on -c hot_standby_feedback=on -c max_connections=300
