"""Scoring of parsed messages against the shared corpus manifest.

Input: one manifest entry (a dict from manifest.jsonl) and a ParsedMessage; output: a dict of
check name -> matched. Used by tests/test_corpus.py, and by the storage leg of the corpus test.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import unicodedata
from collections.abc import Iterable, Iterator
from pathlib import Path

from mailbridge.decisions.inbound.parse import ParsedMessage

DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "public"

_WS = re.compile(r"\s+")
_LINE_END = re.compile(rb"\r\n|\r|\n")


def corpus_dir() -> Path:
    """Return the corpus folder: $MAILBRIDGE_CORPUS, else ../shared/corpus/public."""
    override = os.environ.get("MAILBRIDGE_CORPUS")
    return Path(override) if override else DEFAULT_CORPUS


def load_manifest(root: Path) -> list[dict]:
    """Read manifest.jsonl under root, one entry per line."""
    with (root / "manifest.jsonl").open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def read_as_imap(root: Path, entry: dict) -> bytes:
    """Return the entry's file with every line end made CRLF, as an IMAP server hands it back."""
    return _LINE_END.sub(b"\r\n", (root / entry["file"]).read_bytes())


def normalise(text: str | None) -> str:
    """Apply the README's comparison rule: NFC, whitespace runs made one space, ends trimmed."""
    return _WS.sub(" ", unicodedata.normalize("NFC", text or "")).strip()


def score_message(entry: dict, parsed: ParsedMessage) -> dict[str, bool]:
    """Compare one parsed message with its manifest expectations; skip disputed fields.

    Keys are field names; a list field gives one key per element, e.g. "body_snippets[2]".
    """
    expect = entry.get("expect", {})
    disputed = set(entry.get("disputed", {}))
    wanted = {key: value for key, value in expect.items() if key not in disputed}
    body = normalise(parsed.text_body)
    scores: dict[str, bool] = {}
    if "from_addr" in wanted:
        scores["from_addr"] = (parsed.from_addr or "").lower() == (wanted["from_addr"] or "").lower()
    for key in ("from_name", "subject"):
        if key in wanted:
            scores[key] = normalise(getattr(parsed, key)) == normalise(wanted[key])
    for i, snippet in enumerate(wanted.get("body_snippets", [])):
        scores[f"body_snippets[{i}]"] = normalise(snippet) in body
    if "body_empty" in wanted:
        scores["body_empty"] = (body == "") == bool(wanted["body_empty"])
    if "attachments" in wanted:
        found = _match_attachments(wanted["attachments"], parsed, _had_bare_lf(entry))
        scores.update({f"attachments[{i}]": ok for i, ok in enumerate(found)})
    if "attachment_count" in wanted:
        scores["attachment_count"] = len(_sent_files(parsed)) == wanted["attachment_count"]
    if "tnef_contents" in wanted:
        unpacked = sorted(normalise(a.filename) for a in parsed.attachments if a.inside is not None)
        scores["tnef_contents"] = unpacked == sorted(normalise(n) for n in wanted["tnef_contents"])
    if "attachment_names" in wanted:
        names = sorted(normalise(a.filename) for a in parsed.attachments)
        scores["attachment_names"] = names == sorted(normalise(n) for n in wanted["attachment_names"])
    if "attachment_names_include" in wanted:
        names = {normalise(a.filename) for a in parsed.attachments}
        scores["attachment_names_include"] = all(normalise(n) in names for n in wanted["attachment_names_include"])
    return scores


def _sent_files(parsed: ParsedMessage) -> list:
    """The files as the manifest counts them (its sources count MIME parts): not the report data of a bounce,
    which parse keeps as delivery-status.txt for agents, nor the files parse took out of a winmail.dat (scored as
    tnef_contents)."""
    return [a for a in parsed.attachments if a.inside is None and a.content_type != "message/delivery-status"]


def _had_bare_lf(entry: dict) -> bool:
    return bool({"bare-lf", "mixed-line-endings"} & set(entry.get("quirks", ())))


def _match_attachments(expected: list[dict], parsed: ParsedMessage, bare_lf: bool) -> list[bool]:
    """Match each expected attachment to a distinct parsed one: by sha256, else name, else type."""
    unused = list(parsed.attachments)
    results = []
    for want in expected:
        hit = next((a for a in unused if _same_attachment(want, a, bare_lf)), None)
        if hit is not None:
            unused.remove(hit)
        results.append(hit is not None)
    return results


def _same_attachment(want: dict, got, bare_lf: bool) -> bool:
    if want.get("sha256"):
        digests = {hashlib.sha256(got.payload).hexdigest()}
        # The manifest hashed the file as published; when that file had bare LF line ends, the
        # CRLF we fed in is our own change, and a line-based (7bit, 8bit, QP) part carries it.
        if bare_lf:
            digests.add(hashlib.sha256(got.payload.replace(b"\r\n", b"\n")).hexdigest())
        return want["sha256"] in digests
    if want.get("name") is not None:
        return normalise(got.filename) == normalise(want["name"])
    # A part without a name can only be recognised by its content type.
    return got.content_type.lower() == (want.get("content_type") or "").lower()


def field_of(check: str) -> str:
    """Return the field a check belongs to: "body_snippets[2]" -> "body_snippets"."""
    return check.split("[", 1)[0]


def tally(all_scores: Iterable[dict[str, bool]]) -> dict[str, tuple[int, int]]:
    """Sum checks per field into (matched, total)."""
    totals: dict[str, list[int]] = {}
    for scores in all_scores:
        for check, ok in scores.items():
            row = totals.setdefault(field_of(check), [0, 0])
            row[0] += int(ok)
            row[1] += 1
    return {name: (row[0], row[1]) for name, row in sorted(totals.items())}


def format_table(totals: dict[str, tuple[int, int]]) -> str:
    """Render (matched, total) per field as a fixed-width table."""
    lines = [f"{'field':<26}{'matched':>8}{'total':>7}{'%':>7}"]
    for name, (ok, total) in totals.items():
        lines.append(f"{name:<26}{ok:>8}{total:>7}{100 * ok / max(total, 1):>7.1f}")
    return "\n".join(lines)


def failures(entry: dict, scores: dict[str, bool]) -> Iterator[str]:
    """Yield "id: check" for every failed check, for debugging output."""
    for check, ok in scores.items():
        if not ok:
            yield f"{entry['id']}: {check}"
