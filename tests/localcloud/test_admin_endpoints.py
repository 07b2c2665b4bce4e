"""Admin endpoints are off unless LOCALCLOUD_ADMIN=1 (the session's local cloud runs without
it), and a function's code URL is a presigned URL as on AWS: GetFunction's Code.Location
"is a presigned URL you can use to download the deployment package", valid for 10 minutes
(https://docs.aws.amazon.com/lambda/latest/api/API_FunctionCodeLocation.html); a URL
for another function, or with another signature, is refused.
"""

from __future__ import annotations

import io
import json
import urllib.error
import urllib.request
import zipfile
from urllib.parse import urlsplit, urlunsplit

import pytest

from .conftest import queue_depth


def _get(localcloud, url_or_path: str, method: str = "GET") -> tuple[int, bytes]:
    parts = urlsplit(url_or_path)
    url = urlunsplit(("http", urlsplit(localcloud.endpoint).netloc, parts.path, parts.query, ""))
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read()


@pytest.mark.parametrize("method,path", [("GET", "/_ministack/sqs/messages"), ("POST", "/_ministack/reset"),
                                         ("POST", "/_ministack/config")])
def test_admin_endpoints_are_refused_and_say_how_to_enable_them(localcloud, aws, unique, method, path):
    sqs = aws("sqs")
    url = sqs.create_queue(QueueName=unique("admin-kept"))["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="still here")
    status, body = _get(localcloud, path, method)
    assert status == 403
    assert "LOCALCLOUD_ADMIN=1" in json.loads(body)["message"]
    assert queue_depth(sqs, url) == 1  # nothing was wiped


def test_a_functions_code_url_downloads_its_code_and_a_forged_one_does_not(localcloud, aws, unique, role):
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("index.py", "def handler(event, context):\n    return 'secret logic'\n")
    lam = aws("lambda")
    execution_role = role("lambda.amazonaws.com", [{"Effect": "Allow", "Action": "logs:PutLogEvents",
                                                    "Resource": "*"}])
    names = [unique("code-a"), unique("code-b")]
    for name in names:
        lam.create_function(FunctionName=name, Runtime="python3.12", Role=execution_role, Handler="index.handler",
                            Code={"ZipFile": archive.getvalue()})
    location = lam.get_function(FunctionName=names[0])["Code"]["Location"]
    status, body = _get(localcloud, location)
    assert status == 200 and zipfile.ZipFile(io.BytesIO(body)).read("index.py").startswith(b"def handler")
    # the same signature on another function's path, and a signature of someone's making
    assert _get(localcloud, location.replace(names[0], names[1]))[0] == 403
    forged = location.rsplit("X-Amz-Signature=", 1)[0] + "X-Amz-Signature=" + "0" * 64
    assert _get(localcloud, forged)[0] == 403
