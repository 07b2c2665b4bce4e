"""URLs the local cloud hands out work where the client reached it: the queue URLs in the
stack outputs and the HTTP API's endpoint name the endpoint's own port. (A container that
listened on 4566 but was published on another port handed out 4566.) Against the
container (LOCALCLOUD_CONTAINER=1) this is the published host port."""

from __future__ import annotations

import json
import socket
import uuid
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.config import Config

from .helpers import PIPELINE, PORT, RECORDED_WITHIN_S, now_ms, raw_request

pytestmark = pytest.mark.integration

# localhost.localstack.cloud and its subdomains resolve to 127.0.0.1 in public DNS; our
# machines have no DNS for it, so a name that does not resolve here is taken as loopback.
LOCALSTACK_DOMAIN = "localhost.localstack.cloud"


def reachable_host(hostname: str) -> str:
    try:
        socket.getaddrinfo(hostname, None)
        return hostname
    except socket.gaierror:
        if hostname == LOCALSTACK_DOMAIN or hostname.endswith("." + LOCALSTACK_DOMAIN):
            return "127.0.0.1"
        raise


def stack_regions(cfg) -> dict[str, str]:
    regions = {"Backbone": cfg.backbone.region, "BackboneSecondRegion": cfg.second_region}
    for app in cfg.applications:
        regions[f"{app.name.title()}Bus"] = app.region
        regions[f"{app.name.title()}TransactionPipeline"] = app.region
    return regions


def test_every_queue_url_in_the_outputs_names_the_endpoints_port_and_answers_there(outputs, cfg):
    regions = stack_regions(cfg)
    queue_urls = [(stack, key, url) for stack, values in outputs.items()
                  for key, url in values.items() if key.endswith("QueueUrl")]
    assert len(queue_urls) >= 5, outputs  # dead-letter and ingress queues of every stack
    for stack, key, url in queue_urls:
        parts = urlsplit(url)
        assert parts.port == PORT, f"{stack}.{key} = {url} does not name port {PORT}"
        account = parts.path.strip("/").split("/")[0]
        sqs = boto3.client("sqs", endpoint_url=f"{parts.scheme}://{reachable_host(parts.hostname)}:{parts.port}",
                           region_name=regions[stack], aws_access_key_id=account, aws_secret_access_key="test",
                           config=Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=30))
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        assert arn.split(":")[4] == account and arn.endswith(":" + parts.path.rstrip("/").rsplit("/", 1)[1])


def test_the_http_apis_endpoint_names_the_endpoints_port_and_takes_a_transaction(aws, payments, outputs, tx):
    api = aws("apigatewayv2", payments.account, payments.region).get_api(ApiId=outputs[PIPELINE]["ApiId"])
    parts = urlsplit(api["ApiEndpoint"])
    assert parts.port == PORT, f"ApiEndpoint {api['ApiEndpoint']} does not name port {PORT}"
    body = json.dumps({"id": str(uuid.uuid4()), "via": "the API's own endpoint"})
    sent_at_ms = now_ms()
    # The endpoint's host form: the API is chosen by the Host header, on the port it names.
    status, _, response = raw_request("POST", parts.path or "/", body.encode(),
                                      headers={"Host": parts.netloc, "content-type": "application/json"})
    assert status == 200, response
    assert json.loads(response)["SendMessageResponse"]["SendMessageResult"]["MessageId"]
    assert tx.recorded(tx.sha256_hex(body), sent_at_ms, timeout=RECORDED_WITHIN_S)
