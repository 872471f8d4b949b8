# syntax=docker/dockerfile:1
# Tocsin application image: one image for every process (`tocsin db upgrade`, `tocsin ingest`,
# `tocsin console`, `tocsin notify`); docker-compose.yml picks the command.
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY . .
# Every dependency at the version pinned in requirements.lock (runtime only, `make lock`).
RUN pip wheel --wheel-dir /wheels -r requirements.lock .
RUN cp requirements.lock /wheels/requirements.lock

FROM ${PYTHON_IMAGE}
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# /app/exports: where docker-compose.yml mounts the writable `exports` volume (a new named
# volume takes this directory's owner, so the tocsin user can write there).
RUN groupadd --system --gid 10001 tocsin \
    && useradd --system --uid 10001 --gid tocsin --home-dir /app --shell /usr/sbin/nologin tocsin \
    && mkdir -p /app/exports \
    && chown tocsin:tocsin /app /app/exports
# The wheels are bind-mounted from the build stage for this one step, so no layer keeps them.
# Runtime dependencies only: the embedded broker (`demo` extra) is not installed.
# The wheel ships the Alembic scripts (`tocsin/migrations/`): `tocsin db upgrade` needs nothing
# from the source tree.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-index --find-links /wheels -r /wheels/requirements.lock tocsin \
    && pip check
WORKDIR /app
USER tocsin:tocsin
EXPOSE 8000 9464
CMD ["tocsin", "--help"]
