#!/usr/bin/env bash
# Create the two PostgreSQL roles and the database. Run once, as a PostgreSQL superuser.
#   mip_owner: owns the tables, runs migrations (and creates test databases).
#   mip_app:   what the web, worker and beat processes connect as: not superuser,
#              not owner, NOBYPASSRLS, so row-level security applies to every query.
set -euo pipefail
PGHOST=${PGHOST:-127.0.0.1}
PGPORT=${PGPORT:-5432}
PGSUPERUSER=${PGSUPERUSER:-postgres}
DB_NAME=${DB_NAME:-mip}
OWNER_ROLE=${OWNER_ROLE:-mip_owner}
APP_ROLE=${APP_ROLE:-mip_app}
psql_super() { psql -v ON_ERROR_STOP=1 -q -h "$PGHOST" -p "$PGPORT" -U "$PGSUPERUSER" "$@"; }

psql_super -d postgres <<SQL
DO \$\$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$OWNER_ROLE') THEN
    CREATE ROLE $OWNER_ROLE LOGIN CREATEDB NOSUPERUSER NOBYPASSRLS;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$APP_ROLE') THEN
    CREATE ROLE $APP_ROLE LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
  END IF;
END
\$\$;
ALTER ROLE $APP_ROLE NOSUPERUSER NOBYPASSRLS;
SQL
if ! psql_super -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'" | grep -q 1; then
  psql_super -d postgres -c "CREATE DATABASE $DB_NAME OWNER $OWNER_ROLE"
fi
psql_super -d "$DB_NAME" -c "GRANT CONNECT ON DATABASE $DB_NAME TO $APP_ROLE; ALTER SCHEMA public OWNER TO $OWNER_ROLE;"
echo "PostgreSQL roles $OWNER_ROLE (owner) and $APP_ROLE (application) and database $DB_NAME are ready."
