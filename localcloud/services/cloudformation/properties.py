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


def with_api_casing(props: dict, name: str, booleans: dict[str, bool] | None = None,
                    integers: tuple[str, ...] = ()) -> dict:
    """``props`` with its property ``name`` in the service API's casing; ``booleans`` (API
    field -> default, None: only when present) and ``integers`` typed as the API reads them."""
    value = props.get(name)
    if not isinstance(value, dict):
        return props
    converted = api_casing(value)
    for field, default in (booleans or {}).items():
        if field in converted or default is not None:
            converted[field] = boolean(converted.get(field, default))
    for field in integers:
        if field in converted:
            converted[field] = int(converted[field])
    return {**props, name: converted}
