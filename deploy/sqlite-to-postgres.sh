#!/usr/bin/env bash
# Copies a Conduit SQLite database into a new, empty PostgreSQL database: teams, users, API keys
# (their hashes: every key keeps working), limits, what this minute and month have used of them,
# usage history and logins.
#
#   deploy/sqlite-to-postgres.sh DATA_DIR/conduit.sqlite postgres://user:pass@host:5432/conduit
#
# Stop the server first. Needs sqlite3 and psql (Debian: sqlite3, postgresql-client) and `conduit`
# on PATH (or CONDUIT=/path/to/conduit). Everything is copied in one transaction: on any error,
# nothing is.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 SQLITE_FILE POSTGRES_URL" >&2; exit 64; }
SQLITE="$1"
PG_URL="$2"
CONDUIT="${CONDUIT:-conduit}"
TABLES="teams users api_keys rate_counters usage_events refresh_tokens"

[ -f "$SQLITE" ] || { echo "no such file: $SQLITE" >&2; exit 66; }
# Both at the same (latest) schema, so the columns line up.
"$CONDUIT" migrate --database-url "sqlite://$(realpath "$SQLITE")" >&2
"$CONDUIT" migrate --database-url "$PG_URL" >&2
for table in $TABLES; do
    count="$(psql "$PG_URL" -Atqc "SELECT count(*) FROM $table")"
    [ "$count" = 0 ] || { echo "$table already has $count rows in PostgreSQL: copy into an empty database" >&2; exit 65; }
done

{
    for table in $TABLES; do
        echo "\\copy $table FROM STDIN WITH (FORMAT csv, HEADER true)"
        # NULL is written as an empty unquoted field, which PostgreSQL's csv format reads as NULL.
        sqlite3 -bail -header -csv "$SQLITE" "SELECT * FROM $table"
        echo '\.'
    done
} | psql "$PG_URL" -v ON_ERROR_STOP=1 --single-transaction -q

for table in $TABLES; do
    echo "$table: $(sqlite3 "$SQLITE" "SELECT count(*) FROM $table") rows in SQLite, $(psql "$PG_URL" -Atqc "SELECT count(*) FROM $table") in PostgreSQL"
done
