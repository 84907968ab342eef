# syntax=docker/dockerfile:1
FROM python:3.12-slim-bookworm
RUN --mount=type=bind,source=wheelhouse,target=/wheelhouse \
    --mount=type=bind,source=requirements.lock.txt,target=/tmp/requirements.lock.txt <<EOF
pip install --no-index --find-links /wheelhouse --require-hashes -r /tmp/requirements.lock.txt
echo installed
EOF
