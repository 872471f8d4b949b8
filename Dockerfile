# syntax=docker/dockerfile:1
# Tocsin application image: one image for every process (`tocsin db upgrade`, `tocsin ingest`,
# `tocsin console`, `tocsin notify`); docker-compose.yml picks the command.
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY . .
RUN pip wheel --wheel-dir /wheels .

FROM ${PYTHON_IMAGE}
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN groupadd --system --gid 10001 tocsin \
    && useradd --system --uid 10001 --gid tocsin --home-dir /app --shell /usr/sbin/nologin tocsin \
    && mkdir -p /app \
    && chown tocsin:tocsin /app
COPY --from=build /wheels /wheels
# The wheel ships the Alembic scripts (`tocsin/migrations/`): `tocsin db upgrade` needs nothing
# from the source tree.
RUN pip install --no-index --find-links /wheels tocsin && rm -rf /wheels
WORKDIR /app
USER tocsin:tocsin
EXPOSE 8000 9464
CMD ["tocsin", "--help"]
