# syntax=docker/dockerfile:1
# `airlock export --format pylock` wrote wheelhouse/pylock.app.toml: paths into the mount. The
# corpus's lock builds an sdist, so uv also needs --offline --find-links for its build
# requirements.
FROM python:3.12-slim-bookworm
RUN --mount=type=bind,source=wheelhouse,target=/wheelhouse \
    uv pip install --system --offline --find-links /wheelhouse -r /wheelhouse/pylock.app.toml
