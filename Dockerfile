# The local cloud as a container: the same code as the host process (`python -m localcloud
# serve`), nothing of the CDK app. `make up` uses it when a Docker engine answers.
#
#   docker build -t immutable-transaction-pipeline/localcloud:dev .
#   docker run -d -e LOCALCLOUD_PORT=4566 -p 127.0.0.1:4566:4566 immutable-transaction-pipeline/localcloud:dev
#
# Publish the port the container listens on (LOCALCLOUD_PORT) at the same number on the
# host: queue URLs and API endpoints name that port. Written for the legacy builder as well
# as BuildKit (Debian's docker.io has no buildx).
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

WORKDIR /opt/localcloud

# Dependencies first, in a layer of their own: only pyproject.toml's runtime list (the
# local cloud's), exactly pinned there; the CDK libraries are an extra this never installs.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && python -m pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# A user of its own; the state folder (a volume) belongs to it, so a named volume starts
# out writable for it.
RUN groupadd --system --gid 10001 localcloud \
    && useradd --system --uid 10001 --gid localcloud --home-dir /var/lib/localcloud --no-create-home \
        --shell /usr/sbin/nologin localcloud \
    && mkdir -p /var/lib/localcloud \
    && chown localcloud:localcloud /var/lib/localcloud

# The whole package, whatever modules it holds (.dockerignore keeps caches out).
COPY localcloud ./localcloud
RUN python -m compileall -q localcloud

# Inside the container the server listens on the container's interface; compose and the
# test fixture publish it on the host's loopback only. LOCALCLOUD_DRAIN_SECONDS bounds
# the graceful stop's drain: give `docker stop` a longer grace period (compose: 45 s).
ENV PYTHONPATH=/opt/localcloud \
    LOCALCLOUD_HOST=0.0.0.0 \
    LOCALCLOUD_ALLOW_REMOTE_BIND=1 \
    LOCALCLOUD_PORT=4566 \
    LOCALCLOUD_HOME=/var/lib/localcloud \
    LOCALCLOUD_DRAIN_SECONDS=30 \
    HOME=/var/lib/localcloud
VOLUME ["/var/lib/localcloud"]
USER localcloud
EXPOSE 4566
STOPSIGNAL SIGTERM
# Healthy once the gateway answers its health document with 200. The probe runs every
# second, so it is bash on a socket (a few milliseconds), not a Python interpreter.
HEALTHCHECK --interval=1s --timeout=2s --start-period=30s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${LOCALCLOUD_PORT} && printf 'GET /_localcloud/health HTTP/1.0\\r\\n\\r\\n' >&3 && read -r status <&3 && [[ $status == 'HTTP/1.1 200'* ]]"]
CMD ["python", "-m", "localcloud", "serve"]
