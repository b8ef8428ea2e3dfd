"""Runs parse over the shared public corpus and scores it against its manifest.

The floors are the match counts reached so far; a change that lowers one fails the test.
"""

from __future__ import annotations

import time
from collections import Counter

import pytest

from mailbridge.decisions.inbound.parse import is_malformed, parse_message
from mailbridge.store.raw_files import raw_bytes
from tests.corpus_scoring import (
    corpus_dir,
    failures,
    format_table,
    load_manifest,
    read_as_imap,
    score_message,
    tally,
)

CORPUS = corpus_dir()
pytestmark = pytest.mark.skipif(
    not (CORPUS / "manifest.jsonl").is_file(),
    reason=f"corpus not found at {CORPUS} (set MAILBRIDGE_CORPUS to its folder)",
)

# Matched checks per field, set to what parse reaches; raise them when parse gets better.
FLOORS = {
    "attachment_count": 326,
    "attachment_names": 4,
    "attachment_names_include": 1,
    "attachments": 140,
    "body_empty": 32,
    "body_snippets": 411,
    "from_addr": 328,
    "from_name": 323,
    "malformed": 52,
    "subject": 314,
    "tnef_contents": 4,
}


@pytest.fixture(scope="module")
def corpus_run():
    """Parse every corpus message once; return (entry, parsed or exception) pairs and seconds."""
    started = time.perf_counter()
    results = []
    for entry in load_manifest(CORPUS):
        raw = read_as_imap(CORPUS, entry)
        try:
            results.append((entry, parse_message(raw)))
        except Exception as exc:  # noqa: BLE001 - the test reports every raising message.
            results.append((entry, exc))
    return results, time.perf_counter() - started


def test_no_corpus_message_makes_parse_raise(corpus_run):
    results, _ = corpus_run
    raised = [f"{entry['id']}: {exc!r}" for entry, exc in results if isinstance(exc, Exception)]
    assert raised == []


def test_corpus_fields_match_at_least_the_floors(corpus_run):
    results, seconds = corpus_run
    all_scores, failed = [], []
    for entry, parsed in results:
        if isinstance(parsed, Exception):
            continue
        scores = score_message(entry, parsed)
        if entry["expect"].get("malformed"):
            scores["malformed"] = is_malformed(parsed)
        all_scores.append(scores)
        failed.extend(failures(entry, scores))
    totals = tally(all_scores)
    print(f"\ncorpus: {len(results)} messages parsed in {seconds:.2f}s")
    print(format_table(totals))
    flagged_clean = sum(
        1
        for entry, parsed in results
        if not isinstance(parsed, Exception) and not entry["expect"].get("malformed") and is_malformed(parsed)
    )
    print(f"flagged malformed without the manifest saying so: {flagged_clean}")
    print(f"failed checks by field: {dict(Counter(f.split(': ')[1].split('[')[0] for f in failed))}")
    below = {
        name: (totals.get(name, (0, 0))[0], floor)
        for name, floor in FLOORS.items()
        if totals.get(name, (0, 0))[0] < floor
    }
    assert below == {}, f"fields below their floor (matched, floor): {below}"


# Storage leg: the same messages through intake into SQLite, as the poller would hand them over.
NO_RECEIPT_FLOOR = 34  # messages the manifest says must never be answered (RFC 3834) that got no receipt
THREAD_FLOOR = 9  # thread groups of the manifest that ended up in exactly one ticket


@pytest.fixture(scope="module")
def stored_corpus(tmp_path_factory):
    """Run every corpus message through intake.accept into a fresh SQLite store."""
    from mailbridge.base.clock import FixedClock
    from mailbridge.base.config.settings import load_settings
    from mailbridge.ingest.intake import accept
    from mailbridge.ingest.sources.imap import RawMail
    from mailbridge.runtime.app import build_app

    folder = tmp_path_factory.mktemp("corpus-store")
    config = folder / "mailbridge.toml"
    config.write_text(
        '[database]\nurl = "sqlite:///corpus.db"\n[support]\nfrom_address = "support@shop.example"\n'
        '[smtp]\nhost = "127.0.0.1"\n[[mailboxes]]\nname = "corpus"\nhost = "127.0.0.1"\n'
    )
    app = build_app(load_settings(config), clock=FixedClock())
    entries = load_manifest(CORPUS)
    outcomes = {}
    for uid, entry in enumerate(entries, start=1):
        mail = RawMail("corpus", "INBOX", 1, uid, read_as_imap(CORPUS, entry))
        outcomes[entry["id"]] = (mail, accept(app.inbox(app.settings.mailboxes[0]), mail, app.clock.now()))
    return app, entries, outcomes


def test_every_corpus_message_is_stored_once_with_its_raw_bytes(stored_corpus):
    from sqlmodel import Session, select

    from mailbridge.store.models import Message

    app, entries, outcomes = stored_corpus
    with Session(app.engine) as session:
        rows = {m.id: m for m in session.exec(select(Message))}
    # Byte-identical files are one message delivered twice: kept once, and both UIDs point at it. Every other file
    # is kept with its own bytes, also when it shares a Message-ID, sender and text with another (issue 15).
    for entry_id, (mail, result) in outcomes.items():
        assert raw_bytes(rows[result.message_row_id]) == mail.raw, entry_id
    distinct = len({mail.raw for mail, _ in outcomes.values()})
    assert len(rows) == distinct
    twins = sum(1 for m in rows.values() if m.match_reason == "twin")
    print(f"\n{twins} messages stored beside a twin with the same Message-ID, sender and text")
    flagged = sum(1 for m in rows.values() if m.is_malformed)
    print(f"\nstored {len(rows)} distinct corpus messages of {len(entries)} files, {flagged} flagged malformed")


def test_mail_that_must_not_be_answered_gets_no_receipt(stored_corpus):
    from sqlmodel import Session, select

    from mailbridge.store.models import OutboxMail

    app, entries, outcomes = stored_corpus
    with Session(app.engine) as session:
        answered = set(session.exec(select(OutboxMail.caused_by_message_id)))
    must_not = [e for e in entries if e["expect"].get("may_auto_reply") is False]
    silent = [e for e in must_not if outcomes[e["id"]][1].message_row_id not in answered]
    wrongly = sorted(e["id"] for e in must_not if e not in silent)
    print(f"\nno receipt for {len(silent)}/{len(must_not)} messages that must not be answered; answered: {wrongly}")
    assert len(silent) >= NO_RECEIPT_FLOOR


def test_manifest_threads_land_in_one_ticket(stored_corpus):
    from sqlmodel import Session, select

    from mailbridge.store.models import Message

    app, entries, outcomes = stored_corpus
    with Session(app.engine) as session:
        ticket_of = {m.id: m.ticket_id for m in session.exec(select(Message))}
    groups: dict[str, set] = {}
    for entry in entries:
        thread = entry["expect"].get("thread")
        if thread is not None and entry["expect"].get("thread_size", 2) > 1:
            groups.setdefault(str(thread), set()).add(ticket_of[outcomes[entry["id"]][1].message_row_id])
    whole = sum(1 for tickets in groups.values() if len(tickets) == 1 and None not in tickets)
    print(f"\nthreads kept in one ticket: {whole}/{len(groups)}")
    assert whole >= THREAD_FLOOR
