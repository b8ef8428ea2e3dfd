"""Bounce reading over the real DSNs of the shared corpus (skips where the corpus is absent)."""

import pytest

from mailbridge.decisions.inbound.bounces import read_bounce
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


@pytest.mark.xfail(
    strict=True,
    reason="known defect (real-mail issue): flufl.bounce reads 3 of the 6 delayed (4.x.x) "
    "corpus DSNs as permanent, which suppresses the address for 60 days",
)
def test_delayed_delivery_reports_never_count_as_permanent():
    entries = [e for e in dsn_entries() if e["expect"]["dsn_report"].get("status", "").startswith("4")]
    wrongly_permanent = [
        e["id"]
        for e in entries
        if e["expect"]["dsn_report"]["final_recipient"].lower() in read_bounce(read_as_imap(CORPUS, e)).permanent
    ]
    assert entries and wrongly_permanent == []


def test_plain_customer_mail_is_no_bounce():
    raw = b"From: a@example.org\r\nTo: s@shop.example\r\nSubject: hi\r\n\r\nHello\r\n"
    report = read_bounce(raw)
    assert report.permanent == frozenset()
