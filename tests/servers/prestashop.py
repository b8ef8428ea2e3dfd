"""A local HTTP server on 127.0.0.1 that answers like the PrestaShop webservice, for the `[shop]` tests.

It serves `GET /api/customers` and `GET /api/orders` with `filter[...]=[value]`, `display=full` and
`output_format=JSON` as PrestaShop 1.7/8 does: `{"customers": [{...}]}`, an empty list as `[]`, values as strings
except `id`, XML unless JSON is asked for, 401 without the key (HTTP basic auth, the key as user, or `ws_key=`).
`mode` makes it fail: "ok", "error" (500 to everything) or "hang" (no answer until stopped). Records each request.
"""

from __future__ import annotations

import base64
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from .util import HOST

KEY = "TESTKEY5N7Q2ZK8VYB3XWMD4RCJ6P9HLA"


@dataclass
class FakePrestaShop:
    customers: list[dict] = field(default_factory=list)
    orders: list[dict] = field(default_factory=list)
    mode: str = "ok"
    requests: list[str] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None
    released: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://{HOST}:{self.server.server_address[1]}"

    def add_customer(self, customer_id: int, email: str, first: str, last: str, registered: str) -> None:
        self.customers.append(
            {
                "id": customer_id,
                "id_default_group": "3",
                "id_lang": "1",
                "lastname": last,
                "firstname": first,
                "email": email,
                "active": "1",
                "is_guest": "0",
                "date_add": registered,
                "date_upd": registered,
                "associations": {"groups": [{"id": "3"}]},
            }
        )

    def add_order(self, order_id: int, customer_id: int, reference: str, total: str, date: str, state: str) -> None:
        self.orders.append(
            {
                "id": order_id,
                "id_customer": str(customer_id),
                "id_currency": "1",
                "current_state": state,
                "payment": "Bank wire",
                "reference": reference,
                "total_paid": total,
                "total_paid_tax_incl": total,
                "date_add": date,
                "date_upd": date,
                "associations": {"order_rows": [{"id": "1", "product_id": "2", "product_quantity": "1"}]},
            }
        )

    def stop(self) -> None:
        self.released.set()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def start_prestashop() -> FakePrestaShop:
    shop = FakePrestaShop()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format, *args):  # noqa: A002 - the base class's name
            pass

        def do_GET(self):  # noqa: N802 - the base class's name
            shop.requests.append(self.path)
            if shop.mode == "hang":
                shop.released.wait(30)
                return
            if shop.mode == "error":
                return self._send(500, b"<h1>Internal Server Error</h1>", "text/html")
            parts = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            if not self._authorised(query):
                return self._send(401, b"<prestashop><errors>Unauthorized</errors></prestashop>", "text/xml")
            resource = parts.path.removeprefix("/api/").strip("/")
            rows = {"customers": shop.customers, "orders": shop.orders}.get(resource)
            if rows is None:
                return self._send(404, b"{}", "application/json")
            for key, value in query.items():
                if key.startswith("filter["):
                    name, wanted = key[7:-1], value.strip("[]").lower()
                    rows = [r for r in rows if str(r.get(name, "")).lower() == wanted]
            if query.get("output_format") != "JSON":
                return self._send(200, b'<?xml version="1.0"?><prestashop/>', "text/xml")
            if query.get("display") != "full":
                rows = [{"id": r["id"]} for r in rows]
            body = json.dumps({resource: rows} if rows else []).encode()
            self._send(200, body, "application/json")

        def _authorised(self, query: dict[str, str]) -> bool:
            if query.get("ws_key") == KEY:
                return True
            header = self.headers.get("Authorization", "")
            expected = "Basic " + base64.b64encode(f"{KEY}:".encode()).decode()
            return header == expected

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("PSWS-Version", "8.1.0")
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer((HOST, 0), Handler)
    server.daemon_threads = True
    shop.server = server
    threading.Thread(target=server.serve_forever, name="prestashop", daemon=True).start()
    return shop
