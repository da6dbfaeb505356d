"""An HTTP proxy on 127.0.0.1 that can make a real S3-compatible server fail on demand:
stop answering (its port refuses connections), answer slowly, or answer every request with
an error status, and then recover. It sits between ProductLens and the moto server of
tests/object_storage.py, so LanceDB's own HTTP client meets each fault as it would in
production; nothing inside LanceDB or ProductLens is patched."""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from tests.browser import free_port

# Headers that describe one hop, not the message (RFC 9110 §7.6.1).
_HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade"}


@dataclass
class Fault:
    """What the proxy does to each request (to those whose path contains `only`, if set):
    `delay_s` before forwarding it, then either forward it (`status` None) or answer
    `status` itself."""

    delay_s: float = 0.0
    status: int | None = None
    only: str | None = None

    def applies_to(self, path: str) -> bool:
        return self.only is None or self.only in path


class FaultProxy:
    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self._upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.fault = Fault()
        self.requests = 0  # forwarded or failed, for a test to see traffic went through
        self.data_writes = 0  # PUTs of table data files that reached the server
        self._server: ThreadingHTTPServer | None = None
        self._open: set[socket.socket] = set()  # kept-alive connections, cut by stop()

    # -- the faults -------------------------------------------------------------------
    def normal(self) -> None:
        self.fault = Fault()
        self.start()

    def slow(self, delay_s: float) -> None:
        self.fault = Fault(delay_s=delay_s)

    def errors(self, status: int = 503, only: str | None = None) -> None:
        self.fault = Fault(status=status, only=only)

    def stop(self) -> None:
        """The server is gone: connections to its port are refused."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        for connection in list(self._open):  # a stopped server drops its connections too
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    # -- serving ------------------------------------------------------------------------
    def start(self) -> None:
        if self._server is not None:
            return
        self._server = _QuietServer(("127.0.0.1", self.port), self._handler())
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as LanceDB's client expects

            def setup(self) -> None:
                super().setup()
                proxy._open.add(self.connection)

            def finish(self) -> None:
                proxy._open.discard(self.connection)
                with contextlib.suppress(OSError):
                    super().finish()

            def _forward(self) -> None:
                proxy.requests += 1
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                fault = proxy.fault if proxy.fault.applies_to(self.path) else Fault()
                if fault.delay_s:
                    time.sleep(fault.delay_s)
                if fault.status is not None:
                    return self._reply(fault.status, [], _s3_error(fault.status))
                if self.command in ("PUT", "POST") and "/data/" in self.path:
                    proxy.data_writes += 1
                upstream = http.client.HTTPConnection(*proxy._upstream, timeout=60)
                try:
                    headers = _end_to_end(self.headers.items())
                    upstream.request(self.command, self.path, body=body, headers=headers)
                    response = upstream.getresponse()
                    payload = response.read()
                    kept = list(_end_to_end(response.getheaders()).items())
                    self._reply(response.status, kept, payload)
                finally:
                    upstream.close()

            def _reply(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
                self.send_response(status)
                for name, value in headers:
                    if name.lower() != "content-length":
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

            def log_message(self, *args: object) -> None:  # quiet
                pass

        return Handler


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that hung up on a slow or stopped proxy is the point, not news


def _end_to_end(headers) -> dict[str, str]:
    return {name: value for name, value in headers if name.lower() not in _HOP_HEADERS}


def _s3_error(status: int) -> bytes:
    code = {503: "SlowDown", 500: "InternalError"}.get(status, "ServiceUnavailable")
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
        f"<Message>injected by the test proxy</Message></Error>"
    ).encode()


@contextlib.contextmanager
def fault_proxy(upstream: str) -> Iterator[FaultProxy]:
    proxy = FaultProxy(upstream)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()
