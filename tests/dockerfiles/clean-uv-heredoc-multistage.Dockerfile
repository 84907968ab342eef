# syntax=docker/dockerfile:1
ARG WHEELS=wheelhouse
FROM python:3.12-slim-bookworm AS base
RUN rm -f /etc/apt/apt.conf.d/docker-clean

FROM base AS app
ARG WHEELS
COPY lockfiles/pylock.app.toml /locks/
RUN --mount=type=cache,target=/var/cache/apt,sharing=locked,id=apt \
    --mount=type=bind,src=${WHEELS},dst=/w <<EOF
set -e
apt-get install -y --no-download libgomp1 || true
uv pip install --system --offline --find-links /w -r /locks/pylock.app.toml
EOF
