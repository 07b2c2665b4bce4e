"""EventBridge Pipes: the API, CloudFormation and a runtime for SQS, Kinesis and DynamoDB
stream sources, enrichments and ten targets (ministack keeps neither SourceParameters
nor TargetParameters and polls only DynamoDB streams to SNS / Step Functions).

The extension takes over the Pipes API and AWS::Pipes::Pipe whole, so ministack's store
stays empty and its own poller never delivers a pipe's records a second time.
"""

from localcloud import seams
from localcloud.extension import Extension
from localcloud.services.pipes import api, cloudformation, runtime, store
from localcloud.services.pipes.sources import sqs


def _wrap_sqs_handler(original):
    async def handle(method, path, headers, body, query_params):
        result = await original(method, path, headers, body, query_params)
        if result[0] < 400:
            sqs.notify_enqueued()
        return result

    return handle


def needed() -> bool:
    """ministack 1.5.33 forgets SourceParameters; a release that keeps them may run pipes itself."""
    return not seams.pipes.probe_keeps_source_parameters()


def install() -> None:
    seams.wrap_service_handler("pipes", lambda _ministack_handler: api.handle)
    seams.wrap_service_handler("sqs", _wrap_sqs_handler)
    cloudformation.install()


EXTENSION = Extension(name="pipes", needed=needed, install=install, start=runtime.start, stop=runtime.stop,
                      state=store.state, restore=store.restore)
