"""Which interpreter runs a function locally, against the runtime it declares.

The local cloud runs Python functions with its own interpreter and Node.js functions with
the machine's ``node``; AWS runs the declared runtime (``python3.14``, ``nodejs22.x``). A
function that uses a feature of a newer version fails locally, and one that relies on
something removed since runs locally but fails on AWS. The difference is shown, not
hidden: in the health document (``lambda_runtimes``), once in the local cloud's log when
an environment of such a runtime starts, and by ``make deploy`` after deploying.
"""

from __future__ import annotations

import logging
import platform
import re
import threading

from localcloud import seams
from localcloud.extension import Extension
from localcloud.services.awslambda import bootstraps, environments

logger = logging.getLogger("localcloud.lambda_runtimes")

_warned: set[str] = set()
_warned_lock = threading.Lock()


def local_version(runtime: str) -> str | None:
    if runtime.startswith("python"):
        return platform.python_version()
    if runtime.startswith("nodejs"):
        return bootstraps.node_version()
    return None


def declared_version(runtime: str) -> str | None:
    """``python3.14`` -> ``3.14``; ``nodejs22.x`` -> ``22``."""
    match = re.fullmatch(r"python(\d+\.\d+)|nodejs(\d+)\.x", runtime or "")
    return (match.group(1) or match.group(2)) if match else None


def mismatch(runtime: str) -> str | None:
    """How the local interpreter differs from ``runtime``, None when it matches."""
    declared, local = declared_version(runtime), local_version(runtime)
    if not declared or not local:
        return None
    local_series = ".".join(local.split(".")[: declared.count(".") + 1])
    if local_series == declared:
        return None
    language = "Python" if runtime.startswith("python") else "Node.js"
    return f"{runtime} functions run on the local {language} {local}, not {language} {declared} as on AWS"


def mismatches() -> list[dict]:
    found: dict[str, list[str]] = {}
    for config in seams.awslambda.functions():
        runtime = config.get("Runtime", "")
        if mismatch(runtime):
            found.setdefault(runtime, []).append(config.get("FunctionArn") or config.get("FunctionName", ""))
    return [{"runtime": runtime, "local": local_version(runtime), "functions": len(arns), "warning": mismatch(runtime)}
            for runtime, arns in sorted(found.items())]


def _warn_on_start(detect_runtime_binary):
    def detect(runtime: str):
        warning = mismatch(runtime)
        if warning:
            with _warned_lock:
                first = runtime not in _warned
                _warned.add(runtime)
            if first:
                logger.warning("%s: code that needs %s fails here, code that only works on %s passes here",
                               warning, runtime, local_version(runtime))
        return detect_runtime_binary(runtime)

    return detect


def install() -> None:
    seams.awslambda.wrap_runtime_function("_detect_runtime_binary", _warn_on_start)


def health() -> dict:
    return {"lambda_runtimes": {
        "python": platform.python_version(),
        **bootstraps.health(),
        "environments": environments.health(),
        "mismatches": mismatches(),
    }}


EXTENSION = Extension(name="lambda_runtime_versions", needed=lambda: True, install=install, health=health)
