#!/bin/sh
# Container entrypoint: migrate the database to head, then run `siaga <command>`.
# Several containers may start at once: migrations take a PostgreSQL advisory lock, so one
# applies them and the others wait and find nothing to do. SIAGA_MIGRATE_ON_START=0 skips it.
set -eu
if [ -n "${PROMETHEUS_MULTIPROC_DIR:-}" ]; then
    # Metrics files of a previous run would be summed into this one's.
    rm -rf "${PROMETHEUS_MULTIPROC_DIR:?}"/* 2>/dev/null || true
    mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
fi
if [ "${SIAGA_MIGRATE_ON_START:-1}" = "1" ]; then
    python -m service db upgrade
fi
exec python -m service "$@"
