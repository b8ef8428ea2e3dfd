"""Bounce reading over the real DSNs of the shared corpus (skips where the corpus is absent)."""

import pytest

from mailbridge.decisions.inbound.bounces import read_bounce
from tests.corpus_scoring import corpus_dir, load_manifest, read_as_imap

CORPUS = corpus_dir()
# Final recipients found among the corpus DSNs whose manifest names one; raise it when detection improves.
FINAL_RECIPIENT_FLOOR = 21


def dsn_entries():
    if not (CORPUS / "manifest.jsonl").is_file():
        pytest.skip(f"corpus not found at {CORPUS}")
    return [e for e in load_manifest(CORPUS) if (e["expect"].get("dsn_report") or {}).get("final_recipient")]


def test_final_recipient_of_corpus_bounces_is_found():
    entries = dsn_entries()
    found = []
    for entry in entries:
        report = read_bounce(read_as_imap(CORPUS, entry))
        wanted = entry["expect"]["dsn_report"]["final_recipient"].lower()
        if wanted in report.permanent | report.temporary:
            found.append(entry["id"])
    print(f"\nbounces: final recipient found in {len(found)}/{len(entries)} corpus DSNs")
    assert len(found) >= FINAL_RECIPIENT_FLOOR


def test_plain_customer_mail_is_no_bounce():
    raw = b"From: a@example.org\r\nTo: s@shop.example\r\nSubject: hi\r\n\r\nHello\r\n"
    report = read_bounce(raw)
    assert report.permanent == frozenset() and report.temporary == frozenset()
