"""The shop a customer's orders are looked up in, by email: the PrestaShop webservice or an `order_lookup_command`.

Built by `build_shop_client(settings.shop)` for the shop job (runtime/shop_lookup.py), the only caller; answers are
parsed by decisions.shop. Every call is bounded by `[shop] timeout_seconds`; any failure (refused, timed out, an HTTP
error, a non-zero exit, an answer of the wrong shape) is a `ShopLookupError` with one line saying what happened.
"""

from __future__ import annotations

import base64
import json
import ssl
import subprocess
import urllib.error
import urllib.request
from typing import Any, Protocol
from urllib.parse import urlencode

from mailbridge.base.config.shop import ShopSettings
from mailbridge.base.errors import MailbridgeError
from mailbridge.decisions.shop import (
    ShopAnswerError,
    ShopHistory,
    parse_command_output,
    parse_prestashop,
    parse_prestashop_customers,
)

MAX_ANSWER_BYTES = 5_000_000
FILTER_SYNTAX = "[]|%,"  # the webservice's filter operators (`filter[email]=[a|b]` is "a or b")


class ShopLookupError(MailbridgeError):
    """A lookup in the shop failed; the customer's notification goes out without the history."""


class ShopClient(Protocol):
    def look_up(self, email: str) -> ShopHistory | None:
        """Return the customer's history, None when the shop knows no such customer. Raises: ShopLookupError."""
        ...


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # The key is in every request: a redirect to another host must not carry it there.
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        raise urllib.error.HTTPError(req.full_url, code, f"redirected to {newurl}", headers, fp)


class PrestaShopClient:
    """Implements `ShopClient` over the PrestaShop webservice (HTTP basic auth: the key as user, no password)."""

    def __init__(self, shop: ShopSettings):
        assert shop.url is not None and shop.key is not None
        self.url, self.timeout = shop.url, shop.timeout_seconds
        token = base64.b64encode(f"{shop.key.value}:".encode()).decode()
        self._auth = f"Basic {token}"
        context = ssl.create_default_context(cafile=shop.ca_file)  # certificates are always verified
        self._opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=context), _NoRedirect)

    def look_up(self, email: str) -> ShopHistory | None:
        if any(c in email for c in FILTER_SYNTAX):
            return None  # it would be read as the webservice's filter syntax: no shop account has such an address
        customers = self._get("customers", {"filter[email]": f"[{email}]", "display": "full"})
        try:
            customer = parse_prestashop_customers(customers)
            if customer is None:
                return None
            orders = self._get("orders", {"filter[id_customer]": f"[{customer['id']}]", "display": "full"})
            return parse_prestashop(customer, orders)
        except ShopAnswerError as exc:
            raise ShopLookupError(f"shop {self.url}: {exc}") from None

    def _get(self, resource: str, params: dict[str, str]) -> Any:
        query = urlencode({**params, "output_format": "JSON"})
        request = urllib.request.Request(
            f"{self.url}/api/{resource}?{query}", headers={"Authorization": self._auth, "Accept": "application/json"}
        )
        where = f"shop {self.url}/api/{resource}"
        try:
            with self._opener.open(request, timeout=self.timeout) as answer:
                body = answer.read(MAX_ANSWER_BYTES + 1)
        except urllib.error.HTTPError as exc:
            raise ShopLookupError(f"{where}: HTTP {exc.code} {exc.reason}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ShopLookupError(f"{where}: {reason or type(exc).__name__}") from None
        if len(body) > MAX_ANSWER_BYTES:
            raise ShopLookupError(f"{where}: answer larger than {MAX_ANSWER_BYTES} bytes")
        try:
            return json.loads(body)
        except ValueError:
            raise ShopLookupError(f"{where}: the answer is not JSON") from None


class CommandClient:
    """Implements `ShopClient` with `order_lookup_command`: run with the address as its last argument, no shell."""

    def __init__(self, shop: ShopSettings):
        self.command, self.timeout = shop.command, shop.timeout_seconds

    def look_up(self, email: str) -> ShopHistory | None:
        if email.startswith("-"):
            return None  # it would be read as an option of the command
        name = self.command[0]
        try:
            done = subprocess.run(
                [*self.command, email], capture_output=True, timeout=self.timeout, stdin=subprocess.DEVNULL
            )
        except subprocess.TimeoutExpired:
            raise ShopLookupError(f"order_lookup_command {name}: no answer within {self.timeout:g} s") from None
        except OSError as exc:
            raise ShopLookupError(f"order_lookup_command {name}: {exc.strerror or exc}") from None
        if done.returncode != 0:
            said = done.stderr.decode(errors="replace").strip().splitlines()
            detail = f": {said[-1][:200]}" if said else ""
            raise ShopLookupError(f"order_lookup_command {name}: exit status {done.returncode}{detail}")
        try:
            return parse_command_output(done.stdout[:MAX_ANSWER_BYTES].decode(errors="replace"))
        except ShopAnswerError as exc:
            raise ShopLookupError(f"order_lookup_command {name}: {exc}") from None


def build_shop_client(shop: ShopSettings | None) -> ShopClient | None:
    """The client of the configured shop; None without `[shop]`."""
    if shop is None:
        return None
    return PrestaShopClient(shop) if shop.kind == "prestashop" else CommandClient(shop)
