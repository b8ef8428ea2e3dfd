"""Decision: which language a customer wrote in. Pure; a small stop-word vote, no model."""

from __future__ import annotations

import re

SUPPORTED = ("en", "it", "cs", "el", "de")

_STOPWORDS = {
    "en": {"the", "and", "is", "to", "my", "i", "you", "please", "order", "have", "not", "with", "for", "of"},
    "it": {
        "il",
        "di",
        "che",
        "non",
        "per",
        "un",
        "una",
        "sono",
        "mio",
        "ho",
        "ordine",
        "grazie",
        "buongiorno",
        "salve",
        "della",
        "è",
    },
    "cs": {
        "a",
        "je",
        "se",
        "na",
        "že",
        "jsem",
        "dobrý",
        "den",
        "moje",
        "objednávka",
        "děkuji",
        "prosím",
        "není",
        "mi",
        "s",
    },
    "de": {
        "der",
        "die",
        "das",
        "und",
        "ist",
        "nicht",
        "ich",
        "meine",
        "bestellung",
        "bitte",
        "danke",
        "mit",
        "hallo",
        "ein",
    },
}
_GREEK = re.compile(r"[\u0370-\u03ff\u1f00-\u1fff]")


def choose_locale(contact_locale: str | None, customer_locale: str | None, guessed: str | None, default: str) -> str:
    """Pick the locale: the Contact's setting, else the customer's earlier one, else the message's, else the default."""
    for candidate in (contact_locale, customer_locale, guessed):
        if candidate in SUPPORTED:
            return candidate
    return default


def guess_locale(text: str, content_language: str | None, default: str | None) -> str | None:
    """Return a supported locale from Content-Language, else from the words used, else `default`."""
    if content_language:
        tag = content_language.split(",")[0].strip().lower()[:2]
        if tag in SUPPORTED:
            return tag
    sample = text[:4000]
    if len(_GREEK.findall(sample)) > 20:
        return "el"
    words = re.findall(r"\w+", sample.lower())
    votes = {locale: sum(w in stop for w in words) for locale, stop in _STOPWORDS.items()}
    best = max(votes, key=votes.__getitem__)
    return best if votes[best] >= 2 else default
