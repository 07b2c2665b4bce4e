"""python -m localcloud {up|down|status|serve}

up       start the local cloud in the background; return once it answers healthy
down     stop the local cloud this project started (by its PID file)
status   print the health document, exit 1 when nothing answers
console  print the console's URL (with this start's token)
serve    run in the foreground (what `up` starts; also the container's command)
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

from localcloud.gateway import HEALTH_PATH
from localcloud.settings import load_settings

START_TIMEOUT_S = float(os.environ.get("LOCALCLOUD_START_TIMEOUT", "30"))


def health(endpoint: str, timeout: float = 1.0) -> dict | None:
    """Our health document, {} when something else answers on the port, None when nothing does."""
    try:
        with urllib.request.urlopen(endpoint + HEALTH_PATH, timeout=timeout) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError:
        return {}
    except (urllib.error.URLError, OSError, ValueError):
        return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _our_pid(settings) -> int | None:
    try:
        pid = int(settings.pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            if b"localcloud" not in cmdline.read():
                return None  # the PID was reused by another process: not ours to stop
    except FileNotFoundError:
        return None
    return pid


def up() -> int:
    settings = load_settings()
    found = health(settings.endpoint)
    if found:
        print(f"local cloud already running on {settings.endpoint} (ministack {found.get('ministack')})")
        _print_console_url(settings)
        return 0
    if found == {}:
        print(f"{settings.endpoint} already answers, but it is not this project's local cloud "
              f"(LocalStack?). Use it, or stop it and run `make up` again.", file=sys.stderr)
        return 0 if os.environ.get("LOCALCLOUD_ACCEPT_OTHER") == "1" else 1
    settings.home.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with open(settings.log_file, "wb") as log:  # one run per log file
        process = subprocess.Popen(
            [sys.executable, "-m", "localcloud", "serve"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, cwd=os.getcwd(),
        )
    while time.monotonic() - started < START_TIMEOUT_S:
        if process.poll() is not None:
            print(f"local cloud exited during start (code {process.returncode}); last lines of {settings.log_file}:",
                  file=sys.stderr)
            print("\n".join(settings.log_file.read_text(errors="replace").splitlines()[-20:]), file=sys.stderr)
            return 1
        if health(settings.endpoint, timeout=0.5):
            elapsed = time.monotonic() - started
            print(f"local cloud healthy on {settings.endpoint} in {elapsed:.2f} s "
                  f"(pid {process.pid}, log {settings.log_file}, persistence {'on' if settings.persist else 'off'})")
            _print_console_url(settings)
            return 0
        time.sleep(0.02)
    print(f"local cloud did not answer within {START_TIMEOUT_S:.0f} s; see {settings.log_file}", file=sys.stderr)
    process.terminate()
    return 1


def down() -> int:
    settings = load_settings()
    pid = _our_pid(settings)
    if pid is None or not _pid_alive(pid):
        print("local cloud not running (no live PID in {})".format(settings.pid_file))
        settings.pid_file.unlink(missing_ok=True)
        return 0
    # Graceful: in-flight work drains (LOCALCLOUD_DRAIN_SECONDS), then persistence, when on, is written.
    os.kill(pid, signal.SIGTERM)
    patience = float(os.environ.get("LOCALCLOUD_DRAIN_SECONDS", "30")) + 30
    print(f"stopping the local cloud (pid {pid}): letting work in flight finish …", flush=True)
    deadline = time.monotonic() + patience
    while _pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _pid_alive(pid):
        print(f"local cloud (pid {pid}) still running after {patience:.0f} s; killing it", file=sys.stderr)
        os.kill(pid, signal.SIGKILL)
    settings.pid_file.unlink(missing_ok=True)
    print(f"local cloud stopped (pid {pid})")
    return 0


def status() -> int:
    settings = load_settings()
    found = health(settings.endpoint)
    if found is None:
        print(f"nothing answers on {settings.endpoint}: run `make up`", file=sys.stderr)
        return 1
    print(json.dumps(found or {"status": "another service answers on this port"}, indent=2))
    return 0


def _print_console_url(settings) -> bool:
    from localcloud.console.access import console_url, read_token, token_path

    token = read_token(settings.home)
    if token is None:
        print(f"console: no token in {token_path(settings.home)} (a local cloud started elsewhere?)", file=sys.stderr)
        return False
    print(f"console: {console_url(settings.endpoint, token)}")
    return True


def console() -> int:
    settings = load_settings()
    if not health(settings.endpoint):
        print(f"nothing answers on {settings.endpoint}: run `make up`", file=sys.stderr)
        return 1
    return 0 if _print_console_url(settings) else 1


def serve() -> int:
    from localcloud.server import serve as run

    run()
    return 0


COMMANDS = {"up": up, "down": down, "status": status, "console": console, "serve": serve}


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in COMMANDS:
        print(__doc__, file=sys.stderr)
        return 2
    return COMMANDS[argv[0]]()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
