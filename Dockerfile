# syntax=docker/dockerfile:1
# The air-gapped build airlock prepares: every wheel comes from the wheelhouse bind mount, pinned
# and hash-checked by the exported lock; no index, no network fallback.
#   airlock sync && airlock export --format requirements-txt -o requirements.lock.txt
#   docker build --network=none .
FROM python:3.12-slim-bookworm
WORKDIR /app
RUN --mount=type=bind,source=wheelhouse,target=/wheelhouse \
    --mount=type=bind,source=requirements.lock.txt,target=/tmp/requirements.lock.txt \
    pip install --no-index --find-links /wheelhouse --require-hashes \
        -r /tmp/requirements.lock.txt
