"""Where the local cloud listens and keeps its files. Everything is overridable by env."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    host: str
    port: int
    home: Path  # project-local folder for pid, log and persisted state (never /tmp)
    persist: bool
    hostname: str  # virtual host for <apiId>.execute-api.<hostname>:<port> URLs

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.home / "localcloud.pid"

    @property
    def log_file(self) -> Path:
        return self.home / "localcloud.log"

    @property
    def state_dir(self) -> Path:
        return self.home / "state"


def load_settings() -> Settings:
    host = os.environ.get("LOCALCLOUD_HOST", "127.0.0.1")
    if host not in ("127.0.0.1", "localhost", "::1") and os.environ.get("LOCALCLOUD_ALLOW_REMOTE_BIND") != "1":
        raise SystemExit(
            f"refusing to bind {host}: the local cloud accepts any credentials, so it listens on loopback only "
            "(set LOCALCLOUD_ALLOW_REMOTE_BIND=1 inside a container whose port is published to loopback)"
        )
    port = int(os.environ.get("LOCALCLOUD_PORT", "4566"))
    # One home per port: pid file, log and state of two local clouds never mix.
    default_home = PROJECT_ROOT / ".localcloud" if port == 4566 else PROJECT_ROOT / ".localcloud" / f"port-{port}"
    return Settings(
        host=host,
        port=port,
        home=Path(os.environ.get("LOCALCLOUD_HOME", default_home)),
        persist=os.environ.get("LOCALCLOUD_PERSIST", "0") == "1",
        hostname=os.environ.get("LOCALCLOUD_HOSTNAME", "localhost.localstack.cloud"),
    )


def prepare_ministack_environment(settings: Settings) -> None:
    """ministack reads its configuration from the environment at import time."""
    settings.home.mkdir(parents=True, exist_ok=True)
    defaults = {
        "GATEWAY_PORT": str(settings.port),
        "BIND_HOST": settings.host,
        "MINISTACK_HOST": settings.hostname,
        "MINISTACK_REGION": "us-east-1",
        # ministack's own save (a JSON file per service at shutdown) stays off: with
        # persistence on, localcloud.state snapshots every service crash-safely.
        "PERSIST_STATE": "0",
        "STATE_DIR": str(settings.state_dir if settings.persist else settings.home / "scratch"),
        "S3_DATA_DIR": str(settings.state_dir / "s3"),
        "S3_PERSIST": "1" if settings.persist else "0",
        # Listeners this project never uses: they cost start-up time and memory.
        "IOT_MTLS_ENABLED": "0",
        "SFTP_ENABLED": "0",
        "LAMBDA_EXECUTOR": "local",
        "LOG_LEVEL": os.environ.get("LOCALCLOUD_LOG_LEVEL", "WARNING"),
    }
    for key, value in defaults.items():
        os.environ.setdefault(key, value)
    # Strict IAM (the default) builds on ministack's request authentication.
    os.environ["AUTH"] = "true" if iam_strict() else "false"
    # The server's own AWS credentials (a developer's real ones, say) must not become a
    # root key of the local cloud, nor leak into Lambda workers.
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        os.environ.pop(key, None)


def iam_strict() -> bool:
    """``LOCALCLOUD_IAM=off`` restores permissive behaviour; strict is the default."""
    from localcloud import auth

    return auth.enabled()
