"""Resources CloudFormation creates keep the customer managed KMS key their template names.

ministack 1.5.33's provisioners drop it in two places the stacks use, while its own APIs
keep it: ``AWS::Events::EventBus`` (KmsKeyIdentifier, with DeadLetterConfig and
LogConfig) and ``AWS::DynamoDB::GlobalTable`` (each replica's SSESpecification). Without
the key such a resource would not use it, and a key policy or grant missing for it would
go unnoticed locally: on AWS, PutEvents to the bus and reads of the table fail.
"""

from __future__ import annotations

from localcloud import seams
from localcloud.extension import Extension

BUS, GLOBAL_TABLE = "AWS::Events::EventBus", "AWS::DynamoDB::GlobalTable"
BUS_KEPT = ("KmsKeyIdentifier", "DeadLetterConfig", "LogConfig")


def _keep_bus_settings(physical_id: str, props: dict) -> None:
    extra = {k: props[k] for k in BUS_KEPT if props.get(k)}
    if extra:
        seams.events.action("UpdateEventBus", {"Name": physical_id, **extra})


def _table_key(props: dict) -> str:
    """The replica key of this region (GlobalTable), or the table's own (SSESpecification)."""
    region = seams.current_region()
    for replica in props.get("Replicas") or []:
        if replica.get("Region") in (None, region):
            key = (replica.get("SSESpecification") or {}).get("KMSMasterKeyId")
            if key:
                return key
    return (props.get("SSESpecification") or {}).get("KMSMasterKeyId") or ""


def _keep_table_key(physical_id: str, props: dict) -> None:
    key = _table_key(props)
    if key:
        arn = seams.kms.key_arn(key, seams.current_account(), seams.current_region()) or key
        seams.dynamodb.set_encryption_key(physical_id.rsplit("/", 1)[-1], arn)


_KEEP = {BUS: _keep_bus_settings, GLOBAL_TABLE: _keep_table_key}


def _wrap_create(resource_type: str, original):
    def create(logical_id, props, stack_name):
        physical_id, attributes = original(logical_id, props, stack_name)
        _KEEP[resource_type](physical_id, props)
        return physical_id, attributes

    return create


def _wrap_update(resource_type: str, original):
    def update(physical_id, old_props, new_props, stack_name, *args):
        new_physical_id, attributes = original(physical_id, old_props, new_props, stack_name, *args)
        _KEEP[resource_type](new_physical_id, new_props)
        return new_physical_id, attributes

    return update


def needed() -> bool:
    """Probe: does the bus provisioner keep a bus's key, and the global table one a replica's?"""
    handlers = seams.cloudformation.resource_handlers()
    account, region = seams.core.PROBE_ACCOUNT_A, seams.core.PROBE_REGION
    key = f"arn:aws:kms:{region}:{account}:key/probe"
    with seams.request_scope(account, region):
        bus, _ = handlers[BUS]["create"]("Probe", {"Name": "localcloud-probe-encrypted", "KmsKeyIdentifier": key},
                                         "localcloud-probe")
        try:
            _status, described = seams.events.action("DescribeEventBus", {"Name": bus})
        finally:
            handlers[BUS]["delete"](bus, {})
        table_props = {"TableName": "localcloud-probe-encrypted", "BillingMode": "PAY_PER_REQUEST",
                       "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
                       "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
                       "SSESpecification": {"SSEEnabled": True, "SSEType": "KMS"},
                       "Replicas": [{"Region": region, "SSESpecification": {"KMSMasterKeyId": key}}]}
        table, _ = handlers[GLOBAL_TABLE]["create"]("Probe", table_props, "localcloud-probe")
        try:
            kept = seams.dynamodb.encryption_key(table.rsplit("/", 1)[-1])
        finally:
            handlers[GLOBAL_TABLE]["delete"](table, table_props)
    return described.get("KmsKeyIdentifier") != key or kept != key


def install() -> None:
    handlers = seams.cloudformation.resource_handlers()
    for resource_type in (BUS, GLOBAL_TABLE):
        handlers[resource_type]["create"] = _wrap_create(resource_type, handlers[resource_type]["create"])
        handlers[resource_type]["update"] = _wrap_update(resource_type, handlers[resource_type]["update"])


EXTENSION = Extension(name="cfn_customer_managed_keys", needed=needed, install=install)
