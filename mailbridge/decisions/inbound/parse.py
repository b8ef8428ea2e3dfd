"""Stage: raw RFC 5322 bytes -> ParsedMessage. Called by intake for every stored message.

The MIME tree is the one mail-parser builds (the `email` package's compat32 parser), read once;
mail-parser's address scanner and date reader fill in what the stdlib misses, and our own walk
picks body and attachments from that tree. Defects are recorded, never raised. The raw bytes stay
the truth: everything here is a decoded, derived copy.
"""

from __future__ import annotations

import email
import email.utils
import hashlib
import logging
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email import policy
from email.headerregistry import AddressHeader, HeaderRegistry
from email.message import Message
from email.parser import BytesParser

from mailparser.dates import parse_mail_date
from mailparser.utils import get_addresses

from mailbridge.decisions.inbound.flowed import unflow
from mailbridge.decisions.inbound.header_repair import repair_header_block
from mailbridge.decisions.inbound.mime import (
    content_type_for,
    decode_bytes,
    decode_header_value,
    decode_words,
    extension_for,
    header_defects,
    html_to_text,
    safe_filename,
    text_charset,
)
from mailbridge.decisions.inbound.parts import (
    is_empty_message,
    is_tnef,
    is_uuencode_without_begin,
    message_file_name,
    report_bytes,
)
from mailbridge.decisions.inbound.tnef import unpack_tnef

__all__ = [
    "ParseLimits",
    "ParsedAttachment",
    "ParsedMessage",
    "html_to_text",
    "is_malformed",
    "limit_exceeded",
    "parse_message",
    "safe_filename",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ParsedAttachment:
    filename: str  # sanitised by safe_filename; never empty
    content_type: str
    payload: bytes
    content_id: str | None = None
    sha256: str = ""  # hex digest of payload, taken while parsing (in the parse worker, off the poller)
    inside: str | None = None  # the file it was unpacked from (a winmail.dat), which is kept too; None: a MIME part

    @property
    def size(self) -> int:
        return len(self.payload)


@dataclass(frozen=True)
class ParsedMessage:
    message_id: str | None  # with angle brackets, e.g. "<abc@host>", or None
    in_reply_to: str | None
    references: tuple[str, ...]
    from_addr: str | None  # lower-cased address
    from_name: str
    to_addrs: tuple[str, ...]
    cc_addrs: tuple[str, ...]
    reply_to: tuple[str, ...]
    subject: str
    date: object | None  # datetime (aware, UTC) when the Date header parses
    text_body: str
    html_body: str
    attachments: tuple[ParsedAttachment, ...]
    headers: dict[str, str] = field(default_factory=dict)  # lower-case name -> first value, decoded
    defects: tuple[str, ...] = ()
    stripped_text: str | None = None  # the new text without quotes and signature, once ingest.prepare cut it
    raw_sha256: str | None = None  # hex digest of the raw bytes, once ingest.prepare took it
    text_from_html: bool = False  # no text part: text_body is html_body rendered, quoted blocks and all
    text_is_flowed: bool = False  # its text came from format=flowed parts (unflowed: no quote a client hard-wrapped)


@dataclass(frozen=True)
class ParseLimits:
    """How much of a MIME tree a parse walks: more parts, deeper nesting or more decoded bytes stop it.

    A message over a limit gets an `over-limit:` defect; intake stores it raw and quarantined (`limit_exceeded`).
    """

    max_parts: int = 500
    max_depth: int = 20
    max_decoded_bytes: int | None = None  # None: no limit

    def reason(self, limit: str) -> str:
        """The quarantine reason shown for a message over one of these limits."""
        if limit == "parts":
            return f"over the MIME part limit of {self.max_parts} parts"
        if limit == "depth":
            return f"over the MIME nesting limit of {self.max_depth} levels"
        return f"over the decoded size limit of {self.max_decoded_bytes} bytes"


# The prefix of the defect a walk stopped by a ParseLimits limit records: "over-limit:parts" and so on.
OVER_LIMIT = "over-limit:"


def limit_exceeded(parsed: ParsedMessage, limits: ParseLimits) -> str | None:
    """Return why a parsed message is over a parse limit (its quarantine reason), or None."""
    found = next((d.removeprefix(OVER_LIMIT) for d in parsed.defects if d.startswith(OVER_LIMIT)), None)
    return limits.reason(found) if found else None


def recipients_of(parsed: ParsedMessage) -> tuple[str, ...]:
    """Every address the message was delivered to, envelope hints included."""
    found = (
        *parsed.to_addrs,
        *parsed.cc_addrs,
        *(parsed.headers.get(h, "") for h in ("delivered-to", "x-original-to")),
    )
    return tuple(r.strip().strip("<>") for r in found if r)


# Defects that mean the structure or content could not be read as sent; see is_malformed.
MALFORMED_DEFECTS = frozenset(
    {
        "StartBoundaryNotFoundDefect",
        "CloseBoundaryNotFoundDefect",
        "MultipartInvariantViolationDefect",
        "NoBoundaryInMultipartDefect",
        "MissingHeaderBodySeparatorDefect",
        "FirstHeaderLineIsContinuationDefect",
        "MisplacedEnvelopeHeaderDefect",
        "InvalidMultipartContentTransferEncodingDefect",
        "InvalidBase64CharactersDefect",
        "InvalidBase64LengthDefect",
        "InvalidBase64PaddingDefect",
        "missing-from",
        "unparseable-from",
        "several-from-addresses",
        "unknown-transfer-encoding",
        "invalid-content-type",
        "unquoted-boundary",
        "duplicate-header",
        "parse-failed",
        "mail-parser-failed",
        "nesting-too-deep",
        "header-repaired",
        "over-limit",
    }
)
# What a stray line in the header block or before it leaves behind (see header_repair).
_HEADER_BLOCK_DEFECTS = frozenset(
    {"missing-from", "MissingHeaderBodySeparatorDefect", "FirstHeaderLineIsContinuationDefect"}
)
_KNOWN_CTE = frozenset({"7bit", "8bit", "binary", "base64", "quoted-printable", "x-uuencode", "uuencode", "x-uue"})
_BODY_TYPES = ("text/plain", "text/html")
# RFC 3464 report data: machine-readable status, neither body text nor a file for people.
_REPORT_DATA = ("message/delivery-status",)
# Files taken out of one winmail.dat at most; the winmail.dat itself is always kept whole.
_MAX_TNEF_FILES = 250
# Real mail nests a handful of levels; deeper trees are hostile and are not walked further.
_MAX_DEPTH = 60
# An attached message is written back with CRLF, as it arrived, and without "From " quoting.
_EML_POLICY = policy.compat32.clone(linesep="\r\n", mangle_from_=False)
_HEADERS = HeaderRegistry()
# The longest Message-ID read from a mail, brackets included (as ticket_match.MAX_ID_CHARS): a longer one is no id
# (issue 16) and is not stored, indexed or copied into our answers; compose copies at most compose.MAX_ID_CHARS.
MAX_MESSAGE_ID_CHARS = 500
_MSG_ID = re.compile(rf"<([^<>\s]{{1,{MAX_MESSAGE_ID_CHARS - 2}}})>")
_ADDR_SPEC = r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"
# Linear time: the display name takes its own trailing white space (no `\s*` after it to share it with), and a
# quoted name ends at its quote; the name is cut to its words afterwards.
_SIMPLE_ADDRESS = re.compile(
    rf'^(?:(?P<bare>{_ADDR_SPEC})|(?:"(?P<quoted>[^"\\]*)"\s*|(?P<name>[^"<>,;:@()\[\]\\]*))<(?P<addr>{_ADDR_SPEC})>)$'
)
# A domain's trailing root dot before the end of its address. Linear time: it starts at an "@", and its runs stop
# at the next "@" or at white space.
_ROOT_DOT = re.compile(r"(@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)\.(?=\s*(?:[>,;]|$))")
# Local parts that name the mail system itself; a local MTA writes them without a domain, and classify reads them.
# The local parts of delivery-status senders (also classify's bounce check).
DAEMON_LOCAL_PARTS = frozenset({"mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon"})
# Line breaks of a folded header; the white space around them is stripped with str methods, not by the pattern.
_LINE_BREAKS = re.compile(r"[\r\n]+")
# The stdlib's strict address parser takes time with the square of a long header (50 KB of words: 9 s); a longer
# address header is read by mail-parser's scanner alone.
_STRICT_MAX_CHARS = 8 * 1024


def parse_message(raw: bytes, limits: ParseLimits | None = None) -> ParsedMessage:
    """Parse raw RFC 5322 bytes within `limits` (default: ParseLimits()); never raises for malformed input."""
    try:
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        return _parse(bytes(raw or b""), limits or ParseLimits())
    # The contract is "never raises": a message that breaks the parser is still stored and
    # flagged, so any failure here becomes a defect on an otherwise empty result.
    except Exception as exc:  # noqa: BLE001
        log.warning("parse failed: %s", exc)
        return _empty(("parse-failed", f"parse-failed:{type(exc).__name__}"))


def is_malformed(parsed: ParsedMessage) -> bool:
    """Tell whether a message must be flagged as malformed when stored.

    Malformed means the sender's structure or content cannot be read as sent: a broken MIME
    structure (missing or unclosed boundaries, a multipart without parts, headers running into
    the body, a first header line that is a continuation), an encoded part that does not
    decode (bad base64, an unknown Content-Transfer-Encoding), no parseable From address, or a
    parser failure. Harmless quirks are not: bare LF, raw 8-bit header bytes, a missing
    MIME-Version, an unknown or mislabelled charset that a fallback decodes, a bad Date.
    """
    return any(d.split(":", 1)[0] in MALFORMED_DEFECTS for d in parsed.defects)


def _parse(raw: bytes, limits: ParseLimits) -> ParsedMessage:
    parsed = _parse_once(raw, limits)
    if not _needs_header_repair(parsed):
        return parsed
    repair = repair_header_block(raw)
    if repair is None:
        return parsed
    # The stored raw bytes stay as sent; only this reading of them uses the repaired header block.
    repaired = _parse_once(repair.raw, limits)
    if parsed.from_addr and not repaired.from_addr:
        return parsed
    return replace(repaired, defects=(*repaired.defects, *(f"header-repaired:{note}" for note in repair.notes)))


def _needs_header_repair(parsed: ParsedMessage) -> bool:
    """Tell whether the header block may have been cut short: no From or Subject, or a fault of the block."""
    if "subject" not in parsed.headers:
        return True
    return any(d in _HEADER_BLOCK_DEFECTS for d in parsed.defects)


def _parse_once(raw: bytes, limits: ParseLimits) -> ParsedMessage:
    defects: list[str] = []
    # The tree mail-parser itself builds (compat32 message_from_bytes); its own parse() pass, which decodes
    # every part once more for fields we do not use, is skipped. Its date reader is used below.
    msg = _stdlib_message(raw, defects)
    headers = _decoded_headers(msg)
    from_addr, from_name = _sender(msg, defects)
    defects.extend(header_defects(msg))
    walk = _Walk(defects, limits)
    walk.visit(msg, top=True)
    text_body = "\n".join(walk.texts)
    html_body = "\n".join(walk.htmls)
    if not walk.texts and html_body:
        text_body = html_to_text(html_body)
    return ParsedMessage(
        message_id=_first_id(headers.get("message-id")),
        in_reply_to=_first_id(headers.get("in-reply-to")),
        references=tuple(f"<{i}>" for i in _MSG_ID.findall(headers.get("references", ""))),
        from_addr=from_addr,
        from_name=from_name,
        to_addrs=tuple(a for _, a in _addresses(msg, "to", defects) if a),
        cc_addrs=tuple(a for _, a in _addresses(msg, "cc", defects) if a),
        reply_to=tuple(a for _, a in _addresses(msg, "reply-to", defects) if a),
        subject=_fold(headers.get("subject", "")),
        date=_date(_raw_header(msg, "date"), headers.get("date"), defects),
        text_body=text_body,
        html_body=html_body,
        attachments=tuple(walk.attachments),
        headers=headers,
        defects=tuple(dict.fromkeys(defects)),
        text_from_html=not walk.texts and bool(html_body),
        text_is_flowed=bool(walk.texts) and walk.flowed == len(walk.texts),
    )


def _stdlib_message(raw: bytes, defects: list[str]) -> Message:
    """Parse with the email package; past its recursion limit, keep the headers alone."""
    try:
        return email.message_from_bytes(raw, policy=policy.compat32)
    except RecursionError:
        defects.append("parse-failed:nesting")
        return BytesParser(policy=policy.compat32).parsebytes(raw, headersonly=True)


def _empty(defects: tuple[str, ...]) -> ParsedMessage:
    return ParsedMessage(None, None, (), None, "", (), (), (), "", None, "", "", (), {}, defects)


def _raw_header(msg: Message, name: str) -> str | None:
    """Return the first raw value of a header with 8-bit bytes decoded, encoded-words kept."""
    for key, value in msg.raw_items():
        if key.lower() == name:
            return decode_header_value(str(value), words=False, declared=_declared_charset(msg, value))
    return None


def _decoded_headers(msg: Message) -> dict[str, str]:
    headers: dict[str, str] = {}
    for key, value in msg.raw_items():
        name = str(key).strip().lower()
        if name and name not in headers:
            headers[name] = _fold(decode_header_value(str(value), declared=_declared_charset(msg, value)))
    return headers


def _declared_charset(msg: Message, value: object) -> str | None:
    """The charset the message's text declares, looked up only for a header with raw 8-bit bytes in it.

    Raw header bytes carry no label; the sender's mailer most likely wrote them in the charset of its text.
    """
    return None if str(value).isascii() else text_charset(msg)


def _fold(text: str) -> str:
    """Unfold a header (RFC 5322 §2.2.3) and turn any stray CR/LF into one space.

    Each run of white space holding a line break becomes one space: split at the breaks, not matched by one
    pattern of white space around them, which backtracks over a long run of spaces at every position (quadratic).
    """
    if "\r" not in text and "\n" not in text:
        return text.strip()
    return " ".join(stripped for part in _LINE_BREAKS.split(text) if (stripped := part.strip()))


def _sender(msg: Message, defects: list[str]) -> tuple[str | None, str]:
    """Read who sent the message: (lower-cased address or None, display name), saying in `defects` what was odd.

    The first From address with a domain; several are flagged, never silently narrowed to one. Without one,
    Sender's, then Reply-To's (RFC 5322 §3.6.2 names the Sender as who sent it), flagged as malformed; then a
    bare local part ("MAILER-DAEMON (Mail Delivery System)" of a local MTA), so a bounce is still recognised.
    """
    found = _addresses(msg, "from", defects)
    mailboxes = [(display, addr) for display, addr in found if "@" in addr]
    if len({addr for _, addr in mailboxes}) > 1:
        defects.append(f"several-from-addresses:{len(mailboxes)}")
    if mailboxes:
        return mailboxes[0][1], mailboxes[0][0] or found[0][0]
    name = found[0][0] if found else ""
    daemon = next((addr for _, addr in found if addr in DAEMON_LOCAL_PARTS), None)
    if daemon is not None:
        defects.append(f"from-without-domain:{daemon}")
        return daemon, name
    is_missing = not str(msg.get("from", "")).strip()
    defects.append("missing-from" if is_missing else "unparseable-from")
    for header in ("sender", "reply-to"):
        stand_in = next(((d, a) for d, a in _addresses(msg, header, defects) if "@" in a), None)
        if stand_in is not None:
            defects.append(f"from-taken-from:{header}")
            return stand_in[1], name or stand_in[0]
    return None, name


def _addresses(msg: Message, name: str, defects: list[str]) -> list[tuple[str, str]]:
    """Parse one address header into (decoded display name, lower-cased address) pairs.

    The stdlib's RFC 5322 parser keeps null senders ("MAILER DAEMON <>"), comments inside the
    angle address and addresses without commas between them; mail-parser fills in what it
    misses, such as the legacy "addr (Full Name)" form, and stands in when it fails.
    """
    value = _raw_header(msg, name)
    if not value:
        return []
    value = _fold(value)
    # "<name@yahoo.com.>": the root's dot ends a fully qualified domain; both full parsers lose such an address.
    value, dots = _ROOT_DOT.subn(r"\1", value)
    if dots:
        defects.append(f"trailing-dot:{name}")
    simple = _simple_address(value)
    if simple is not None:
        return [simple]
    strict = _registry_addresses(name, value) if len(value) <= _STRICT_MAX_CHARS else []
    try:
        loose = [(decode_words(n), a) for n, a in get_addresses(value, decode_names=True)]
    except Exception:  # noqa: BLE001 - mail-parser's scanner on hostile input.
        defects.append(f"address-parse-failed:{name}")
        loose = email.utils.getaddresses([value])
    if not any("@" in a for _, a in strict) and any("@" in a for _, a in loose):
        strict = loose
    result = []
    for i, (display, addr) in enumerate(strict):
        if not display and i < len(loose) and loose[i][1].lower() == addr.lower():
            display = loose[i][0]
        addr = addr.strip().strip("<>").strip().lower()
        display = _fold(display).strip("\"' ")
        # A null address ("MAILER DAEMON <>") still names its sender.
        if "@" in addr or (addr and " " not in addr) or display:
            result.append((display, addr))
    return result


def _simple_address(value: str) -> tuple[str, str] | None:
    """Read the common one-address forms ("a@b", "Name <a@b>", "\"Name\" <a@b>") without the full parsers.

    Both full parsers cost far more than the rest of a parse; anything with a comma, a comment, a quoted
    pair or an unusual local part is not matched here and goes to them.
    """
    found = _SIMPLE_ADDRESS.match(value)
    if found is None:
        return None
    if found["quoted"] is not None:
        display = found["quoted"]
    else:
        display = " ".join((found["name"] or "").split())  # a phrase: its words, one space apart (RFC 5322 §3.2.5)
    return _fold(decode_words(display.strip())).strip("\"' "), (found["bare"] or found["addr"]).lower()


def _registry_addresses(name: str, value: str) -> list[tuple[str, str]]:
    try:
        header = _HEADERS(name, value)
        if not isinstance(header, AddressHeader):
            return []
        return [(a.display_name, a.addr_spec) for a in header.addresses]
    except Exception:  # noqa: BLE001 - the registry's parser on hostile input.
        return []


def _first_id(value: str | None) -> str | None:
    if not value:
        return None
    found = _MSG_ID.search(value)
    if found:
        return f"<{found.group(1)}>"
    bare = value.strip().split()
    return f"<{bare[0]}>" if bare and "@" in bare[0] and len(bare[0]) <= MAX_MESSAGE_ID_CHARS - 2 else None


def _date(raw_value: str | None, value: str | None, defects: list[str]) -> datetime | None:
    """Read the first Date header with mail-parser's RFC 5322 reader (obsolete forms too), else the stdlib's."""
    parsed = parse_mail_date(raw_value).value if raw_value else None
    if not isinstance(parsed, datetime) and value:
        try:
            parsed = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            parsed = None
    if parsed is None:
        if value:
            defects.append("unparseable-date")
        return None
    if parsed.tzinfo is None:
        # RFC 5322 §3.3: "-0000" means the time is UTC with no local zone known.
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


class _Walk:
    """Collect body texts and attachments from a compat32 MIME tree, depth first."""

    def __init__(self, defects: list[str], limits: ParseLimits) -> None:
        self.defects = defects
        self.limits = limits
        self.texts: list[str] = []
        self.flowed = 0  # how many of the texts were format=flowed
        self.htmls: list[str] = []
        self.attachments: list[ParsedAttachment] = []
        self.parts = 0
        self.decoded_bytes = 0
        self.over_limit: str | None = None  # once set, nothing more is walked or decoded

    def _stop(self, limit: str) -> None:
        self.over_limit = limit
        self.defects.append(f"{OVER_LIMIT}{limit}")

    def _counts(self, size: int) -> bool:
        """Count decoded bytes; False (the walk stops) once they pass the limit."""
        self.decoded_bytes += size
        limit = self.limits.max_decoded_bytes
        if limit is not None and self.decoded_bytes > limit:
            self._stop("decoded-bytes")
        return self.over_limit is None

    def visit(self, part: Message, top: bool = False, depth: int = 0) -> None:
        if self.over_limit is not None:
            return
        self.parts += 1
        if self.parts > self.limits.max_parts:
            return self._stop("parts")
        if depth > self.limits.max_depth:
            return self._stop("depth")
        ctype = part.get_content_type()
        if ctype in _REPORT_DATA:
            # RFC 3464: no body text, but the report an agent reads to see what failed, kept as a text file.
            self._attach(part, ctype, report_bytes(part), name="delivery-status.txt")
            return
        if depth > _MAX_DEPTH:
            self.defects.append("nesting-too-deep")
            return
        self._visit(part, ctype, top, depth)
        # Read after decoding, which adds base64 defects. Parts inside an attached message
        # are not visited: their defects belong to that message, kept whole as a file.
        self.defects.extend(type(d).__name__ for d in part.defects)
        if not top:
            self.defects.extend(header_defects(part))

    def _visit(self, part: Message, ctype: str, top: bool, depth: int) -> None:
        # A whole message that is itself message/rfc822 is a forward with no text of its own.
        if ctype.startswith("message/"):
            attached = _message_bytes(part)
            # An empty attached message serialises to a bare line end: nothing to keep as a file.
            if is_empty_message(ctype, attached):
                self.defects.append("empty-attached-message")
                return
            self._attach(part, ctype, attached, name=_filename(part) or message_file_name(part))
            return
        if part.is_multipart():
            if _disposition(part) == "attachment" and not top:
                self._attach(part, ctype, _message_bytes(part))
                return
            for child in part.get_payload():
                if isinstance(child, Message):
                    self.visit(child, depth=depth + 1)
            return
        # A multipart whose boundary never appears stays one unparsed string. Its text cannot
        # be told apart from MIME framing, so it is neither body nor attachment; the raw bytes
        # keep it and the defects flag it.
        if part.get_content_maintype() == "multipart":
            return
        payload = self._payload(part)
        if not self._counts(len(payload)):
            return
        # Text sent as uuencoded without a `begin` line is still text: read it as body, make no file of it.
        if is_uuencode_without_begin(part):
            self.defects.append("uuencode-without-begin")
            self.texts.append(decode_bytes(payload, part.get_content_charset(), self.defects))
            return
        is_body = ctype in _BODY_TYPES and _disposition(part) != "attachment"
        if is_body:
            text = decode_bytes(payload, part.get_content_charset(), self.defects)
            if ctype == "text/plain" and _param(part, "format") == "flowed":
                text = unflow(text, delsp=_param(part, "delsp") == "yes")
                self.flowed += 1
            (self.texts if ctype == "text/plain" else self.htmls).append(text)
        # A named inline text part is read as body and also kept as the file it names.
        if not is_body or _filename(part):
            self._attach(part, ctype, payload)
        if not is_body and is_tnef(ctype, _filename(part)):
            self._unpack_tnef(payload)

    def _payload(self, part: Message) -> bytes:
        cte = str(part.get("content-transfer-encoding", "7bit")).strip().lower()
        if cte not in _KNOWN_CTE:
            self.defects.append(f"unknown-transfer-encoding:{cte[:40]}")
        try:
            payload = part.get_payload(decode=True)
        except Exception as exc:  # noqa: BLE001 - compat32 decoders on hostile input.
            self.defects.append(f"undecodable-part:{type(exc).__name__}")
            payload = None
        if isinstance(payload, bytes):
            return payload
        raw = part.get_payload()
        return raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else b""

    def _unpack_tnef(self, payload: bytes) -> None:
        """Keep the files inside a winmail.dat beside it (Outlook's TNEF, which other mail clients cannot open)."""
        container = self.attachments[-1].filename
        unpacked = unpack_tnef(payload, _MAX_TNEF_FILES)
        self.defects.extend(unpacked.defects)
        for file in unpacked.files:
            fallback = f"attachment-{len(self.attachments) + 1}.bin"
            self.attachments.append(
                ParsedAttachment(
                    filename=safe_filename(file.name, fallback),
                    content_type=content_type_for(file.name),
                    payload=file.payload,
                    sha256=hashlib.sha256(file.payload).hexdigest(),
                    inside=container,
                )
            )

    def _attach(self, part: Message, ctype: str, payload: bytes, name: str | None = None) -> None:
        # An attached message or container is counted here; a leaf part was counted when it was decoded.
        if part.is_multipart() or ctype.startswith("message/") or ctype in _REPORT_DATA:
            if not self._counts(len(payload)):
                return
        fallback = f"attachment-{len(self.attachments) + 1}{extension_for(ctype)}"
        content_id = part.get("content-id")
        self.attachments.append(
            ParsedAttachment(
                filename=safe_filename(name or _filename(part), fallback),
                content_type=ctype,
                payload=payload,
                content_id=_fold(str(content_id)) if content_id else None,
                sha256=hashlib.sha256(payload).hexdigest(),
            )
        )


def _param(part: Message, name: str) -> str:
    """A Content-Type parameter of the part, lower-cased; "" when absent or unreadable."""
    try:
        value = part.get_param(name)
    except Exception:  # noqa: BLE001 - a malformed header must not stop the walk.
        return ""
    return value.strip().lower() if isinstance(value, str) else ""


def _disposition(part: Message) -> str | None:
    try:
        return part.get_content_disposition()
    except Exception:  # noqa: BLE001 - a malformed header must not stop the walk.
        return None


def _filename(part: Message) -> str | None:
    """Return the part's decoded file name (RFC 2231 params, RFC 2047 words) or None."""
    view = Message()
    for key, value in part.raw_items():
        if key.lower() in ("content-type", "content-disposition"):
            # Raw 8-bit bytes in a parameter: decode them here, compat32 would make them U+FFFD.
            view[key] = decode_header_value(str(value), words=False)
    try:
        name = view.get_param("filename", header="content-disposition") or view.get_param("name")
    except Exception:  # noqa: BLE001 - broken RFC 2231 continuations.
        name = None
    if isinstance(name, tuple):
        # RFC 2231 charset'lang'value: our charset fallbacks instead of compat32's U+FFFD.
        name = decode_bytes(str(name[2]).encode("raw-unicode-escape"), name[0])
    if not name:
        return None
    return _fold(decode_header_value(str(name))) or None


def _message_bytes(part: Message) -> bytes:
    """Serialise an attached message or container back to bytes."""
    inner = part.get_payload()
    if isinstance(inner, list) and len(inner) == 1 and part.get_content_type().startswith("message/"):
        inner = inner[0]
    target = inner if isinstance(inner, Message) else part
    try:
        return target.as_bytes(policy=_EML_POLICY)
    except Exception:  # noqa: BLE001 - generator on broken trees.
        return str(target).encode("utf-8", "surrogateescape")
