"""Decision: ParsedMessage + our own addresses -> MessageKind. Pure; called by intake.

RFC 3834 and what real servers do: automatic mail is recognised so it is never answered.
"""

from __future__ import annotations

import re

from mailbridge.decisions.inbound.parse import ParsedMessage
from mailbridge.decisions.kinds import MessageKind

AUTOMATIC_PRECEDENCE = {"bulk", "junk", "list", "auto_reply"}
# An address (RFC 5322 §3.4.1) we can write into a header: a dot-atom or a quoted local part of printable ASCII
# without quote, backslash or comma (what compose.make_address accepts); anything else gets no automatic mail.
REPLYABLE_ADDRESS = re.compile(
    r"^(?:[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+|\"[\x20\x21\x23-\x2b\x2d-\x5b\x5d-\x7e]+\")@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$"
)
DAEMON_LOCAL_PARTS = {"mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon"}


def is_bounce(parsed: ParsedMessage) -> bool:
    """Tell whether the message is a delivery status notification."""
    content_type = parsed.headers.get("content-type", "").lower()
    if "multipart/report" in content_type and "delivery-status" in content_type:
        return True
    local_part = (parsed.from_addr or "").partition("@")[0]
    return local_part in DAEMON_LOCAL_PARTS


def is_automatic(parsed: ParsedMessage) -> bool:
    """Tell whether the message was sent by a program (RFC 3834 §5 and common practice)."""
    headers = parsed.headers
    # RFC 6522: every multipart/report (feedback reports, read receipts, DSNs) is written by a program.
    if "multipart/report" in headers.get("content-type", "").lower():
        return True
    auto_submitted = headers.get("auto-submitted", "no").strip().lower()
    if auto_submitted and not auto_submitted.startswith("no"):
        return True
    if headers.get("precedence", "").strip().lower() in AUTOMATIC_PRECEDENCE:
        return True
    if any(name.startswith("list-") for name in headers):
        return True
    if "x-auto-response-suppress" in headers or "x-autoreply" in headers or "x-autorespond" in headers:
        return True
    return_path = headers.get("return-path")
    return return_path is not None and return_path.strip() in ("<>", "")


def classify(parsed: ParsedMessage, own_addresses: frozenset[str], is_own_id=lambda _message_id: False) -> MessageKind:
    """Decide what kind of message this is; `is_own_id` tells whether a Message-ID is one we signed."""
    if "x-mailbridge-loop" in parsed.headers or (parsed.from_addr or "") in own_addresses:
        return MessageKind.ECHO
    if is_own_id(parsed.message_id):
        return MessageKind.ECHO
    if is_bounce(parsed):
        return MessageKind.BOUNCE
    if is_automatic(parsed):
        return MessageKind.AUTO_REPLY
    return MessageKind.CUSTOMER


def may_auto_reply(kind: MessageKind, parsed: ParsedMessage) -> bool:
    """Tell whether an automatic answer (receipt, notice) may go to this message's sender."""
    return kind is MessageKind.CUSTOMER and bool(REPLYABLE_ADDRESS.match(parsed.from_addr or ""))
