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
COPY deploy/entrypoint.sh /usr/local/bin/siaga-entrypoint
RUN chmod 0755 /usr/local/bin/siaga-entrypoint && python -m compileall -q /app/service
USER siaga
EXPOSE 8000
VOLUME ["/var/lib/siaga"]
ENTRYPOINT ["siaga-entrypoint"]
CMD ["serve"]
