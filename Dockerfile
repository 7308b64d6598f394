# The user-code image: serves vidpipe's definitions over gRPC to a Dagster webserver and daemon
# that run elsewhere (their dagster.yaml is the production one at the repo root).
# Not built in this project's CI (no Docker engine there); kept minimal for that reason.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    VIDPIPE_MODEL_BACKEND=vertex \
    VIDPIPE_WORKSPACE_ROOT=/tmp/vidpipe-workspaces

WORKDIR /opt/vidpipe
COPY pyproject.toml README.md ./
COPY vidpipe_dagster ./vidpipe_dagster
# ffmpeg comes from the imageio-ffmpeg wheel, probing from PyAV: no apt packages needed.
RUN pip install --no-cache-dir . && useradd --create-home vidpipe
USER vidpipe

EXPOSE 4000
CMD ["dagster", "code-server", "start", "-h", "0.0.0.0", "-p", "4000", "-m", "vidpipe_dagster.definitions"]
