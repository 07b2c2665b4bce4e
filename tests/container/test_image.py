"""The local cloud's image (Dockerfile): what it holds, who it runs as, where it listens,
and that its state volume keeps what a graceful `docker stop` saved."""

from __future__ import annotations

import json
import uuid

import docker
import pytest

from .localcloud_container import free_port, new_volume, remove_volume, running

MISSING_CRYPTOGRAPHY = "cryptography package not installed"


def run_in_image(image: str, *command: str) -> tuple[int, str]:
    """(exit code, output) of ``command`` in a throw-away container of ``image``."""
    client = docker.from_env()
    container = client.containers.run(image, list(command), detach=True)
    try:
        code = container.wait(timeout=120)["StatusCode"]
        return code, container.logs().decode("utf-8", "replace")
    finally:
        container.remove(force=True, v=True)
        client.close()


def test_the_image_holds_the_local_cloud_and_not_the_cdk_app(localcloud_image):
    code, output = run_in_image(localcloud_image, "python", "-c", """
import importlib.util, json
wanted = ["localcloud", "ministack", "hypercorn", "boto3", "cryptography"]
unwanted = ["aws_cdk", "constructs", "cdk_nag", "infra", "ops", "pytest"]
print(json.dumps({name: importlib.util.find_spec(name) is not None for name in wanted + unwanted}))
""")
    assert code == 0, output
    found = json.loads(output.strip().splitlines()[-1])
    assert {name: found[name] for name in ("localcloud", "ministack", "hypercorn", "boto3", "cryptography")} == \
        dict.fromkeys(("localcloud", "ministack", "hypercorn", "boto3", "cryptography"), True)
    assert [name for name in ("aws_cdk", "constructs", "cdk_nag", "infra", "ops", "pytest") if found[name]] == []


def test_the_local_cloud_runs_as_a_user_of_its_own_who_owns_the_state_folder(localcloud_image):
    code, output = run_in_image(localcloud_image, "python", "-c", """
import os
print(os.getuid(), os.getgid(), os.stat("/var/lib/localcloud").st_uid, os.access("/var/lib/localcloud", os.W_OK))
""")
    assert code == 0, output
    uid, gid, owner, writable = output.split()
    assert uid != "0" and gid != "0"
    assert owner == uid and writable == "True"


def test_healthy_and_published_on_the_host_loopback_only(localcloud_image):
    port = free_port()
    with running(port, image=localcloud_image) as cloud:
        wrapped = cloud.get_wrapped_container()
        wrapped.reload()
        assert wrapped.attrs["State"]["Health"]["Status"] == "healthy"
        published = {inside: bound for inside, bound in wrapped.attrs["NetworkSettings"]["Ports"].items() if bound}
        assert published == {f"{port}/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]}
        assert wrapped.attrs["Config"]["User"] == "localcloud"


def test_kms_signs_and_verifies_in_the_container(localcloud_image, aws):
    """ministack's KMS Sign/Verify need the cryptography package: without it the image logs
    "cryptography package not installed; KMS Sign/Verify will return errors"."""
    with running(free_port(), image=localcloud_image) as cloud:
        kms = aws("kms", cloud.endpoint)
        key = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
        signature = kms.sign(KeyId=key, Message=b"transaction", SigningAlgorithm="RSASSA_PSS_SHA_256")["Signature"]
        verified = kms.verify(KeyId=key, Message=b"transaction", Signature=signature,
                              SigningAlgorithm="RSASSA_PSS_SHA_256")
        assert verified["SignatureValid"] is True
        assert MISSING_CRYPTOGRAPHY not in cloud.logs_text()


@pytest.fixture
def state_volume(docker_engine):
    name = new_volume()
    yield name
    remove_volume(name)


def test_state_on_its_volume_survives_a_docker_stop_and_a_new_container(localcloud_image, aws, state_volume):
    """LOCALCLOUD_PERSIST=1: SIGTERM (what `docker stop`, compose and `make down` send) lets
    the server drain and save into /var/lib/localcloud; a new container on the same volume
    reads it back."""
    port = free_port()
    body = json.dumps({"kept": str(uuid.uuid4())})
    with running(port, image=localcloud_image, persist=True, volume=state_volume) as first:
        sqs = aws("sqs", first.endpoint)
        queue_url = sqs.create_queue(QueueName="kept-across-restarts")["QueueUrl"]
        sqs.send_message(QueueUrl=queue_url, MessageBody=body)
        exit_code = first.stop_gracefully()
    assert exit_code == 0, first.logs_at_stop[-3000:]

    with running(port, image=localcloud_image, persist=True, volume=state_volume) as second:
        sqs = aws("sqs", second.endpoint)
        assert sqs.get_queue_url(QueueName="kept-across-restarts")["QueueUrl"] == queue_url
        received = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=2).get("Messages", [])
        assert [message["Body"] for message in received] == [body]
