"""Raw HTTP/1.1 on a socket, for tests that send what no HTTP client would."""

from __future__ import annotations

import socket
import threading
import time

ANSWER_WITHIN_S = 30  # generous: a loaded machine


def exchange(port: int, parts: list[bytes], *, pause: float = 0.0, half_close: bool = False,
             timeout: float = ANSWER_WITHIN_S) -> tuple[bytes, bool]:
    """Send ``parts`` (``pause`` s apart, stopping once the server closed); return what
    came back and whether the server closed the connection."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    stop = threading.Event()

    def write() -> None:
        try:
            for part in parts:
                if stop.is_set():
                    return
                sock.sendall(part)
                if pause:
                    stop.wait(pause)
            if half_close:
                sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server closed while we were still sending: that is the point

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    received, closed = b"", False
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            chunk = sock.recv(65536)
            if not chunk:
                closed = True
                break
            received += chunk
    except ConnectionResetError:
        closed = True
    except TimeoutError:
        pass
    finally:
        stop.set()
        sock.close()
        writer.join(timeout=5)
    return received, closed


def status_of(response: bytes) -> int | None:
    return int(response.split(b" ", 2)[1]) if response.startswith(b"HTTP/1.1 ") else None
