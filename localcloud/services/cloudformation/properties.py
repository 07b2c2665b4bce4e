"""CloudFormation property values in the casing of the service API that stores them.

A resource's nested CloudFormation properties (``CorsConfiguration``,
``LoggingConfiguration``) carry the service API's fields with a capital first letter
(``AllowOrigins`` for ``allowOrigins``). A provisioner that stores the template's value as
it stands keeps fields the service then does not read: the setting is silently lost.
"""

from __future__ import annotations

from typing import Any


def api_casing(value: Any) -> Any:
    """``value`` with every mapping key's first letter lower-cased, recursively."""
    if isinstance(value, dict):
        return {(key[:1].lower() + key[1:]) if isinstance(key, str) else key: api_casing(item)
                for key, item in value.items()}
    if isinstance(value, list):
        return [api_casing(item) for item in value]
    return value


def boolean(value: Any) -> bool:
    """A template boolean: CloudFormation accepts ``true`` and the string ``"true"`` alike."""
    return value.strip().lower() == "true" if isinstance(value, str) else bool(value)
