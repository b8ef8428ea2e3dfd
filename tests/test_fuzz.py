"""Fuzzing (issue 16): generated and mutated mail through parse, classify, ticket matching, reply stripping and the
receipt's compose; nothing escapes but the documented errors, and every stage finishes within STAGE_SECONDS.

Sources: messages generated from hostile pieces (long runs, control characters, bad encodings, deep nesting), and
the public corpus (../shared/corpus/public, or $MAILBRIDGE_CORPUS) mutated byte by byte; without the corpus its
test is skipped and says so. The CI run is short and the same every time (derandomized); a long, random run:

    MAILBRIDGE_FUZZ_EXAMPLES=20000 .venv/bin/pytest -q -p no:cacheprovider tests/test_fuzz.py

(docs/development.md). Last, 50 generated messages go through `mailbridge ingest` on stdin into a real database:
each is stored (malformed ones flagged) or quarantined, none is lost.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, create_engine, select

from mailbridge.base.config.settings import SupportSettings
from mailbridge.decisions.inbound.classify import REPLYABLE_ADDRESS, classify, may_auto_reply
from mailbridge.decisions.inbound.names import MAX_NAME_CHARS, safe_display_name
from mailbridge.decisions.inbound.parse import ParsedMessage, parse_message, recipients_of
from mailbridge.decisions.inbound.reply_text import new_text
from mailbridge.decisions.kinds import MailKind, MessageKind
from mailbridge.decisions.matching.reply_tokens import tokens_in
from mailbridge.decisions.matching.ticket_match import (
    RelatedTicket,
    ThreadEvidence,
    match_ticket,
    normalise_subject,
    thread_links,
)
from mailbridge.decisions.matching.ticket_numbers import find_subject_numbers, subject_number_pattern
from mailbridge.decisions.outgoing.compose import compose, mail_bytes
from mailbridge.decisions.outgoing.drafts import draft_for
from mailbridge.decisions.outgoing.templates import make_environment
from mailbridge.reports.render import visible_text
from mailbridge.store.models import Message
from tests.conftest import SUPPORT_USER, run_cli
from tests.corpus_scoring import corpus_dir, load_manifest

EXAMPLES = int(os.environ.get("MAILBRIDGE_FUZZ_EXAMPLES", "200"))
LONG_RUN = "MAILBRIDGE_FUZZ_EXAMPLES" in os.environ
STAGE_SECONDS = 2.0
FUZZ = settings(
    max_examples=EXAMPLES,
    # Per example: every stage is also timed on its own below. A slow shared machine gets some slack here.
    deadline=STAGE_SECONDS * 5 * 1000,
    derandomize=not LONG_RUN,  # CI: the same examples every run; a long run explores
    database=None,  # nothing written into the checkout
    print_blob=LONG_RUN,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
OWN = frozenset({SUPPORT_USER})
SUPPORT = SupportSettings(
    from_name="Shop support",
    from_address=SUPPORT_USER,
    ticket_subject_format="[#{number}] {subject}",
    default_locale="en",
)
TEMPLATES = make_environment()
NUMBERS = subject_number_pattern(SUPPORT.ticket_subject_format)
CORPUS = corpus_dir()
HAS_CORPUS = (CORPUS / "manifest.jsonl").is_file()


class _Ticket:
    id = 7
    number = "48213907751"
    subject = "Order 1234"
    created_at = NOW


class _Customer:
    def __init__(self, name: str, email: str):
        self.name, self.email = name, email


def timed(stage: str, call: Callable[..., Any], *args: Any) -> Any:
    """Run one stage; fail when it takes STAGE_SECONDS or more."""
    start = time.perf_counter()
    result = call(*args)
    elapsed = time.perf_counter() - start
    assert elapsed < STAGE_SECONDS, f"{stage} took {elapsed:.2f} s"
    return result


def run_pipeline(raw: bytes) -> ParsedMessage:
    """Everything intake decides from one message without the database, as it does it; returns the parse."""
    parsed = timed("parse", parse_message, raw)
    kind = timed("classify", classify, parsed, OWN)
    assert isinstance(kind, MessageKind)
    timed("auto reply", may_auto_reply, kind, parsed)
    links = timed("thread links", thread_links, parsed)
    people = frozenset({(parsed.from_addr or "").lower()})
    evidence = ThreadEvidence(
        tickets_by_message_id={i: RelatedTicket(n, people) for n, i in enumerate(links[:3], 1)}, now=NOW
    )
    timed("match", match_ticket, parsed, evidence)
    timed("subject", normalise_subject, parsed.subject)
    timed("numbers", find_subject_numbers, parsed.subject, NUMBERS)
    timed("tokens", tokens_in, recipients_of(parsed), OWN)
    stripped = timed("strip", new_text, parsed)
    assert isinstance(stripped, str)
    name = timed("name", safe_display_name, parsed.from_name)
    assert len(name) <= MAX_NAME_CHARS and not any(c in name for c in "\x1b\r\n\u202e")
    shown = timed("visible", visible_text, parsed.subject)
    assert "\x1b" not in shown and "\n" not in shown
    _compose_receipt(parsed)
    return parsed


def _compose_receipt(parsed: ParsedMessage) -> None:
    """Compose the receipt as intake would; only a sender address that no header can carry may refuse it."""
    customer = _Customer(parsed.from_name, parsed.from_addr or "unknown@invalid.example")
    try:
        draft = timed(
            "draft",
            lambda: draft_for(
                MailKind.RECEIPT,
                ticket=_Ticket(),
                customer=customer,
                contact=None,
                parsed=parsed,
                locale="en",
                support=SUPPORT,
                templates=TEMPLATES,
                instance_id="fuzz",
            ),
        )
        data = timed("compose", lambda: mail_bytes(compose(draft, "<mb.0@shop.example>", NOW)))
    except ValueError as exc:
        # Documented: compose.make_address refuses an unusable address; intake answers only REPLYABLE_ADDRESS ones.
        assert "unusable address" in str(exc) and not REPLYABLE_ADDRESS.match(customer.email), exc
        return
    head = data.split(b"\r\n\r\n", 1)[0]
    assert all(len(line) <= 998 for line in head.split(b"\r\n")), "a header line over 998 characters"
    assert b"\r\n\r\n" in data and not re.search(rb"(?<!\r)\n|\r(?!\n)", data), "a bare CR or LF"


# Pieces an attacker controls: header values, bodies, MIME trees.
RUNS = st.builds(
    lambda piece, count: piece * count,
    st.sampled_from(
        [" ", "\t", "a", "<", "=?", "=?utf-8?q?", "Re: ", "[#", "\x1b[2J", "\u202e", "\x00", "@", ".", ">"]
    ),
    st.integers(min_value=1, max_value=20_000),
)
HOSTILE_CHARS = st.characters(codec="utf-8", exclude_categories=("Cs",))
HEADER_TEXT = st.one_of(
    st.text(HOSTILE_CHARS, max_size=200),
    RUNS,
    st.sampled_from(
        [
            "=?x-unknown?b?!!!?=",
            "=?utf-8?b?////?=",
            "=?utf-8?q?=FF=FE=00?=",
            "=?iso-2022-jp?b?GyRCJDMbKEI=?=",
            "<" + "x" * 5000 + "@evil.example>",
            "Visit http://evil.example now <a@b>",
            "\u202eexe.fdp",
            '"unterminated <a@example.org',
            "a@b@c, <<>>, ;;;",
        ]
    ),
)
RAW_HEADER = st.builds(
    lambda text, junk: text.encode("utf-8", "surrogatepass").replace(b"\r", b" ").replace(b"\n", b" ") + junk,
    HEADER_TEXT,
    st.binary(max_size=20),
)
HEADER_NAMES = st.sampled_from(
    [
        b"From",
        b"To",
        b"Cc",
        b"Reply-To",
        b"Subject",
        b"Message-ID",
        b"In-Reply-To",
        b"References",
        b"Date",
        b"Auto-Submitted",
        b"Precedence",
        b"Content-Language",
        b"Authentication-Results",
        b"X-Mailbridge-Loop",
        b"Content-Type",
        b"Content-Transfer-Encoding",
    ]
)
BODY = st.one_of(st.binary(max_size=2000), RUNS.map(lambda s: s.encode("utf-8", "surrogatepass")))
ENCODINGS = st.sampled_from([b"7bit", b"8bit", b"base64", b"quoted-printable", b"x-uuencode", b"bogus"])
TYPES = st.sampled_from(
    [b"text/plain", b"text/html", b"application/octet-stream", b"message/rfc822", b"application/ms-tnef", b"image/png"]
)
CHARSETS = st.sampled_from([b"utf-8", b"iso-8859-1", b"x-unknown", b"utf-16", b"", b"windows-1252\x00"])


def _leaf(content_type: bytes, charset: bytes, encoding: bytes, body: bytes, name: bytes) -> bytes:
    return (
        b"Content-Type: " + content_type + b"; charset=" + charset + b'; name="' + name + b'"\r\n'
        b"Content-Transfer-Encoding: " + encoding + b"\r\n\r\n" + body
    )


def _multipart(parts: list[bytes], boundary: bytes, close: bool) -> bytes:
    body = b"".join(b"--" + boundary + b"\r\n" + part + b"\r\n" for part in parts)
    return (
        b'Content-Type: multipart/mixed; boundary="'
        + boundary
        + b'"\r\n\r\n'
        + body
        + (b"--" + boundary + b"--" if close else b"")
    )


LEAF = st.builds(_leaf, TYPES, CHARSETS, ENCODINGS, BODY, st.binary(max_size=40).map(lambda b: b.replace(b'"', b"")))
TREE = st.recursive(
    LEAF,
    lambda children: st.builds(
        _multipart,
        st.lists(children, min_size=0, max_size=4),
        st.sampled_from([b"b1", b"=_x", b"", b"a" * 200]),
        st.booleans(),
    ),
    max_leaves=12,
)


def _nested(depth: int, close: bool) -> bytes:
    """A tree `depth` multiparts deep, each one boundary of its own (made to exhaust recursion)."""
    part = b"Content-Type: text/plain\r\n\r\ndeep"
    for level in range(depth):
        part = _multipart([part], b"n%d" % level, close)
    return part


DEEP = st.builds(_nested, st.integers(min_value=1, max_value=400), st.booleans())
LINE_END = st.sampled_from([b"\r\n", b"\n", b"\r"])


@st.composite
def hostile_messages(draw) -> bytes:
    """A message: hostile headers (some twice, some folded), then a body or a MIME tree, any line ends."""
    headers = draw(st.lists(st.tuples(HEADER_NAMES, RAW_HEADER), min_size=0, max_size=12))
    if draw(st.booleans()):
        headers.insert(0, (b"From", b"Anna <anna@example.org>"))
    lines = [name + b": " + value for name, value in headers]
    if draw(st.booleans()):
        lines.append(b" continued header line " + draw(RAW_HEADER))
    content = draw(st.one_of(TREE, DEEP, BODY.map(lambda b: b"\r\n" + b)))
    eol = draw(LINE_END)
    raw = eol.join(lines) + eol + b"MIME-Version: 1.0" + eol + content
    return raw if raw.strip() else b"X: y\r\n\r\nempty"


@given(hostile_messages())
@FUZZ
def test_generated_hostile_mail_passes_every_stage(raw):
    run_pipeline(raw)


def _corpus_files() -> list[bytes]:
    return [(CORPUS / entry["file"]).read_bytes() for entry in load_manifest(CORPUS)] if HAS_CORPUS else []


CORPUS_FILES = _corpus_files()


@st.composite
def mutated_corpus_mail(draw) -> bytes:
    """A corpus message with a few byte-level mutations: inserts, cuts, copies, hostile header values."""
    raw = bytearray(draw(st.sampled_from(CORPUS_FILES)))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        at = draw(st.integers(min_value=0, max_value=len(raw)))
        action = draw(st.sampled_from(["insert", "cut", "copy", "header", "truncate"]))
        if action == "insert":
            raw[at:at] = draw(st.one_of(st.binary(min_size=1, max_size=50), RAW_HEADER))
        elif action == "cut":
            del raw[at : at + draw(st.integers(min_value=1, max_value=500))]
        elif action == "copy":
            raw[at:at] = raw[at : at + draw(st.integers(min_value=1, max_value=2000))] * draw(st.integers(1, 20))
        elif action == "header":
            raw[0:0] = draw(HEADER_NAMES) + b": " + draw(RAW_HEADER) + b"\r\n"
        else:
            del raw[max(at, 1) :]
    return bytes(raw)


@pytest.mark.skipif(
    not HAS_CORPUS, reason=f"corpus not found at {CORPUS} (set MAILBRIDGE_CORPUS): only generated mail fuzzed"
)
@given(mutated_corpus_mail())
@FUZZ
def test_mutated_corpus_mail_passes_every_stage(raw):
    run_pipeline(raw)


@pytest.mark.skipif(not HAS_CORPUS, reason=f"corpus not found at {CORPUS} (set MAILBRIDGE_CORPUS)")
def test_every_corpus_message_passes_every_stage():
    # The seeds themselves, unmutated: a failure here is not the mutation's doing.
    for raw in CORPUS_FILES:
        run_pipeline(raw)


def test_known_hostile_shapes_pass_every_stage():
    """Shapes found worth keeping: each once, whatever hypothesis draws."""
    for raw in (
        _nested(400, False),
        b"From: " + b"\x1b[2J" * 10_000 + b" <anna@example.org>\r\nSubject: " + b"=?" * 50_000 + b"\r\n\r\nx",
        b"From: a@b\r\nMessage-ID: <" + b"x" * 100_000 + b"@e>\r\nReferences: " + b"<a@b> " * 20_000 + b"\r\n\r\nx",
        b"From: anna@example.org\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" + b"--b\r\n" * 5000,
    ):
        parsed = run_pipeline(raw)
        assert parsed.message_id is None or len(parsed.message_id) <= 500


# Integration: `mailbridge ingest` on stdin, into a real database.
def _ingest_until_settled(config, raw: bytes) -> int:
    """Pipe one message to `mailbridge ingest` as an MTA does, again on 75 as it would; return the last exit code."""
    for _ in range(4):  # the fourth try finds it quarantined after three counted failures
        result = run_cli("ingest", config=config, input=raw)  # type: ignore[arg-type]
        if result.returncode != 75:
            return result.returncode
    return result.returncode


def test_fifty_hostile_messages_on_stdin_are_each_stored_or_quarantined(config_file, tmp_path):
    config = config_file()
    engine = create_engine(f"sqlite:///{tmp_path}/mailbridge.db")
    seen: set[str] = set()

    # One database for the fifty: hypothesis runs the examples inside this test, after its fixtures.
    @given(hostile_messages())
    @settings(
        max_examples=50,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
    )
    def ingest_one(raw: bytes) -> None:
        # Documented exit codes of `mailbridge ingest` on stdin: 0 stored (flagged when malformed), 75 retry later.
        assert _ingest_until_settled(config, raw) == 0
        with Session(engine) as session:
            rows = session.exec(select(Message).where(Message.raw == raw)).all()
        assert len(rows) == 1, "stored once, never lost"
        assert rows[0].kind != "quarantined" or rows[0].is_malformed
        seen.add(hashlib.sha256(raw).hexdigest())

    ingest_one()
    assert len(seen) >= 45, f"only {len(seen)} distinct messages were generated"
