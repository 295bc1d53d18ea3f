#!/bin/sh
# Runs once, on the first start of an empty PostgreSQL volume: one database per service,
# all owned by the application role created from POSTGRES_USER.
set -eu
for db in kyc attestation enforcement; do
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    -c "CREATE DATABASE $db OWNER \"$POSTGRES_USER\";"
done
