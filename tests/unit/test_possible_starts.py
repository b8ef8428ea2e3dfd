"""`reply_text.at_possible_starts`: the quote-header pattern tried only where a match can start finds exactly what the
pattern finds everywhere (issue 15's performance: it was most of the cost of stripping a reply).

The texts are the adapter's own test forms, every header word of the pattern put at the start, the middle and the
end of lines, and the corpus's reply bodies when the corpus is there.
"""

from __future__ import annotations

import random
import re

import pytest

from mailbridge.decisions.inbound import reply_text
from mailbridge.decisions.inbound.parse import parse_message
from tests.corpus_scoring import corpus_dir, load_manifest, read_as_imap


def _slow_header_pattern() -> re.Pattern[str]:
    fast = reply_text._compiled_patterns()["_header_regex"]
    prefix = fast.pattern.index("(?:")
    return re.compile(fast.pattern[prefix + 3 : -1], fast.flags)


WORDS = [
    "On Tue, 12 Mar 2024 at 10:00, Shop <s@shop.example> wrote:",
    "Am 12.03.2024 um 10:00 schrieb Shop <s@shop.example>:",
    "Le mar. 12 mars 2024 à 10:00, Shop <s@shop.example> a écrit :",
    "Il giorno mar 12 mar 2024 alle ore 10:00 Shop <s@shop.example> ha scritto:",
    "Dne 12. 3. 2024 v 10:00 Shop <s@shop.example> napsal(a):",
    "-----Original Message-----",
    "-----Oprindelig meddelelse-----",
    "-------- Message d'origine --------",
    "From: Shop <s@shop.example>",
    "Sent: Tuesday",
    "Von: Shop",
    "Gesendet: Dienstag",
    "Da: Shop",
    "Inviato: martedì",
    "Fra: Shop",
    "Emne: Re",
    "De : Shop",
    "Envoyé : mardi",
    "> On Mon, wrote:",
    "____________________________________",
    "riak-users mailing list",
    "riak-users@lists.example",
    "2017-11-24 16:32 GMT+01:00 Shop <s@shop.example>:",
    "Message du 12/03/24 10:00",
    "2024年3月12日(火) 10:00 Shop <s@shop.example>:",
    "Hello, my order has not arrived.",
    "",
]


def _texts(count: int) -> list[str]:
    rng = random.Random(15)
    texts = []
    for _ in range(count):
        lines = []
        for _ in range(rng.randint(1, 12)):
            word = rng.choice(WORDS)
            where = rng.random()
            if where < 0.3:
                word = "some text " + word  # a header word in the middle of a line
            elif where < 0.4:
                word = word + " and more"
            lines.append(("> " * rng.randint(0, 2)) + word if rng.random() < 0.2 else word)
        texts.append("\n".join(lines))
    return texts


def test_the_adapter_uses_the_pattern_with_its_possible_starts():
    assert reply_text._compiled_patterns()["_header_regex"].pattern.startswith("(?=^|[")


@pytest.mark.parametrize("text", _texts(400))
def test_finds_what_the_whole_pattern_finds(text):
    fast, slow = reply_text._compiled_patterns()["_header_regex"], _slow_header_pattern()
    assert fast.findall(text) == slow.findall(text)


def test_finds_what_the_whole_pattern_finds_on_the_corpus():
    root = corpus_dir()
    if not (root / "manifest.jsonl").exists():
        pytest.skip(f"no corpus at {root}: the generated texts above still ran")
    fast, slow = reply_text._compiled_patterns()["_header_regex"], _slow_header_pattern()
    compared = 0
    for entry in load_manifest(root):
        parsed = parse_message(read_as_imap(root, entry))
        text = reply_text._for_library(parsed.text_body.replace("\r\n", "\n"))
        assert fast.findall(text) == slow.findall(text), entry["id"]
        compared += 1
    assert compared > 300


@pytest.mark.parametrize(
    ("pattern", "starts"),
    [
        (r"^On .* wrote:$", "(?=^)"),
        (r"^a|(?:\n|-)b", "(?=^|[\\\n\\-])"),
        (r"(?:x)?^y", "(?=^|[x])"),
        (r"(?!z)(?:[ab]c){2,}", "(?=[ab])"),
        (r"(?:> ?)*+On", "(?=[>O])"),
    ],
)
def test_a_pattern_that_starts_at_known_places_gets_their_lookahead(pattern, starts):
    compiled = reply_text.at_possible_starts(re.compile(pattern, re.MULTILINE))
    assert compiled.pattern == f"{starts}(?:{pattern})"


@pytest.mark.parametrize(
    "pattern",
    [
        r"x*",  # may match nothing, anywhere
        r"^a|.b",  # one alternative may start at any character
        r"^a|\wb",
        r"(?i:a)b",  # a group that changes flags: not looked into
        r"[^a]b",
    ],
)
def test_a_pattern_that_may_start_anywhere_is_left_as_it_is(pattern):
    compiled = re.compile(pattern, re.MULTILINE)
    assert reply_text.at_possible_starts(compiled) is compiled
