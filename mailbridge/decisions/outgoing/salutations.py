"""Decision: does an agent's answer already greet the customer, or already close with regards? Pure.

Input: the agent's new text; output: a yes or no each. `agent_desk` calls them before it wraps a relayed answer in
the Contact's greeting and signature, so the customer never reads "Dear Ms Rossi," above "Hi Anna,". Only a few
lines at either end are read, each cut to a bounded length, against one anchored alternation: linear time.
"""

from __future__ import annotations

import re

# Per language; a trailing `*` is a word stem (Vážen* matches "Vážený" and "Vážená").
GREETINGS = {
    "en": ("hi", "hello", "hey", "dear", "good morning", "good afternoon", "good evening", "greetings"),
    "it": ("ciao", "gentile", "gentili", "gentilissim*", "buongiorno", "buonasera", "salve", "egregi*", "cara", "caro"),
    "cs": ("dobrý den", "dobré ráno", "dobrý večer", "vážen*", "ahoj", "milý", "milá"),
    "el": ("αγαπητ*", "καλημέρα", "καλησπέρα", "γεια", "χαίρετε", "αξιότιμ*"),
    "de": ("hallo", "guten tag", "guten morgen", "guten abend", "sehr geehrte*", "liebe*", "grüß gott", "moin"),
}
CLOSINGS = {
    "en": (
        "best regards",
        "kind regards",
        "warm regards",
        "regards",
        "best wishes",
        "yours sincerely",
        "sincerely",
        "best,",
        "cheers",
    ),
    "it": ("cordiali saluti", "distinti saluti", "un cordiale saluto", "cordialmente", "saluti", "a presto"),
    "cs": ("s pozdravem", "se srdečným pozdravem", "s přátelským pozdravem", "s úctou", "hezký den"),
    "el": ("με εκτίμηση", "με φιλικούς χαιρετισμούς", "φιλικά", "με τιμή", "χαιρετισμούς"),
    # With ß and, as written in Switzerland, ss.
    "de": tuple(
        f"{words} {greet}"
        for words, greet in (
            ("mit freundlichen", "grüßen"),
            ("mit freundlichen", "grüssen"),
            ("freundliche", "grüße"),
            ("freundliche", "grüsse"),
            ("viele", "grüße"),
            ("viele", "grüsse"),
            ("beste", "grüße"),
            ("beste", "grüsse"),
            ("herzliche", "grüße"),
            ("herzliche", "grüsse"),
        )
    ),
}
LINE_CHARS = 80  # only the start of a line is read
CLOSING_LINES = 3  # "Best regards," "Maria" "Shop support": the closing may stand a few lines above the end


def _pattern(words: dict[str, tuple[str, ...]]) -> re.Pattern[str]:
    parts = []
    for phrase in sorted({w for group in words.values() for w in group}, key=len, reverse=True):
        if phrase.endswith("*"):
            parts.append(re.escape(phrase[:-1]) + r"\w*")
        elif phrase[-1].isalnum():
            parts.append(re.escape(phrase) + r"(?!\w)")
        else:
            parts.append(re.escape(phrase))
    return re.compile(r"(?:" + "|".join(parts) + r")", re.IGNORECASE)


_GREETING = _pattern(GREETINGS)
_CLOSING = _pattern(CLOSINGS)


def _lines(text: str) -> list[str]:
    return [line.strip()[:LINE_CHARS] for line in text.splitlines() if line.strip()]


def opens_with_greeting(text: str) -> bool:
    """Whether the first non-empty line of the text is a salutation (Hi, Gentile, Dobrý den, Αγαπητέ ...)."""
    # Only the first stretch is read: a greeting stands at the top.
    first = _lines(text.lstrip()[: LINE_CHARS * 2])[:1]
    return bool(first) and _GREETING.match(first[0]) is not None


def ends_with_closing(text: str) -> bool:
    """Whether one of the last few non-empty lines starts with a closing (Best regards, S pozdravem ...)."""
    last = _lines(text.rstrip()[-CLOSING_LINES * LINE_CHARS * 4 :])[-CLOSING_LINES:]
    return any(_CLOSING.match(line) for line in last)


def surrounding_texts(text: str, greeting: str, signature: str) -> tuple[str, str]:
    """The Contact's greeting and signature to put around an agent's text: each left out when the text has its own."""
    return ("" if opens_with_greeting(text) else greeting, "" if ends_with_closing(text) else signature)
