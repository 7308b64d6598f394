# The user-code image: `dagster api grpc` serving vidpipe's definitions to a webserver and daemon
# that run elsewhere (deploy/Dockerfile.dagster), and the image every run container starts from
# (DockerRunLauncher, K8sRunLauncher). Build from the repository root:
#   docker build -t vidpipe-user-code:latest .
# ffmpeg comes from the imageio-ffmpeg wheel, decoding from PyAV, libpq from psycopg2-binary:
# no apt packages.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1

# A numeric user, so Kubernetes' runAsNonRoot can check it without reading /etc/passwd.
ARG UID=10001
RUN useradd --uid "${UID}" --user-group --no-create-home --home-dir /var/lib/vidpipe vidpipe

WORKDIR /opt/vidpipe
# The dependencies, exactly as locked (`uv pip compile`, see the lock's header), in a layer of
# their own: changing vidpipe's code does not reinstall them.
COPY deploy/requirements.lock ./
RUN pip install --no-deps -r requirements.lock
COPY pyproject.toml README.md ./
COPY vidpipe_dagster ./vidpipe_dagster
RUN pip install --no-deps .

# Writable state lives outside the code: Dagster's home (the production dagster.yaml) and the
# folder the Compose stack mounts as a volume (a folder inbox, step workspaces).
# VIDPIPE_DEPLOYMENT=production makes the code refuse to load until the database, objects and
# inbox are named, instead of quietly keeping a SQLite file in the working directory.
ENV DAGSTER_HOME=/opt/dagster/dagster_home \
    VIDPIPE_HOME=/var/lib/vidpipe \
    VIDPIPE_WORKSPACE_ROOT=/var/lib/vidpipe/workspaces \
    VIDPIPE_DEPLOYMENT=production \
    VIDPIPE_MODEL_BACKEND=vertex
COPY dagster.yaml ${DAGSTER_HOME}/dagster.yaml
RUN mkdir -p /var/lib/vidpipe/workspaces \
    && chown -R "${UID}:${UID}" "${DAGSTER_HOME}" /var/lib/vidpipe
USER ${UID}:${UID}
WORKDIR /var/lib/vidpipe

EXPOSE 4000
HEALTHCHECK --interval=15s --timeout=10s --start-period=60s CMD ["dagster", "api", "grpc-health-check", "-p", "4000"]
CMD ["dagster", "api", "grpc", "-h", "0.0.0.0", "-p", "4000", "-m", "vidpipe_dagster.definitions"]
