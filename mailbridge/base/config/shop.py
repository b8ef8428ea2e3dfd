"""The `[shop]` table of mailbridge.toml: the optional shop a customer's orders are looked up in, by email.

`kind = "prestashop"`: the PrestaShop webservice at `url`, its key from `key_env` or `key_file` (never from the TOML);
`kind = "command"`: `order_lookup_command`, a program run with the address as its last argument (no shell), printing
JSON. Lookups run outside intake (runtime/shop_lookup.py); answers are kept `cache_minutes`.
Errors read like every other configuration error: `file: [shop] url: expected an https:// URL ..., got 'ftp://x'`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from mailbridge.base.config.reader import Secret

SHOP_KEYS = {
    "kind",
    "url",
    "key",  # refused with a pointer to key_env or key_file: a plain secret is not read from TOML
    "key_env",
    "key_file",
    "ca_file",
    "order_lookup_command",
    "timeout_seconds",
    "cache_minutes",
    "currency",
}
SHOP_KINDS = ("prestashop", "command")
LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")


@dataclass(frozen=True)
class ShopSettings:
    kind: str  # "prestashop" or "command"
    url: str | None = None  # the shop's base URL; the webservice is at {url}/api/
    key: Secret | None = None  # the webservice key (basic auth user, empty password)
    ca_file: str | None = None  # a private CA for the shop's certificate; None: the system's
    command: tuple[str, ...] = ()  # order_lookup_command: argv; the address is appended
    timeout_seconds: float = 10.0  # per HTTP request or per command run
    cache_minutes: int = 60  # how long an answer (or a failure) is used before it is looked up again
    currency: str = ""  # shown after amounts ("EUR"); the shop's own amounts carry none


def read_shop(section: Any) -> ShopSettings | None:
    """Read and check `[shop]`; None when the table is absent or empty (no shop)."""
    if not section.table:
        return None
    kind = section.text("kind", required=True)
    if kind not in SHOP_KINDS:
        section.fail("kind", "expected one of " + " | ".join(f'"{k}"' for k in SHOP_KINDS), kind)
    common = dict(
        kind=kind,
        timeout_seconds=_timeout(section),
        cache_minutes=section.integer("cache_minutes", ShopSettings.cache_minutes, 1, 60 * 24 * 30),
        currency=section.text("currency", ""),
    )
    if kind == "prestashop":
        _refuse(section, ("order_lookup_command",), kind)
        key = section.secret("key")
        if key is None:
            section.fail("key_env", "expected key_env or key_file with the webservice key", None)
        ca_file = section.text("ca_file")
        if ca_file and not section.relative_path(ca_file).is_file():
            section.fail("ca_file", "expected an existing PEM file", ca_file)
        return ShopSettings(
            url=_url(section),
            key=key,
            ca_file=str(section.relative_path(ca_file)) if ca_file else None,
            **common,
        )
    _refuse(section, ("url", "key", "key_env", "key_file", "ca_file"), kind)
    return ShopSettings(command=_command(section), **common)


def _timeout(section: Any) -> float:
    value = section.number("timeout_seconds", ShopSettings.timeout_seconds, 0.1)
    if value > 120:
        section.fail("timeout_seconds", "expected a number of seconds 0.1-120", value)
    return value


def _refuse(section: Any, keys: tuple[str, ...], kind: str) -> None:
    for key in keys:
        if key in section.table:
            section.fail(key, f'not used with kind = "{kind}"', section.table[key])


def _url(section: Any) -> str:
    """The base URL: https, or http on this machine only (the key travels in every request)."""
    url = section.text("url", required=True).rstrip("/")
    parts = urlsplit(url)
    loopback = parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS
    if not parts.hostname or not (parts.scheme == "https" or loopback) or parts.query or parts.fragment:
        section.fail("url", "expected an https:// URL of the shop (http:// only on 127.0.0.1), without ?query", url)
    return url


def _command(section: Any) -> tuple[str, ...]:
    value = section.table.get("order_lookup_command")
    if value is None:
        section.fail(
            "order_lookup_command", 'expected a list of strings, like ["/usr/local/bin/orders", "--json"]', None
        )
    if isinstance(value, str) and value.strip():
        return (value.strip(),)
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        section.fail(
            "order_lookup_command", 'expected a list of strings, like ["/usr/local/bin/orders", "--json"]', value
        )
    return tuple(value)
