"""A tiny OAuth2 token introspection endpoint (RFC 7662) on 127.0.0.1, for Dovecot's oauth2 passdb in tests.

`start_oauth2_server()` runs a stdlib `http.server` in a thread on a free port. A POST (or GET) to
`/introspect` with `token=...` answers `{"active": true, "username": USER}` for a token it currently
accepts and `{"active": false}` otherwise. `issue(user)` hands out a new token, `expire(token)`
stops accepting one; `requests` records every token Dovecot asked about. Stop it with `stop()`.
"""

from __future__ import annotations

import json
import secrets
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from .util import HOST, free_port

PATH = "/introspect"


@dataclass
class OAuth2Server:
    port: int
    tokens: dict[str, str] = field(default_factory=dict)  # token -> username
    requests: list[str] = field(default_factory=list)  # tokens asked about, in order
    _httpd: ThreadingHTTPServer | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def introspection_url(self) -> str:
        return f"http://{HOST}:{self.port}{PATH}"

    def issue(self, username: str) -> str:
        """Return a new token that is accepted for username."""
        token = "tok-" + secrets.token_urlsafe(16)
        with self._lock:
            self.tokens[token] = username
        return token

    def expire(self, token: str) -> None:
        """Stop accepting token (as if it had expired)."""
        with self._lock:
            self.tokens.pop(token, None)

    def introspect(self, token: str) -> dict:
        """Return the RFC 7662 answer for token and record the question."""
        with self._lock:
            self.requests.append(token)
            username = self.tokens.get(token)
        return {"active": True, "username": username} if username else {"active": False}

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None


def _handler(server: OAuth2Server) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._answer(parse_qs(urlsplit(self.path).query))

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self._answer(parse_qs(self.rfile.read(length).decode("utf-8", "replace")))

        def _answer(self, form: dict[str, list[str]]) -> None:
            if urlsplit(self.path).path != PATH:
                self.send_error(404)
                return
            bearer = self.headers.get("Authorization", "")
            token = (form.get("token") or [bearer.removeprefix("Bearer ").strip()])[0]
            body = json.dumps(server.introspect(token)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args) -> None:
            pass

    return Handler


def start_oauth2_server() -> OAuth2Server:
    """Start the introspection endpoint on a free 127.0.0.1 port in a daemon thread."""
    server = OAuth2Server(port=free_port())
    server._httpd = ThreadingHTTPServer((HOST, server.port), _handler(server))
    threading.Thread(target=server._httpd.serve_forever, name="oauth2-introspection", daemon=True).start()
    return server
