FROM python:3.12-slim-bookworm
# syntax=docker/dockerfile:1
RUN --mount=type=bind,source=wheelhouse,target=/wheelhouse \
    --mount=type=bind,source=requirements.lock.txt,target=/tmp/requirements.lock.txt \
    pip install --no-index --find-links /wheelhouse --require-hashes -r /tmp/requirements.lock.txt
