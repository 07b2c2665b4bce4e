# The embedded local cloud as a container, for users with a Docker engine (`make up`
# picks it when `docker info` answers). Same code as the host process.
FROM python:3.11-slim
WORKDIR /opt/pipeline
COPY pyproject.toml README.md ./
COPY infra ./infra
COPY localcloud ./localcloud
RUN pip install --no-cache-dir --disable-pip-version-check .
# Inside the container the server must listen on the container's interface; the
# compose file publishes it on the host's loopback only.
ENV LOCALCLOUD_HOST=0.0.0.0 \
    LOCALCLOUD_ALLOW_REMOTE_BIND=1 \
    LOCALCLOUD_HOME=/var/lib/localcloud
EXPOSE 4566
HEALTHCHECK --interval=2s --timeout=2s --retries=15 \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:4566/_localcloud/health', timeout=1)"
CMD ["python", "-m", "localcloud", "serve"]
