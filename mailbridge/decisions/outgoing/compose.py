"""Decision: OutgoingDraft -> email Message. Pure; intake calls it when it enqueues a mail.

Addresses are checked by headerregistry.Address (which refuses CR/LF) before they are written;
every value that came from a customer passes through clean_header_text first, only well-formed
message ids are copied into In-Reply-To and References, and `_set` refuses any line break.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import quopri
import re
import secrets
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from email.encoders import encode_base64
from email.headerregistry import Address
from email.message import EmailMessage, Message
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.policy import Compat32
from email.utils import format_datetime, formataddr

from mailbridge.decisions.outgoing.templates import RenderedMail

OWN_ID = re.compile(r"^<mb\.(?P<nonce>[0-9a-f]{20})\.(?P<mac>[0-9a-f]{12})@[^<>\s@]+>$")
# The longest Message-ID we copy into In-Reply-To or References: real ones are under 100 characters, and a
# header line must stay under 998 (RFC 5322 §2.1.1), which one longer id alone would break: a relay answers
# "500 Line too long" and the answer it carries is lost (issue 16). Inbound ids are read up to
# parse.MAX_MESSAGE_ID_CHARS, enough to thread by; only this shorter bound is ever copied into a header we write.
MAX_ID_CHARS = 250
# Printable ASCII without "<", ">" and "@" on each side (RFC 5322 §3.6.4): the folder writes an ASCII id as it
# is, where a non-ASCII one would come out as an encoded-word that no longer names the mail. \Z: no trailing newline.
MSG_ID = re.compile(rf"^(?=.{{5,{MAX_ID_CHARS}}}\Z)<[!-;=?A-~]+@[!-;=?A-~]+>\Z")
MAX_REFERENCES = 20
MAX_ADDRESS_CHARS = 254
MAX_SUBJECT = 200
MAX_LINE = 78  # RFC 5322 §2.1.1: lines SHOULD be no longer than 78 characters
# RFC 2047 §2: an encoded-word is at most 75 characters; 39 bytes make 52 of base64, 64 with "=?utf-8?b?" and "?=",
# so "Subject: " and one word fit in MAX_LINE.
_WORD_BYTES = 39


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
    cc: tuple[str, ...] = ()  # the ticket's participants, for an agent's answer (decisions.participants.answer_cc)


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
    """Build an Address; raises ValueError for an address that cannot be written safely.

    A quoted local part (RFC 5322 §3.4.1, `"john doe"@example.com`) is kept: the email package quotes it
    again when it writes the header. Inside the quotes only printable ASCII without quote, backslash or
    comma is accepted, so the address also stays one item of the outbox's comma-separated recipients.
    """
    local, _, domain = address.strip().rpartition("@")
    quoted = len(local) > 2 and local[0] == local[-1] == '"'
    username = local[1:-1] if quoted else local
    if quoted:
        unusable = not (username.isascii() and username.isprintable()) or any(c in username for c in '"\\,')
    else:
        unusable = not local or any(c in local for c in '\r\n<>" ,;@')
    # RFC 5321 §4.5.3.1.3: a path holds at most 254 characters; a longer address would also make a header
    # line no relay accepts (issue 16). We do not speak SMTPUTF8 (RFC 6531): the address is printable ASCII.
    spec = username + domain
    unusable = unusable or len(spec) + 1 > MAX_ADDRESS_CHARS or not (spec.isascii() and spec.isprintable())
    if unusable or not domain or any(c in domain for c in '\r\n<>" ,;@'):
        raise ValueError(f"unusable address {address[:100]!r}")
    return Address(display_name=clean_header_text(name, 100), username=username, domain=domain)


def thread_ids(in_reply_to: str | None, references: tuple[str, ...]) -> tuple[str | None, tuple[str, ...]]:
    """Keep only well-formed ids; References ends with the parent, at most MAX_REFERENCES long.

    Each id kept is printable ASCII of at most MAX_ID_CHARS, so the folded References line never passes 998 characters.
    """
    parent = in_reply_to if in_reply_to and MSG_ID.match(in_reply_to) else None
    chain = [r for r in references if MSG_ID.match(r)]
    if parent and parent not in chain:
        chain.append(parent)
    if len(chain) > MAX_REFERENCES:
        chain = chain[:1] + chain[-(MAX_REFERENCES - 1) :]
    return parent, tuple(chain)


def new_message_id(from_address: str, secret: str | None = None) -> str:
    """Draw a Message-ID on the support domain; with a secret it is signed, so an echo can be proven ours."""
    nonce = secrets.token_hex(10)
    domain = from_address.rpartition("@")[2]
    if secret is None:
        return f"<mb.{nonce}@{domain}>"
    return f"<mb.{nonce}.{_id_mac(nonce, secret)}@{domain}>"


def is_own_message_id(message_id: str | None, secret: str | None, previous_secrets: Iterable[str] = ()) -> bool:
    """Tell whether a Message-ID was signed by us (needs the secret; unsigned ids prove nothing).

    An id signed with one of `previous_secrets` (retired by a rotation) is ours too.
    """
    match = OWN_ID.match(message_id or "")
    if not match or not secret:
        return False
    return any(hmac.compare_digest(match["mac"], _id_mac(match["nonce"], key)) for key in (secret, *previous_secrets))


def _id_mac(nonce: str, secret: str) -> str:
    return hmac.new(secret.encode(), b"message-id:" + nonce.encode(), hashlib.sha256).hexdigest()[:12]


def compose(draft: OutgoingDraft, message_id: str, now: datetime) -> Message:
    """Build the mail for a draft, with its fixed Message-ID and date.

    Built on the email package's compat32 classes, which serialise about six times faster than
    EmailMessage; every value is made safe first and `_set` refuses CR/LF as a last guard.
    """
    parts = MIMEMultipart("alternative", boundary=_boundary())
    parts.attach(_text_part(draft.body.text, "plain"))
    parts.attach(_text_part(draft.body.html, "html"))
    message = parts
    if draft.attachments:
        message = MIMEMultipart("mixed", boundary=_boundary())
        message.attach(parts)
        for part in draft.attachments:
            message.attach(_attachment_part(part))
    _set(message, "From", _address_header(draft.from_name, draft.from_address))
    _set(message, "To", _address_header(draft.to_name, draft.to_address))
    if draft.cc:
        _set(message, "Cc", ", ".join(_address_header("", address) for address in draft.cc))
    _set(message, "Subject", _text_header(clean_header_text(draft.subject)))
    _set(message, "Date", format_datetime(now))
    _set(message, "Message-ID", _message_id(message_id))
    parent, chain = thread_ids(draft.in_reply_to, draft.references)
    if parent:
        _set(message, "In-Reply-To", parent)
    if chain:
        _set(message, "References", " ".join(chain))
    if draft.auto_submitted:
        _set(message, "Auto-Submitted", draft.auto_submitted)
        _set(message, "X-Auto-Response-Suppress", "All")
        _set(message, "Precedence", "auto_reply")
    if draft.reply_to:
        _set(message, "Reply-To", _address_header(draft.reply_to_name or draft.from_name, draft.reply_to))
    _set(message, "X-Mailbridge-Loop", draft.instance_id)
    return message


def mail_bytes(message: Message) -> bytes:
    """Serialise a mail for SMTP: CRLF line ends, folded headers, in the mail's own policy."""
    if isinstance(message.policy, Compat32):
        return message.as_bytes(policy=_OUR_HEADERS)
    return message.as_bytes(policy=message.policy.clone(linesep="\r\n"))


class _AsciiFolding(Compat32):
    """compat32 with CRLF that folds ASCII header values at spaces without re-encoding them.

    Every header `compose` writes is ASCII already (non-ASCII text became encoded-words in
    _text_header); the stock compat32 folder runs each value through email.header again, which costs
    more than the rest of the serialisation. The bytes come out the same (tests/unit/test_compose.py).
    """

    def _fold(self, name, value, sanitize):
        if not (isinstance(value, str) and value.isascii()):
            # Compat32._fold is private, so typeshed does not declare it.
            return super()._fold(name, value, sanitize)  # type: ignore[misc]
        lines, line = [], f"{name}:"
        for word in value.split(" "):
            # RFC 5322 §2.2.3: a fold is a CRLF put before white space; unfolding restores the value.
            if len(line) + 1 + len(word) > MAX_LINE and not line.endswith(":"):
                lines.append(line)
                line = " " + word
            else:
                line = f"{line} {word}"
        lines.append(line)
        return self.linesep.join(lines) + self.linesep


_OUR_HEADERS = _AsciiFolding(linesep="\r\n")


def _boundary() -> str:
    """A MIME boundary that no part can contain: "=_" never occurs in quoted-printable or base64 (RFC 2045 §6.7, §6.8).

    Chosen here, so the generator need not search every part for a collision.
    """
    return f"=_mb_{secrets.token_hex(12)}"


def _set(message: Message, name: str, value: str) -> None:
    # RFC 5322 §2.2: a header value holds no bare CR or LF; every caller cleaned it, this proves it.
    if "\r" in value or "\n" in value:
        raise ValueError(f"{name}: line break in header value")
    message[name] = value


def _address_header(name: str, address: str) -> str:
    """Write one address, its display name quoted or RFC 2047 encoded; make_address validates it first."""
    checked = make_address(name, address)
    if checked.display_name.isascii():
        return formataddr((checked.display_name, checked.addr_spec))
    return f"{_text_header(checked.display_name)} <{checked.addr_spec}>"


def _text_header(text: str) -> str:
    """Write header text as RFC 2047 encoded-words when it is not ASCII, on one line (the generator folds it).

    UTF-8 in base64 words of at most _WORD_BYTES bytes, cut between characters (RFC 2047 §5: each word
    holds whole characters). A decoder drops the spaces between encoded-words, so the text comes back whole.
    email.header does the same, about five times slower.
    """
    if text.isascii():
        return text
    data, words, start = text.encode("utf-8"), [], 0
    while start < len(data):
        end = min(start + _WORD_BYTES, len(data))
        while end < len(data) and data[end] & 0xC0 == 0x80:  # a UTF-8 continuation byte: not a character start
            end -= 1
        words.append(f"=?utf-8?b?{base64.b64encode(data[start:end]).decode('ascii')}?=")
        start = end
    return " ".join(words)


def _message_id(message_id: str) -> str:
    if not MSG_ID.match(message_id):
        raise ValueError(f"unusable Message-ID {message_id!r}")
    return message_id


def _text_part(text: str, subtype: str) -> MIMENonMultipart:
    """UTF-8 text as quoted-printable: 7-bit safe for any relay, still readable in the raw mail.

    Encoded by quopri (binascii, in C), about four times faster than the email package's pure-Python
    body encoder and the same bytes, except that a line holding only "." is written "=2E" (safer for SMTP).
    """
    part = MIMENonMultipart("text", subtype, charset="utf-8")
    del part["MIME-Version"]  # RFC 2045 §4: once, in the top-level header
    part["Content-Transfer-Encoding"] = "quoted-printable"
    part.set_payload(quopri.encodestring(text.encode("utf-8")).decode("ascii"))
    return part


def _attachment_part(attachment: OutgoingAttachment) -> MIMEBase:
    maintype, _, subtype = attachment.content_type.partition("/")
    if maintype == "text" or not subtype:
        maintype, subtype = "application", "octet-stream"
    part = MIMEBase(maintype, subtype)
    del part["MIME-Version"]
    part.set_payload(attachment.content)
    encode_base64(part)
    filename = clean_header_text(attachment.filename, 150) or "attachment"
    # RFC 2231 parameter encoding for names beyond ASCII.
    part.add_header(
        "Content-Disposition", "attachment", filename=filename if filename.isascii() else ("utf-8", "", filename)
    )
    return part


def compose_admin_notice(
    *,
    from_name: str,
    from_address: str,
    to_address: str,
    subject: str,
    text: str,
    message_id: str,
    now: datetime,
    instance_id: str,
) -> EmailMessage:
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
