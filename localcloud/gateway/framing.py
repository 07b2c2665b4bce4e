"""Honest HTTP/1.1 framing on the one port: what h11 and hypercorn let through.

h11 parses messages correctly but, as a library, leaves policy to its server, and
hypercorn 0.18 dispatches a request to the app as soon as h11 has its body. Measured on
this server before this module, with an HTTP API route that sends the body to SQS:

* Content-Length shorter than the body sent, with ``Connection: close``: the truncated
  body went to the queue, and then hypercorn answered 400 for the bytes after it.
* Content-Length with ``Transfer-Encoding: chunked``: h11 lets chunked win (RFC 9112
  §6.3) and keeps the connection, so a request hidden after the chunks was served too.
  RFC 9112 §6.1: a server may reject such a request, and must close the connection.
* A body that trickles in was never timed out.

So the server's protocol gets three guards, decided before the app sees the end of a
body (the app only acts on a body once it is complete):

* a request with both Content-Length and Transfer-Encoding is refused (400) and the
  connection closed;
* bytes left over when a body ends, on a connection the request said closes, or that
  cannot be the start of a next request line, mean the declared length was not the
  length sent: refused (400), connection closed, the body never delivered. (Bytes that
  arrive only after a complete close-delimited request are ignored, RFC 9112 §9.6.)
* a request must arrive whole, headers and body, within LOCALCLOUD_READ_TIMEOUT_SECONDS
  of its first byte (default 30, API Gateway's integration timeout): else 408, closed.

A peer that closes mid-body gets h11's own verdict (400) instead of a silent close.
Whatever the app tries to send after a refusal is dropped.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from functools import lru_cache

import h11

logger = logging.getLogger("localcloud.framing")

DEFAULT_READ_TIMEOUT_S = 30.0

_TOKEN = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_TARGET = rb"[\x21-\x7e\x80-\xff]+"
_REQUEST_LINE = re.compile(_TOKEN + rb" " + _TARGET + rb" HTTP/\d\.\d\r?\n")
_VERSION_PREFIX = rb"(?:H(?:T(?:T(?:P(?:/(?:\d(?:\.(?:\d\r?)?)?)?)?)?)?)?)?"
_REQUEST_LINE_PREFIX = re.compile(
    _TOKEN + rb"(?: (?:[\x21-\x7e\x80-\xff]*|" + _TARGET + rb" " + _VERSION_PREFIX + rb"))?")


_FRAMING_HEADERS = (b"content-length", b"transfer-encoding")


@lru_cache(maxsize=1)
def read_timeout_s() -> float:
    return float(os.environ.get("LOCALCLOUD_READ_TIMEOUT_SECONDS", DEFAULT_READ_TIMEOUT_S))


def could_start_request(data: bytes) -> bool:
    """Whether ``data`` can be the beginning of a pipelined HTTP/1.1 request."""
    line, newline, _rest = data.partition(b"\n")
    if newline:
        return _REQUEST_LINE.fullmatch(line + newline) is not None
    return _REQUEST_LINE_PREFIX.fullmatch(line) is not None


class FramedConnection(h11.Connection):
    """h11's server connection, refusing messages whose framing contradicts the bytes."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.refused = False
        self.request_started: float | None = None  # monotonic time of an incomplete request's first byte
        self.on_request_start = lambda started: None

    def _start_request(self) -> None:
        self.request_started = time.monotonic()
        self.on_request_start(self.request_started)

    def receive_data(self, data: bytes) -> None:
        if data and self.their_state is h11.MUST_CLOSE:
            return  # after a complete request that closes the connection: not a request (RFC 9112 §9.6)
        super().receive_data(data)
        if data and self.request_started is None and self.their_state is h11.IDLE:
            self._start_request()

    def next_event(self):
        if self.refused:
            raise h11.RemoteProtocolError("request refused", error_status_hint=400)
        event = super().next_event()
        problem = None
        if isinstance(event, h11.Request):
            names = [name for name, _value in event.headers if name in _FRAMING_HEADERS]
            if len(set(names)) == 2:
                problem = "both Content-Length and Transfer-Encoding"
        elif isinstance(event, h11.EndOfMessage):
            self.request_started = None
            pending, _closed = self.trailing_data
            if pending and (self.their_state is h11.MUST_CLOSE or not could_start_request(pending)):
                problem = f"{len(pending)} bytes after the end of the body its headers declared"
            elif pending:
                self._start_request()  # a pipelined request has begun to arrive
        if problem:
            self.refused = True
            logger.info("refused a request: %s", problem)
            raise h11.RemoteProtocolError(problem, error_status_hint=400)
        return event


def guarded_protocol(h11_protocol: type) -> type:
    """``h11_protocol`` (hypercorn's) with a FramedConnection and a whole-request deadline."""
    from hypercorn.events import Closed, RawData
    from hypercorn.protocol.events import StreamClosed

    class GuardedH11Protocol(h11_protocol):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self.connection = FramedConnection(h11.SERVER,
                                               max_incomplete_event_size=self.config.h11_max_incomplete_size)
            self.connection.on_request_start = self._arm_deadline
            self._deadline: asyncio.TimerHandle | None = None
            self._refusal: asyncio.Future | None = None

        def _refused(self) -> bool:
            return getattr(self.connection, "refused", False)

        async def handle(self, event) -> None:
            if isinstance(event, Closed) and self._mid_request():
                # EOF is data to h11: it judges the incomplete message (400) before we close.
                await super().handle(RawData(data=b""))
            if isinstance(event, Closed) and self._deadline:
                self._deadline.cancel()
            await super().handle(event)

        def _mid_request(self) -> bool:
            connection = self.connection
            if not isinstance(connection, FramedConnection) or connection.refused:
                return False
            return connection.their_state is h11.SEND_BODY or (
                connection.their_state is h11.IDLE and bool(connection.trailing_data[0]))

        def _arm_deadline(self, started: float) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
            delay = max(0.0, started + read_timeout_s() - time.monotonic())
            self._deadline = asyncio.get_running_loop().call_later(delay, self._deadline_passed, started)

        def _deadline_passed(self, started: float) -> None:
            self._deadline = None
            connection = self.connection
            if isinstance(connection, FramedConnection) and not connection.refused \
                    and connection.request_started == started:
                self._refusal = asyncio.ensure_future(self._refuse_slow_request())

        async def _refuse_slow_request(self) -> None:
            connection = self.connection
            logger.info("refused a request: not whole within %.0f s", read_timeout_s())
            if connection.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                data = connection.send(h11.Response(status_code=408, headers=[
                    (b"content-length", b"0"), (b"connection", b"close")]))
                data += connection.send(h11.EndOfMessage())
                await self.send(RawData(data=data))
            connection.refused = True
            await self.send(Closed())
            await super().handle(Closed())

        async def stream_send(self, event) -> None:
            if self._refused() and not isinstance(event, StreamClosed):
                return  # the request was refused and answered: nothing of the app's goes out
            await super().stream_send(event)

    return GuardedH11Protocol


def install() -> None:
    """Make hypercorn's connections use the guarded protocol (hypercorn 0.18 picks its
    HTTP/1.1 protocol class from ``hypercorn.protocol``'s namespace)."""
    import hypercorn.protocol as protocol

    if getattr(protocol.H11Protocol, "_localcloud_guarded", False):
        return
    guarded = guarded_protocol(protocol.H11Protocol)
    guarded._localcloud_guarded = True
    protocol.H11Protocol = guarded
