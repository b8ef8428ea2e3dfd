"""Decision: signed reply tokens for sub-addresses (`support+<token>@shop.example`). Pure.

A token names a ticket, a purpose ("c" customer thread, later "a" agent reply), an optional agent
and the day it was issued, signed with HMAC-SHA256 under the configured secret, so it can be
neither guessed nor altered. Intake verifies tokens found in recipient addresses; drafts make them.
After a rotation (`mailbridge secret rotate`) new tokens are signed with the current secret only, while
tokens signed with a previous secret still verify (`previous_secrets`), each within its own age limit.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from mailbridge.decisions.own_addresses import sub_address_tag

_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"
_EPOCH = date(1970, 1, 1)
# 10 bytes of the HMAC (80 bits) as 16 base32 characters: short enough for a local part.
MAC_BYTES = 10
CUSTOMER = "c"
AGENT = "a"


@dataclass(frozen=True)
class TokenClaims:
    ticket_id: int
    purpose: str
    agent_id: int | None
    issued_day: date | None


def _encode_int(value: int) -> str:
    digits = ""
    while True:
        value, rest = divmod(value, 32)
        digits = _ALPHABET[rest] + digits
        if value == 0:
            return digits


def _decode_int(text: str) -> int | None:
    if not text or any(c not in _ALPHABET for c in text):
        return None
    value = 0
    for char in text:
        value = value * 32 + _ALPHABET.index(char)
    return value


def _mac(body: str, secret: str | bytes) -> str:
    key = secret.encode() if isinstance(secret, str) else secret
    digest = hmac.new(key, body.encode(), hashlib.sha256).digest()[:MAC_BYTES]
    bits = int.from_bytes(digest, "big")
    return "".join(_ALPHABET[(bits >> shift) & 31] for shift in range(MAC_BYTES * 8 - 5, -1, -5))


def make_token(
    ticket_id: int,
    secret: str | bytes,
    purpose: str = CUSTOMER,
    agent_id: int | None = None,
    issued_day: date | None = None,
) -> str:
    """Sign a token for a ticket; undated when `issued_day` is None."""
    if not re.fullmatch(r"[a-z]", purpose):
        raise ValueError(f"purpose must be one lowercase letter, got {purpose!r}")
    day = (issued_day - _EPOCH).days + 1 if issued_day else 0
    fields = [purpose, _encode_int(ticket_id), _encode_int(day)]
    if agent_id is not None:
        fields.append(_encode_int(agent_id))
    body = ".".join(fields)
    return f"{body}.{_mac(body, secret)}"


def verify_token(
    token: str,
    secret: str | bytes,
    *,
    purpose: str = CUSTOMER,
    today: date | None = None,
    max_age_days: int | None = None,
    previous_secrets: Iterable[str | bytes] = (),
) -> TokenClaims | None:
    """Return the claims of a valid token for `purpose`, or None (forged, altered, expired, other purpose).

    A token signed with one of `previous_secrets` (retired by a rotation) is as valid as one signed with `secret`.
    """
    # Some mail systems fold local parts to upper case; the alphabet is case-free.
    fields = token.strip().lower().split(".")
    if len(fields) not in (4, 5) or fields[0] != purpose:
        return None
    body, mac = ".".join(fields[:-1]), fields[-1]
    if not any(hmac.compare_digest(_mac(body, key), mac) for key in (secret, *previous_secrets)):
        return None
    ticket_id, day = _decode_int(fields[1]), _decode_int(fields[2])
    agent_id = _decode_int(fields[3]) if len(fields) == 5 else None
    if ticket_id is None or day is None or (len(fields) == 5 and agent_id is None):
        return None
    issued = date.fromordinal(_EPOCH.toordinal() + day - 1) if day else None
    if max_age_days is not None and (issued is None or today is None or (today - issued).days > max_age_days):
        return None
    return TokenClaims(ticket_id, purpose, agent_id, issued)


def reply_address(support_address: str, token: str) -> str:
    """Put a token into the support address as a sub-address: support+<token>@domain."""
    local, _, domain = support_address.rpartition("@")
    return f"{local}+{token}@{domain}"


def tokens_in(addresses: tuple[str, ...], support_addresses: frozenset[str]) -> tuple[str, ...]:
    """Return the tokens carried as sub-addresses of our own addresses (`own_addresses.is_ours`), in order."""
    found = []
    for address in addresses:
        token = sub_address_tag(address, support_addresses)
        if token:
            found.append(token)
    return tuple(found)
