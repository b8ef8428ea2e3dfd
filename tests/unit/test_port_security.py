"""The pure part of the port sniff: what a server's first bytes show, and the hint for a misfitting `security`."""

from __future__ import annotations

import pytest

from mailbridge.base.port_security import classify_first_bytes, mismatch_hint


@pytest.mark.parametrize(
    "first, speech",
    [
        (b"* OK [CAPABILITY IMAP4rev1] Dovecot ready.\r\n", "plain"),
        (b"220 smtp.shop.example ESMTP Postfix\r\n", "plain"),
        (b"\x15\x03\x03\x00\x02\x02\x46", "tls"),  # an alert
        (b"\x16\x03\x01\x00\x5a", "tls"),  # a handshake record
        (b"\x00\xff", None),
        (b"", None),
    ],
)
def test_first_bytes_tell_tls_from_a_greeting(first, speech):
    assert classify_first_bytes(first) == speech


@pytest.mark.parametrize("security", ["plain", "starttls"])
def test_plaintext_or_starttls_to_a_tls_port_is_told_to_use_ssl(security):
    assert mismatch_hint("tls", security, 993) == "port 993 speaks TLS: use security = ssl"


def test_ssl_to_a_plaintext_port_is_told_to_use_starttls():
    assert (
        mismatch_hint("plain", "ssl", 143) == "port 143 speaks plaintext, not TLS: use security = starttls (or plain)"
    )


@pytest.mark.parametrize(
    "speech, security", [("tls", "ssl"), ("plain", "plain"), ("plain", "starttls"), (None, "ssl"), (None, "plain")]
)
def test_a_fitting_or_unclear_port_gets_no_hint(speech, security):
    assert mismatch_hint(speech, security, 587) is None
