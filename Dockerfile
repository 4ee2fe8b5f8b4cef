# syntax=docker/dockerfile:1
# Siaga: API and worker image. Multi-stage, slim, non-root. GDAL, GEOS and PROJ come inside
# the rasterio/pyogrio/shapely/pyproj wheels and libpq inside psycopg[binary]: no OS GIS
# packages, no compiler in the final image.
#   docker build -t siaga .
#   docker compose up -d          (see compose.yaml and docs/ops.md)

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY pyproject.toml README.md ./
COPY service ./service
# Install the dependencies (wheels only: fail rather than compile), then drop the package
# itself: the runtime runs the source tree in /app, where migrations/ sits beside it.
RUN pip install --upgrade pip \
    && pip install --only-binary=:all: --prefer-binary . \
    && pip uninstall -y siaga

FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SIAGA_ENV=production \
    SIAGA_LOG_JSON=true \
    SIAGA_API_HOST=0.0.0.0 \
    SIAGA_STORAGE_DATA_DIR=/var/lib/siaga/data
RUN groupadd --system --gid 10001 siaga \
    && useradd --system --uid 10001 --gid siaga --home-dir /var/lib/siaga --shell /usr/sbin/nologin siaga \
    && mkdir -p /var/lib/siaga/data \
    && chown -R siaga:siaga /var/lib/siaga
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY pyproject.toml ./
COPY migrations ./migrations
COPY service ./service
# The entrypoint: migrate to head, then run `siaga <command>`.
COPY --chmod=0755 <<'ENTRYPOINT_SH' /usr/local/bin/siaga-entrypoint
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
ENTRYPOINT_SH
RUN python -m compileall -q /app/service
USER siaga
EXPOSE 8000
VOLUME ["/var/lib/siaga"]
ENTRYPOINT ["siaga-entrypoint"]
CMD ["serve"]
