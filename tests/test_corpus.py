"""Runs parse over the shared public corpus and scores it against its manifest.

The floors are the match counts reached so far; a change that lowers one fails the test.
"""

from __future__ import annotations

import time
from collections import Counter

import pytest

from mailbridge.parse import is_malformed, parse_message
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
        1 for entry, parsed in results
        if not isinstance(parsed, Exception) and not entry["expect"].get("malformed") and is_malformed(parsed)
    )
    print(f"flagged malformed without the manifest saying so: {flagged_clean}")
    print(f"failed checks by field: {dict(Counter(f.split(': ')[1].split('[')[0] for f in failed))}")
    below = {name: (totals.get(name, (0, 0))[0], floor) for name, floor in FLOORS.items()
             if totals.get(name, (0, 0))[0] < floor}
    assert below == {}, f"fields below their floor (matched, floor): {below}"
