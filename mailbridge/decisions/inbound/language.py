"""Decision: which language a customer wrote in. Pure; a small stop-word vote, no model."""

from __future__ import annotations

import re

SUPPORTED = ("en", "it", "cs", "el", "de")

_STOPWORDS = {
    "en": {
        "the",
        "and",
        "is",
        "to",
        "my",
        "i",
        "you",
        "please",
        "order",
        "have",
        "not",
        "with",
        "for",
        "of",
        "hello",
        "hi",
        "dear",
        "thanks",
        "thank",
        "it",
        "this",
        "was",
        "your",
        "yet",
    },
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
        "la",
        "del",
        "mia",
        "vorrei",
        "ancora",
        "gentile",
        "ciao",
        "saluti",
        "pacco",
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
        "kde",
        "mám",
        "ještě",
        "zboží",
        "pozdravem",
        "bych",
        "vrátit",
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
        "guten",
        "tag",
        "sehr",
        "geehrte",
        "geehrter",
        "wir",
        "sie",
        "für",
        "noch",
        "mein",
        "habe",
        "keine",
        "wurde",
        "grüßen",
        "ein",
    },
}
_GREEK = re.compile(r"[\u0370-\u03ff\u1f00-\u1fff]")


FALLBACK = "en"


def choose_locale(*preferences: str | None, default: str | None = None) -> str:
    """Return the first supported locale of `preferences`, else `default` when supported, else English.

    The one chooser of every mail's language; callers pass their preferences in this order
    (docs/configuration.md, "Languages"):

    - a customer (receipts, notices, surveys, a relayed agent answer, text modules, greeting and signature):
      the Contact's `locale`, the customer's stored locale, the guess from their mail, `[support] default_locale`;
    - an agent (notifications, notices): the agent's `locale`, the Contact's `locale`, `[support] default_locale`;
    - an outsider (a `#forward`): the Contact's `locale`, `[support] default_locale`;
    - the admin (SLA warnings): `[support] default_locale`.
    """
    for candidate in (*preferences, default):
        if candidate in SUPPORTED:
            return candidate
    return FALLBACK


def customer_locale(
    contact_locale: str | None, customer_locale: str | None, guessed: str | None, default: str | None
) -> str:
    """Pick the language of mail to a customer (see `choose_locale`)."""
    return choose_locale(contact_locale, customer_locale, guessed, default=default)


def agent_locale(agent_locale: str | None, contact_locale: str | None, default: str | None) -> str:
    """Pick the language of mail to an agent, or to an outsider (no agent locale; see `choose_locale`)."""
    return choose_locale(agent_locale, contact_locale, default=default)


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
