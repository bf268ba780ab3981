#!/usr/bin/env bash
# Run once by the postgres image on an empty data folder (/docker-entrypoint-initdb.d): lets the
# replica stream from this primary. The image's own pg_hba.conf line does not cover replication.
set -euo pipefail
printf 'host replication all all scram-sha-256\n' >>"$PGDATA/pg_hba.conf"
