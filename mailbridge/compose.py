"""Decision: OutgoingDraft -> EmailMessage. Pure; intake calls it when it enqueues a mail.

Headers are set only through EmailMessage and headerregistry.Address, which refuse CR/LF;
every value that came from a customer passes through clean_header_text first, and only
well-formed message ids are copied into In-Reply-To and References.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

from mailbridge.templates import RenderedMail

OWN_ID = re.compile(r"^<mb\.(?P<nonce>[0-9a-f]{20})\.(?P<mac>[0-9a-f]{12})@[^<>\s@]+>$")
MSG_ID = re.compile(r"^<[^<>\s@]+@[^<>\s@]+>$")
MAX_REFERENCES = 20
MAX_SUBJECT = 200


@dataclass(frozen=True)
class OutgoingDraft:
    kind: str
    from_name: str
    from_address: str
    to_name: str
    to_address: str
    subject: str
    body: RenderedMail
    in_reply_to: str | None
    references: tuple[str, ...]
    auto_submitted: str | None  # RFC 3834: "auto-replied", "auto-generated", or None for a person's answer
    instance_id: str
    reply_to: str | None = None  # the ticket's signed address, so replies thread by token
    attachments: tuple[OutgoingAttachment, ...] = ()
    reply_to_name: str | None = None  # display name of Reply-To; None: from_name


@dataclass(frozen=True)
class OutgoingAttachment:
    filename: str
    content_type: str
    content: bytes


def clean_header_text(value: str, limit: int = MAX_SUBJECT) -> str:
    """Make user text safe for a header: no control characters, one line, bounded length."""
    flat = "".join(" " if unicodedata.category(c)[0] == "C" else c for c in value)
    return re.sub(r"\s+", " ", flat).strip()[:limit]


def make_address(name: str, address: str) -> Address:
    """Build an Address; raises ValueError for an address that cannot be written safely."""
    local, _, domain = address.strip().rpartition("@")
    if not local or not domain or any(c in address for c in "\r\n<>\" ,;"):
        raise ValueError(f"unusable address {address!r}")
    return Address(display_name=clean_header_text(name, 100), username=local, domain=domain)


def thread_ids(in_reply_to: str | None, references: tuple[str, ...]) -> tuple[str | None, tuple[str, ...]]:
    """Keep only well-formed ids; References ends with the parent, at most MAX_REFERENCES long."""
    parent = in_reply_to if in_reply_to and MSG_ID.match(in_reply_to) else None
    chain = [r for r in references if MSG_ID.match(r)]
    if parent and parent not in chain:
        chain.append(parent)
    if len(chain) > MAX_REFERENCES:
        chain = chain[:1] + chain[-(MAX_REFERENCES - 1):]
    return parent, tuple(chain)


def new_message_id(from_address: str, secret: str | None = None) -> str:
    """Draw a Message-ID on the support domain; with a secret it is signed, so an echo can be proven ours."""
    nonce = secrets.token_hex(10)
    domain = from_address.rpartition("@")[2]
    if secret is None:
        return f"<mb.{nonce}@{domain}>"
    return f"<mb.{nonce}.{_id_mac(nonce, secret)}@{domain}>"


def is_own_message_id(message_id: str | None, secret: str | None) -> bool:
    """Tell whether a Message-ID was signed by us (needs the secret; unsigned ids prove nothing)."""
    match = OWN_ID.match(message_id or "")
    return bool(match and secret and hmac.compare_digest(match["mac"], _id_mac(match["nonce"], secret)))


def _id_mac(nonce: str, secret: str) -> str:
    return hmac.new(secret.encode(), b"message-id:" + nonce.encode(), hashlib.sha256).hexdigest()[:12]


def compose(draft: OutgoingDraft, message_id: str, now: datetime) -> EmailMessage:
    """Build the mail for a draft, with its fixed Message-ID and date."""
    message = EmailMessage()
    message["From"] = make_address(draft.from_name, draft.from_address)
    message["To"] = make_address(draft.to_name, draft.to_address)
    message["Subject"] = clean_header_text(draft.subject)
    message["Date"] = format_datetime(now)
    message["Message-ID"] = message_id
    parent, chain = thread_ids(draft.in_reply_to, draft.references)
    if parent:
        message["In-Reply-To"] = parent
    if chain:
        message["References"] = " ".join(chain)
    if draft.auto_submitted:
        message["Auto-Submitted"] = draft.auto_submitted
        message["X-Auto-Response-Suppress"] = "All"
        message["Precedence"] = "auto_reply"
    if draft.reply_to:
        message["Reply-To"] = make_address(draft.reply_to_name or draft.from_name, draft.reply_to)
    message["X-Mailbridge-Loop"] = draft.instance_id
    message.set_content(draft.body.text)
    message.add_alternative(draft.body.html, subtype="html")
    for part in draft.attachments:
        maintype, _, subtype = part.content_type.partition("/")
        if maintype == "text" or not subtype:
            maintype, subtype = "application", "octet-stream"
        message.add_attachment(part.content, maintype=maintype, subtype=subtype,
                               filename=clean_header_text(part.filename, 150) or "attachment")
    return message


def compose_admin_notice(*, from_name: str, from_address: str, to_address: str, subject: str, text: str,
                         message_id: str, now: datetime, instance_id: str) -> EmailMessage:
    """Build a plain-text mail to the admin; RFC 3834: it answers nothing, so auto-generated."""
    message = EmailMessage()
    message["From"] = make_address(from_name, from_address)
    message["To"] = make_address("", to_address)
    message["Subject"] = clean_header_text(subject)
    message["Date"] = format_datetime(now)
    message["Message-ID"] = message_id
    message["Auto-Submitted"] = "auto-generated"
    message["X-Auto-Response-Suppress"] = "All"
    message["X-Mailbridge-Loop"] = instance_id
    message.set_content(text)
    return message
