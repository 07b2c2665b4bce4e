"""The local console: what is deployed, each transaction's journey, the dead letters and
the archives, in a browser, at /_localcloud/ on the local cloud's own port.

It reads and acts only through the AWS APIs (signed as each resource's account), so it
works for any app deployed here and strict IAM applies to it as to anyone; only the list
of accounts and regions in use comes from a seam (no AWS API lists them).
"""

from __future__ import annotations


def start(settings):
    """The console for this local cloud: a fresh token in its home, and the ASGI handler
    (``await console(scope, receive, send)`` answers True when it served the request)."""
    from localcloud import seams
    from localcloud.console.web import Console

    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    return Console(f"http://{host}:{settings.port}", settings.port, settings.home, seams.scopes.in_use)
