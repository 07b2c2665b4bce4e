"""The local cloud's one port: app composition (app.py), honest HTTP framing on the wire
(framing.py), request-size limits (limits.py) and AWS's error envelopes (shapes.py).

Requests flow down from here: gateway -> registry/services/auth -> seams -> ministack.
"""

from localcloud.gateway.app import HEALTH_PATH, build_app

__all__ = ["HEALTH_PATH", "build_app"]
