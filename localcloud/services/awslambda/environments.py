"""One folder, and one /tmp, per execution environment, under the local cloud's home.

ministack 1.5.33 unpacks each warm worker's code into the machine's /tmp and leaves it
there when the local cloud stops; its functions share the machine's /tmp with each other
and with everything else. On AWS each execution environment has its own /tmp (512 MB to
10 GB, "ephemeral storage"), gone with the environment.

* Each environment's folder (worker script, code, layers) is created under
  ``<home>/lambda/`` and removed with the environment; whatever is left when the local
  cloud stops (or was killed) is removed on stop and on the next start.
* The environment's own ``tmp/`` in that folder is its TMPDIR (TMP, TEMP), which is where
  Python's ``tempfile`` and Node's ``os.tmpdir()`` put files. When the local cloud runs as
  root, the kernel allows a mount namespace and the home is outside /tmp, the folder is
  also mounted on ``/tmp`` for that process alone, so a literal ``/tmp/...`` path is the
  environment's too.
  Otherwise a literal ``/tmp`` path is the machine's (a known limit).
* The environment writes its logs to a stream of its own, named as AWS names them
  (``2026/11/23/[$LATEST]<32 hex>``; also its ``AWS_LAMBDA_LOG_STREAM_NAME``).
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
import threading
import uuid
from datetime import datetime, timezone
from pathlib import Path

from localcloud import seams
from localcloud.extension import Extension
from localcloud.settings import load_settings

logger = logging.getLogger("localcloud.lambda_environments")

_WORKER_SCRIPTS = ("_worker.py", "_worker.js")
_streams: dict[str, str] = {}  # environment folder -> its log stream
_streams_lock = threading.Lock()
_own_tmp_mount = False


def root() -> Path:
    return load_settings().home / "lambda"


class _FoldersUnderHome:
    """The worker pool's ``tempfile``: new environment folders go under the home."""

    def mkdtemp(self, suffix=None, prefix=None, dir=None):
        base = dir or root()
        os.makedirs(base, exist_ok=True)
        return tempfile.mkdtemp(suffix, prefix, base)

    def __getattr__(self, name):
        return getattr(tempfile, name)


def _environment_folder(args) -> str | None:
    """The folder of a warm worker being started (``[interpreter, <folder>/_worker.py]``)."""
    if isinstance(args, (list, tuple)) and len(args) == 2 and os.path.basename(str(args[1])) in _WORKER_SCRIPTS:
        return os.path.dirname(str(args[1]))
    return None


def _mounted_on_tmp(args: list[str], private_tmp: str) -> list[str]:
    """``args`` run with ``private_tmp`` mounted on /tmp in a mount namespace of their own."""
    return ["unshare", "--mount", "--propagation", "private", "/bin/sh", "-c",
            'mount --bind "$0" /tmp && exec "$@"', private_tmp, *args]


class _EnvironmentProcesses:
    """The worker pool's ``subprocess``: a worker starts with its own /tmp and log stream."""

    def Popen(self, args, *rest, **kwargs):  # noqa: N802 (subprocess's name)
        folder = _environment_folder(args)
        if folder is None:
            return subprocess.Popen(args, *rest, **kwargs)
        private_tmp = os.path.join(folder, "tmp")
        os.makedirs(private_tmp, exist_ok=True)
        env = dict(kwargs.get("env") or os.environ)
        env.update({"TMPDIR": private_tmp, "TMP": private_tmp, "TEMP": private_tmp})
        stream = (f"{datetime.now(timezone.utc):%Y/%m/%d}/[{env.get('AWS_LAMBDA_FUNCTION_VERSION', '$LATEST')}]"
                  f"{uuid.uuid4().hex}")
        env["AWS_LAMBDA_LOG_STREAM_NAME"] = stream
        with _streams_lock:
            _streams[folder] = stream
        kwargs["env"] = env
        if _own_tmp_mount:
            args = _mounted_on_tmp(list(args), private_tmp)
        return subprocess.Popen(args, *rest, **kwargs)

    def __getattr__(self, name):
        return getattr(subprocess, name)


def log_stream_of(worker) -> str | None:
    """The log stream of the environment ``worker`` runs, when it started as one of ours."""
    folder = getattr(worker, "_tmpdir", None)
    with _streams_lock:
        return _streams.get(folder) if folder else None


def _can_mount_private_tmp() -> bool:
    """Root, util-linux's unshare, a kernel that lets us mount in a new namespace, and a
    home outside /tmp (mounted over /tmp, the environment's own folder would be hidden)."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    system_tmp = Path("/tmp").resolve()
    if root().resolve() == system_tmp or system_tmp in root().resolve().parents:
        return False
    probe = root() / "probe"
    (probe / "tmp").mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run(_mounted_on_tmp(["/bin/sh", "-c", "touch /tmp/mounted"], str(probe / "tmp")),
                              capture_output=True, timeout=10)
        return done.returncode == 0 and (probe / "tmp" / "mounted").exists()
    except (OSError, subprocess.SubprocessError):
        return False
    finally:
        shutil.rmtree(probe, ignore_errors=True)


def needed() -> bool:
    """ministack creates environment folders in the machine's temporary directory."""
    return seams.awslambda.environment_folders_in_system_tmp()


def install() -> None:
    global _own_tmp_mount
    shutil.rmtree(root(), ignore_errors=True)  # left by a local cloud that was killed
    _own_tmp_mount = _can_mount_private_tmp()
    logger.info("Lambda environments under %s; a private /tmp mount per environment: %s", root(), _own_tmp_mount)
    seams.awslambda.replace_runtime_module("tempfile", _FoldersUnderHome())
    seams.awslambda.replace_runtime_module("subprocess", _EnvironmentProcesses())


def release() -> None:
    """The local cloud is stopping and nothing runs any more: end the environments."""
    seams.awslambda.stop_workers()
    shutil.rmtree(root(), ignore_errors=True)
    with _streams_lock:
        _streams.clear()


def health() -> dict:
    return {"folder": str(root()), "private_tmp_mount": _own_tmp_mount}


EXTENSION = Extension(name="lambda_environments", needed=needed, install=install, release=release)
