"""Bounce reading over the real DSNs of the shared corpus (skips where the corpus is absent)."""

import pytest

from mailbridge.decisions.inbound.bounces import main_recipient_failed, read_bounce
from tests.corpus_scoring import corpus_dir, load_manifest, read_as_imap

CORPUS = corpus_dir()
# Permanent failures (status 5.x.x) whose final recipient is found; raise it when detection improves.
PERMANENT_FLOOR = 15


def dsn_entries():
    if not (CORPUS / "manifest.jsonl").is_file():
        pytest.skip(f"corpus not found at {CORPUS}")
    return [e for e in load_manifest(CORPUS) if (e["expect"].get("dsn_report") or {}).get("final_recipient")]


def test_final_recipient_of_corpus_permanent_bounces_is_found():
    entries = [e for e in dsn_entries() if e["expect"]["dsn_report"].get("status", "").startswith("5")]
    found = []
    for entry in entries:
        report = read_bounce(read_as_imap(CORPUS, entry))
        if entry["expect"]["dsn_report"]["final_recipient"].lower() in report.permanent:
            found.append(entry["id"])
    print(f"\nbounces: final recipient found in {len(found)}/{len(entries)} permanent corpus DSNs")
    assert len(found) >= PERMANENT_FLOOR


def test_delayed_delivery_reports_never_count_as_permanent():
    entries = [e for e in dsn_entries() if e["expect"]["dsn_report"].get("status", "").startswith("4")]
    reports = {
        e["id"]: (e["expect"]["dsn_report"]["final_recipient"].lower(), read_bounce(read_as_imap(CORPUS, e)))
        for e in entries
    }
    wrongly_permanent = [key for key, (address, report) in reports.items() if address in report.permanent]
    seen_as_temporary = [key for key, (address, report) in reports.items() if address in report.temporary]
    assert len(entries) == 6 and wrongly_permanent == [] and len(seen_as_temporary) == 6


def test_plain_customer_mail_is_no_bounce():
    raw = b"From: a@example.org\r\nTo: s@shop.example\r\nSubject: hi\r\n\r\nHello\r\n"
    report = read_bounce(raw)
    assert report.permanent == frozenset()


def dsn(fields: str, prose: str = "Your message could not be delivered.") -> bytes:
    """A RFC 3464 report with one recipient block of `fields` (lines joined by CRLF)."""
    return (
        "From: MAILER-DAEMON@mx.example.org\r\nTo: support@shop.example\r\nSubject: Delivery Status Notification\r\n"
        'MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
        f"--b\r\nContent-Type: text/plain\r\n\r\n{prose}\r\n\r\n"
        f"--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.org\r\n\r\n{fields}\r\n\r\n"
        "--b\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: <r1@shop.example>\r\n\r\n--b--\r\n"
    ).encode()


def test_action_delayed_is_temporary():
    report = read_bounce(dsn("Final-Recipient: rfc822; ann@example.org\r\nAction: delayed\r\nStatus: 4.4.7"))
    assert report.permanent == frozenset() and report.temporary == {"ann@example.org"}
    assert report.original_message_ids == ("<r1@shop.example>",)


def test_failed_with_a_4xx_status_is_temporary_even_when_the_prose_says_unrecoverable():
    fields = "Final-Recipient: rfc822; <Ann@Example.org>\r\nAction: failed\r\nStatus: 4.2.2 (mailbox full)"
    report = read_bounce(dsn(fields, "<ann@example.org>  (unrecoverable error)"))
    assert report.permanent == frozenset() and report.temporary == {"ann@example.org"}


def test_failed_with_a_5xx_status_is_permanent():
    report = read_bounce(dsn("Final-Recipient: rfc822; ann@example.org\r\nAction: failed\r\nStatus: 5.1.1"))
    assert report.permanent == {"ann@example.org"} and report.temporary == frozenset()


def test_each_recipient_is_judged_by_its_own_status():
    fields = (
        "Final-Recipient: rfc822; gone@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n"
        "Final-Recipient: rfc822; slow@example.org\r\nAction: delayed\r\nStatus: 4.4.1"
    )
    report = read_bounce(dsn(fields))
    assert report.permanent == {"gone@example.org"} and report.temporary == {"slow@example.org"}


def test_delivered_recipient_is_no_failure():
    report = read_bounce(dsn("Final-Recipient: rfc822; ann@example.org\r\nAction: delivered\r\nStatus: 2.0.0"))
    assert "ann@example.org" not in report.permanent


ANNA, BOB = "anna@example.org", "bob@example.org"


@pytest.mark.parametrize(
    ("rcpt_to", "failed", "whole"),
    [
        (ANNA, {ANNA}, True),
        (f"{ANNA},{BOB}", {ANNA}, True),  # the customer's address failed
        (f"{ANNA},{BOB}", {BOB}, False),  # only the colleague in Cc: the answer reached the customer
        (f"{ANNA}, {BOB}", {"Bob@Example.org".lower()}, False),
        (f"{ANNA},{BOB}", {ANNA, BOB}, True),
        (f"{ANNA},{BOB}", {"anna.rossi@mail.example"}, True),  # a forwarding address: counts as the mail's
        (ANNA, set(), False),  # delayed only, or no address found: nothing failed for good
        ("", {ANNA}, True),
    ],
)
def test_a_bounce_fails_the_whole_mail_only_when_its_main_recipient_failed(rcpt_to, failed, whole):
    assert main_recipient_failed(rcpt_to, frozenset(failed)) is whole
