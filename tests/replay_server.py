"""A local HTTP server that replays recorded vendor answers (tests never touch the network)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


@dataclass
class Reply:
    body: bytes = b"{}"
    status: int = 200
    headers: dict = field(default_factory=dict)
    delay: float = 0.0
    when_auth: str | None = None  # only for requests whose Authorization header equals this


def fixture(vendor: str, name: str, status: int = 200, **kw) -> Reply:
    return Reply((FIXTURES / "quota" / vendor / name).read_bytes(), status, **kw)


class ReplayServer:
    """``routes[path] = [Reply, ...]``; a reply with ``when_auth`` answers only that Authorization."""

    def __init__(self):
        self.routes: dict[str, list[Reply]] = {}
        self.seen: list[tuple[str, dict]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                owner.seen.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
                path = self.path.split("?", 1)[0]
                replies = owner.routes.get(path, [])
                auth = self.headers.get("Authorization")
                reply = next((r for r in replies if r.when_auth in (None, auth)), None)
                if reply is None:
                    reply = Reply(b'{"error":"not found"}', 404)
                if reply.delay:
                    time.sleep(reply.delay)
                try:
                    self.send_response(reply.status)
                    for k, v in {"Content-Type": "application/json", **reply.headers}.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
