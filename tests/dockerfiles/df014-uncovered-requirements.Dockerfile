# syntax=docker/dockerfile:1
FROM python:3.12-slim-bookworm
COPY requirements/extra.txt /tmp/extra.txt
RUN --mount=type=bind,source=wheelhouse,target=/wheelhouse \
    pip install --no-index --find-links /wheelhouse --require-hashes -r /tmp/extra.txt
