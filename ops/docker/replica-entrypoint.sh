#!/usr/bin/env bash
# Entry point of the `postgres-replica` service: on an empty volume, clone the primary with
# pg_basebackup -R (which writes standby.signal and primary_conninfo) from a physical
# replication slot, then run as a hot standby. The slot makes the primary keep every WAL segment
# this replica has not received yet, so a replica that was down catches up by streaming instead
# of failing on a removed segment (the primary's max_slot_wal_keep_size bounds how much).
set -euo pipefail
: "${PGDATA:?}" "${PRIMARY_HOST:?}" "${PGUSER:?}" "${PGPASSWORD:?}" "${REPLICATION_SLOT:?}"
if [[ ! -s $PGDATA/PG_VERSION ]]; then
    until pg_isready -h "$PRIMARY_HOST" -U "$PGUSER" -q; do
        sleep 1
    done
    # The slot outlives a clone (a replica volume recreated reuses it), so create it only when
    # missing; -C would fail on an existing one. -S with -R also writes primary_slot_name.
    psql -h "$PRIMARY_HOST" -d postgres -v ON_ERROR_STOP=1 -qAt -v slot="$REPLICATION_SLOT" <<'SQL'
SELECT pg_create_physical_replication_slot(:'slot')
WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = :'slot');
SQL
    pg_basebackup -h "$PRIMARY_HOST" -U "$PGUSER" -D "$PGDATA" -R -X stream -S "$REPLICATION_SLOT" -c fast
    chmod 700 "$PGDATA"
fi
exec postgres -c hot_standby=on -c hot_standby_feedback=on -c max_connections=300
