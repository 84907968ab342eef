# syntax=docker/dockerfile:1
# The wheelhouse assembled in a stage of its own from the build context, then mounted into
# the install with --mount=from: still air-gapped.
FROM scratch AS wheels
COPY wheelhouse /wheelhouse

FROM python:3.12-slim-bookworm
RUN --mount=type=bind,from=wheels,source=/wheelhouse,target=/wheelhouse \
    --mount=type=bind,source=requirements.lock.txt,target=/tmp/requirements.lock.txt \
    pip install --no-index --find-links /wheelhouse --require-hashes -r /tmp/requirements.lock.txt
