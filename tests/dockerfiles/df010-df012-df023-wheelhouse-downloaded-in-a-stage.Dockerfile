# syntax=docker/dockerfile:1
# The "wheelhouse" the install mounts is downloaded by an earlier stage: not air-gapped.
FROM python:3.12-slim-bookworm AS wheels
COPY requirements.lock.txt /tmp/requirements.lock.txt
RUN pip download --dest /wheelhouse -r /tmp/requirements.lock.txt

FROM python:3.12-slim-bookworm
RUN --mount=type=bind,from=wheels,source=/wheelhouse,target=/wheelhouse \
    --mount=type=bind,source=requirements.lock.txt,target=/tmp/requirements.lock.txt \
    pip install --no-index --find-links /wheelhouse --require-hashes -r /tmp/requirements.lock.txt
