"""Issue 14: every shipped template of a language speaks in one register, the formal one (Lei, Sie, Vy, εσείς)."""

from __future__ import annotations

import re

import pytest

from mailbridge.decisions.outgoing.templates import SHIPPED

# Informal forms only, kept short: each one is a word no formal mail of ours needs.
INFORMAL = {
    "it": ("tuo", "tua", "tuoi", "tue", "ti", "hai", "sei", "puoi", "vuoi", "devi"),
    "de": ("du", "dich", "dir", "dein", "deine", "deinen", "deinem", "deiner"),
    "cs": ("ty", "tvůj", "tvoje", "tvá", "tvé", "máš", "jsi", "tebe", "tobě"),
    "el": ("σου", "σένα", "έχεις", "εσύ", "μπορείς"),
}
_JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.DOTALL)


def informal_words(text: str, locale: str) -> list[str]:
    """The informal forms in a template's wording (Jinja expressions left out), as whole words, any case."""
    wording = _JINJA.sub(" ", text)
    pattern = re.compile(r"\b(" + "|".join(INFORMAL[locale]) + r")\b", re.IGNORECASE)
    return pattern.findall(wording)


def shipped(locale: str) -> list:
    return sorted(SHIPPED.glob(f"*/{locale}.*.j2"))


@pytest.mark.parametrize("locale", sorted(INFORMAL))
def test_every_shipped_template_of_the_language_is_formal(locale):
    files = shipped(locale)
    assert len(files) >= 20  # every kind, text and HTML
    found = {f"{p.parent.name}/{p.name}": informal_words(p.read_text(encoding="utf-8"), locale) for p in files}
    assert {name: words for name, words in found.items() if words} == {}


@pytest.mark.parametrize(
    "locale, text",
    [
        ("it", "abbiamo ricevuto il tuo messaggio"),
        ("it", "Ti risponderemo presto"),
        ("de", "Wir haben deine Nachricht erhalten"),
        ("cs", "Máš nový tiket"),
        ("el", "λάβαμε το μήνυμά σου"),
    ],
)
def test_informal_forms_are_found(locale, text):
    assert informal_words(text, locale)


@pytest.mark.parametrize(
    "locale, text",
    [
        ("it", "abbiamo ricevuto il Suo messaggio {{ tuo }}"),
        ("de", "Wir haben Ihre Nachricht erhalten, durch Duplikate"),
        ("cs", "Vaši zprávu jsme přijali; typ tiketu"),
        ("el", "λάβαμε το μήνυμά σας"),
    ],
)
def test_formal_text_and_longer_words_pass(locale, text):
    assert informal_words(text, locale) == []
