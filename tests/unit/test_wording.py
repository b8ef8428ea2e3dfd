"""Issue 14: one locale chooser, human words instead of internal labels, and greetings the agent wrote themselves."""

from __future__ import annotations

import time

import pytest

from mailbridge.decisions.inbound.language import agent_locale, choose_locale, customer_locale
from mailbridge.decisions.outgoing.salutations import ends_with_closing, opens_with_greeting, surrounding_texts
from mailbridge.decisions.outgoing.templates import make_environment, render
from mailbridge.decisions.outgoing.wording import (
    headline_words,
    history_words,
    message_words,
    phrase,
    shown_agent_text,
    status_words,
)

LOCALES = ("en", "it", "cs", "el", "de")


def test_agent_locale_wins_over_contact_and_default():
    assert agent_locale("it", "cs", "de") == "it"


def test_agent_without_locale_gets_the_contacts_then_the_default():
    assert agent_locale(None, "cs", "de") == "cs"
    assert agent_locale(None, None, "de") == "de"


def test_unsupported_locales_fall_through_to_english():
    assert agent_locale("fr", None, "xx") == "en"
    assert choose_locale(None, "", default=None) == "en"


def test_customer_locale_order_is_contact_customer_guess_default():
    assert customer_locale("de", "cs", "it", "el") == "de"
    assert customer_locale(None, "cs", "it", "el") == "cs"
    assert customer_locale(None, None, "it", "el") == "it"
    assert customer_locale(None, None, None, "el") == "el"


def test_admin_mail_uses_the_default_locale():
    assert choose_locale(default="it") == "it"


@pytest.mark.parametrize(
    "text",
    [
        "Hi John,\nyour parcel left today.",
        "\n\n  Hello,\nthanks",
        "Dear Ms Rossi,",
        "Good morning Anna",
        "Ciao Giulia,",
        "Gentile cliente,",
        "Buongiorno,",
        "Salve,",
        "Dobrý den,\nbalík odešel.",
        "Vážená paní Nováková,",
        "Vážený pane,",
        "Ahoj Petře,",
        "Αγαπητέ κύριε Παπαδόπουλε,",
        "Καλημέρα σας,",
        "Γεια σας,",
        "Hallo Herr Maier,",
        "Guten Tag,",
        "Sehr geehrte Frau Maier,",
        "Sehr geehrter Herr Maier,",
        "Liebe Anna,",
        "DOBRÝ DEN,",
    ],
)
def test_text_opening_with_a_salutation_is_recognised(text):
    assert opens_with_greeting(text)


@pytest.mark.parametrize(
    "text",
    [
        "Your parcel left our warehouse today.",
        "Hiking boots are back in stock.",
        "Il pacco è partito oggi.\nCiao",
        "Dearly awaited item has arrived.",
        "",
        "   \n  ",
    ],
)
def test_text_without_a_salutation_on_its_first_line_is_not_a_greeting(text):
    assert not opens_with_greeting(text)


@pytest.mark.parametrize(
    "text",
    [
        "The parcel left.\n\nBest regards,\nMaria",
        "The parcel left.\nKind regards\nMaria Rossi\nShop support",
        "Il pacco è partito.\nCordiali saluti",
        "Balík odešel.\n\nS pozdravem\nMarie",
        "Το δέμα στάλθηκε.\nΜε εκτίμηση,\nΜαρία",
        "Das Paket ist unterwegs.\nMit freundlichen Grüßen\nMaria",
        "Das Paket ist unterwegs.\nFreundliche Grüsse",
    ],
)
def test_text_ending_with_a_closing_is_recognised(text):
    assert ends_with_closing(text)


@pytest.mark.parametrize(
    "text",
    ["The parcel left today.", "Best regards,\nMaria\n\nP.S. one\nline two\nline three\nline four", "Regardless of x"],
)
def test_text_without_a_closing_near_its_end_is_not_closed(text):
    assert not ends_with_closing(text)


def test_greeting_and_closing_checks_take_linear_time_on_huge_text():
    text = "Dear " + " " * 200_000 + "x\n" * 200_000 + "Best " * 100_000
    started = time.perf_counter()
    opens_with_greeting(text), ends_with_closing(text), opens_with_greeting("\n" * 500_000 + "a" * 500_000)
    assert time.perf_counter() - started < 0.5


def test_automatic_greeting_is_left_out_when_the_agent_greets():
    assert surrounding_texts("Dobrý den,\nbalík odešel.", "Vážený zákazníku,", "S pozdravem") == ("", "S pozdravem")


def test_automatic_signature_is_left_out_when_the_agent_closes():
    assert surrounding_texts("Parcel left.\nKind regards, Maria", "Dear Anna,", "Shop") == ("Dear Anna,", "")


def test_plain_text_keeps_both_automatic_texts():
    assert surrounding_texts("Parcel left.", "Dear Anna,", "Shop") == ("Dear Anna,", "Shop")


@pytest.mark.parametrize(
    "status, locale, words",
    [
        ("pending1", "it", "sospeso (1)"),
        ("waiting", "en", "waiting for the customer"),
        ("closed", "de", "geschlossen"),
        ("open", "cs", "otevřený"),
        ("new", "el", "νέο"),
        ("new", "fr", "new"),
    ],
)
def test_status_is_said_in_words_of_the_locale(status, locale, words):
    assert status_words(status, locale) == words


def test_every_locale_has_words_for_every_status_kind_and_headline():
    for locale in LOCALES:
        for status in ("new", "open", "waiting", "pending1", "pending2", "closed", "spam"):
            assert "_" not in status_words(status, locale) and status_words(status, locale)
        for kind in ("customer", "agent_reply_in", "agent_reply", "outsider_reply", "agent_note", "auto_reply"):
            assert "_" not in message_words(kind, locale)
        for key in ("new_ticket", "new_message", "assigned"):
            assert "_" not in headline_words(key, locale)


def test_message_kind_becomes_who_wrote_it():
    assert message_words("agent_reply_in", "it") == "Operatore"
    assert message_words("outsider_reply", "de") == "Externe Antwort"


def test_headline_names_the_sender_and_other_text_is_kept():
    assert headline_words("answer_from", "cs", sender="courier@parcels.example") == "Odpověď od courier@parcels.example"
    assert headline_words("Something else", "it") == "Something else"


def test_history_and_notice_phrases_are_localised():
    assert history_words(1, "2026-11-24 09:00", None, "en") == "1 message, opened 2026-11-24 09:00, unassigned"
    assert history_words(3, "2026-11-24 09:00", "maria@shop.example", "it").startswith("3 messaggi, aperto il")
    assert phrase("transferred", "de", name="Luca") == "Dieses Ticket wurde an Luca übergeben."


def test_command_lines_are_removed_from_agent_text_shown_to_others():
    text = "#forward courier@parcels.example\nCan you trace this parcel?\n#text returns\nThanks\n\n#close\n"
    assert shown_agent_text(text) == "Can you trace this parcel?\n\nThanks"


def test_a_note_is_shown_without_its_command():
    assert shown_agent_text("#note Customer called.\nWants express.") == "Customer called.\nWants express."


def test_commands_only_leave_nothing_to_show():
    assert shown_agent_text("#assign luca@shop.example\n#category Orders/Returns\n") == ""


AGENT_CONTEXT = {
    "headline": "Nuovo ticket",
    "number": "48213907751",
    "subject": "Ordine 10023",
    "status": "nuovo",
    "customer_name": "Giulia",
    "customer_email": "giulia@example.org",
    "history_line": "1 messaggio",
    "shop": None,
    "attachments": ["foto.jpg"],
    "text": "Buongiorno",
    "thread": [],
    "text_modules": [],
    "actions": [],
    "line": "Linea",
    "comment": "Commento",
    "agent_name": "Maria",
    "greeting": "",
    "signature": "",
    "reference_line": "Ticket: [#48213907751]",
    "customer": "giulia@example.org",
    "contact": "Customer service",
    "breached": True,
    "created_at": "2026-11-24 09:00",
    "due_at": "2026-11-24T17:00",
    "hours": "8",
}


@pytest.mark.parametrize("kind", ["agent_notification", "agent_notice", "agent_forward", "agent_reply", "sla_warning"])
@pytest.mark.parametrize("locale", LOCALES)
def test_every_agent_facing_template_exists_and_renders_in_every_locale(kind, locale):
    environment = make_environment()
    for part in ("txt", "html"):
        assert environment.get_template(f"{kind}/{locale}.{part}.j2") is not None
    mail = render(environment, kind, locale, AGENT_CONTEXT)
    assert "48213907751" in mail.text and "48213907751" in mail.html


@pytest.mark.parametrize("locale", LOCALES)
def test_agent_notification_footer_lists_every_command_and_the_configured_actions(locale):
    context = {**AGENT_CONTEXT, "actions": ["return", "escalate"]}
    mail = render(make_environment(), "agent_notification", locale, context)
    for part in (mail.text, mail.html):
        for command in ("#close", "#assign", "#forward", "#text", "#cc add|remove", "#merge", "#cancel", "#send"):
            assert command in part
        assert "#send #return #escalate" in part
    bare = render(make_environment(), "agent_notification", locale, AGENT_CONTEXT)
    assert "#send\n" in bare.text and "#return" not in bare.text
