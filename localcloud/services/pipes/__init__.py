"""EventBridge Pipes: the runtime ministack lacks for SQS sources."""

from localcloud.extension import Extension
from localcloud.services.pipes import capture, runtime

EXTENSION = Extension(name="pipes_sqs", needed=capture.needed, install=capture.install, start=runtime.start,
                      stop=runtime.stop, state=capture.state, restore=capture.restore)
