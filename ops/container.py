"""`make up` / `make down` when a Docker engine answers: the local cloud as the compose
service ``localcloud`` (docker-compose.yml), published on 127.0.0.1 only.

    python -m ops.container up|down

Works with Compose v2 (``docker compose``) and v1 (``docker-compose``), whichever is
installed (``LOCALCLOUD_COMPOSE="docker-compose"`` or ``"docker compose"`` picks one).
``up`` builds the image from the working tree (a cache hit when nothing changed) and
returns once the container's healthcheck passes: Compose's ``up --wait`` where it has it
(2.1.1 and later), our own wait on the healthcheck where it does not (v1). The container listens
on ``LOCALCLOUD_PORT`` (default 4566) and is published on the same port, so the URLs it
hands out (queue URLs, API endpoints) work from the host.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass

from pathlib import Path

from localcloud.__main__ import health
from localcloud.console.access import TOKEN_FILE, console_url, token_path
from localcloud.settings import load_settings
from ops.environment import PROJECT_ROOT

SERVICE = "localcloud"
CONTAINER_HOME = "/var/lib/localcloud"  # the image's LOCALCLOUD_HOME, its state volume
COMPOSE_FILE = PROJECT_ROOT / "docker-compose.yml"
HEALTHY_WITHIN_S = float(os.environ.get("LOCALCLOUD_START_TIMEOUT", "60"))


@dataclass(frozen=True)
class Compose:
    command: tuple[str, ...]  # ("docker", "compose") or ("docker-compose",)
    version: tuple[int, ...]

    @property
    def waits(self) -> bool:
        """Compose 2.1.1 and later wait for health themselves (``up --wait``); v1 cannot."""
        return self.version >= (2, 1, 1)

    def __str__(self) -> str:
        return f"{' '.join(self.command)} {'.'.join(map(str, self.version))}"

    def run(self, *args: str, capture: bool = False) -> subprocess.CompletedProcess:
        return subprocess.run([*self.command, "--file", str(COMPOSE_FILE), *args], cwd=PROJECT_ROOT, text=True,
                              capture_output=capture)

    def container_id(self) -> str | None:
        found = self.run("ps", "--quiet", SERVICE, capture=True).stdout.strip()
        return found.splitlines()[0] if found else None


def find_compose() -> Compose | None:
    """The Compose CLI to use: v2's plugin first, then ``docker-compose`` (v1, or v2
    standalone); None when neither runs."""
    forced = os.environ.get("LOCALCLOUD_COMPOSE")
    candidates = [tuple(forced.split())] if forced else [("docker", "compose"), ("docker-compose",)]
    for candidate in candidates:
        if not shutil.which(candidate[0]):
            continue
        result = subprocess.run([*candidate, "version", "--short"], capture_output=True, text=True)
        numbers = re.match(r"v?(\d+)\.(\d+)\.(\d+)", result.stdout.strip())
        if result.returncode == 0 and numbers:
            return Compose(candidate, tuple(int(n) for n in numbers.groups()))
    return None


def container_state(cid: str) -> tuple[str, str]:
    """(status, health) of a container: ("running", "healthy"), ("exited", ""), …"""
    result = subprocess.run(["docker", "inspect", "--format",
                             "{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}", cid],
                            capture_output=True, text=True)
    status, _, healthy = result.stdout.strip().partition(" ")
    return status or "missing", healthy


def wait_healthy(cid: str, timeout: float) -> str | None:
    """None once the container reports healthy, else why not."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, healthy = container_state(cid)
        if healthy == "healthy":
            return None
        if status in ("exited", "dead", "missing"):
            return f"the container is {status}"
        if healthy == "unhealthy":
            return "the container's healthcheck reports unhealthy"
        time.sleep(0.1)
    return f"no healthy container within {timeout:.0f} s"


def save_console_token(home: Path, token: str) -> Path:
    """A copy of the container's console token where the host's tools look for it
    (`make console`, `make send`'s last line), readable by this user only, as a host
    process keeps its own."""
    path = token_path(home)
    home.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as out:
        out.write(token + "\n")
    return path


def copy_console_token(compose: Compose) -> None:
    """Each start of the container makes a new token, in its state folder."""
    found = compose.run("exec", "-T", SERVICE, "cat", f"{CONTAINER_HOME}/{TOKEN_FILE}", capture=True)
    if found.returncode != 0 or not found.stdout.strip():
        print(f"console: no token in the container ({found.stderr.strip()})", file=sys.stderr)
        return
    settings = load_settings()
    save_console_token(settings.home, found.stdout.strip())
    print(f"console: {console_url(settings.endpoint, found.stdout.strip())}")


def up() -> int:
    compose = find_compose()
    if compose is None:
        print("a Docker engine answers, but neither `docker compose` (Compose v2) nor `docker-compose` (v1) "
              "is installed; install one, or run the local cloud as a host process: LOCALCLOUD_CONTAINER=0 make up",
              file=sys.stderr)
        return 1
    endpoint = load_settings().endpoint  # 127.0.0.1:LOCALCLOUD_PORT, the port compose publishes
    found = health(endpoint)
    if found:
        print(f"local cloud already running on {endpoint} (ministack {found.get('ministack')})")
        copy_console_token(compose)
        return 0
    if found == {}:
        print(f"{endpoint} already answers, but it is not this project's local cloud (LocalStack?). "
              "Use it, or stop it and run `make up` again.", file=sys.stderr)
        return 1
    started = time.monotonic()
    args = ["up", "--detach", "--build", *(["--wait"] if compose.waits else []), SERVICE]
    print(f"Docker engine found: starting the local cloud container (Compose {compose}: {' '.join(args)})",
          flush=True)
    result = compose.run(*args)
    problem = f"`up` failed (exit {result.returncode})" if result.returncode else None
    if problem is None and not compose.waits:
        cid = compose.container_id()
        problem = wait_healthy(cid, HEALTHY_WITHIN_S) if cid else "compose created no container"
    if problem is None and not health(endpoint):
        problem = f"nothing answers on {endpoint}"
    if problem:
        print(f"local cloud container did not start: {problem}; its last log lines:", file=sys.stderr)
        compose.run("logs", "--tail", "30", SERVICE)
        return 1
    print(f"local cloud container healthy on {endpoint} in {time.monotonic() - started:.1f} s "
          f"(`make down` stops it; its state volume stays)")
    copy_console_token(compose)
    return 0


def down() -> int:
    compose = find_compose()
    if compose is None or compose.container_id() is None:
        print("no local cloud container running")
        return 0
    # Graceful: SIGTERM, then the service's stop_grace_period for the drain and the save.
    print("stopping the local cloud container: letting work in flight finish …", flush=True)
    return compose.run("down").returncode


COMMANDS = {"up": up, "down": down}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=sorted(COMMANDS))
    return COMMANDS[parser.parse_args(argv).command]()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
