"""CloudFormation: Ref of an AWS::SecretsManager::Secret is its ARN.

ministack 1.5.33 makes the secret's name its physical id, so ``{"Ref": Secret}`` (what
CDK's ``secret.secret_arn`` becomes) resolves to a name locally and to an ARN on AWS.
This extension makes the ARN the physical id, and hands ministack the name back for
updates and deletes.
"""

from __future__ import annotations

from localcloud import seams
from localcloud.extension import Extension

SECRET = "AWS::SecretsManager::Secret"


def secret_name(physical_id: str) -> str:
    """The name inside a secret ARN (``…:secret:<name>-<6 random characters>``)."""
    if ":secret:" not in physical_id:
        return physical_id  # created before this extension: already a name
    return physical_id.split(":secret:", 1)[1].rsplit("-", 1)[0]


def _wrap(handlers: dict) -> dict:
    create, update, delete = handlers["create"], handlers["update"], handlers["delete"]

    def on_create(logical_id, props, stack_name):
        _name, attrs = create(logical_id, props, stack_name)
        return attrs["Arn"], attrs

    def on_update(physical_id, old_props, new_props, stack_name, *logical_id):
        _name, attrs = update(secret_name(physical_id), old_props, new_props, stack_name, *logical_id)
        return attrs.get("Arn", physical_id), attrs

    def on_delete(physical_id, props, *logical_id):
        delete(secret_name(physical_id), props, *logical_id)

    return dict(handlers, create=on_create, update=on_update, delete=on_delete)


def needed() -> bool:
    return not seams.cloudformation.probe_secret_ref_is_arn()


def install() -> None:
    table = seams.cloudformation.resource_handlers()
    table[SECRET] = _wrap(table[SECRET])


EXTENSION = Extension(name="cfn_secret_arn", needed=needed, install=install)
