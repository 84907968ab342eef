# syntax=docker/dockerfile:1
# `pip install six>=1.16` unquoted: the shell installs any six and writes pip's output to a
# file named `=1.16`.
FROM python:3.12-slim-bookworm
COPY requirements.lock.txt /tmp/
RUN --mount=type=bind,source=wheelhouse,target=/wheelhouse \
    pip install --no-index --find-links /wheelhouse --require-hashes -r /tmp/requirements.lock.txt six>=1.16
