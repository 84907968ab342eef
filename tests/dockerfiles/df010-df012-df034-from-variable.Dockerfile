# syntax=docker/dockerfile:1
ARG WHEELS_STAGE=wheels
FROM scratch AS wheels
COPY wheelhouse /wheelhouse

FROM python:3.12-slim-bookworm
RUN --mount=type=bind,from=$WHEELS_STAGE,source=/wheelhouse,target=/wheelhouse \
    --mount=type=bind,source=requirements.lock.txt,target=/tmp/requirements.lock.txt \
    pip install --no-index --find-links /wheelhouse --require-hashes -r /tmp/requirements.lock.txt
