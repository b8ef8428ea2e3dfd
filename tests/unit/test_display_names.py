"""Display names (issue 16): bounded, cleaned, never a link, changed only by authenticated mail, and the greetings'
neutral form when nothing safe is left."""

from __future__ import annotations

from datetime import datetime

import pytest

from mailbridge.base.config.settings import SupportSettings
from mailbridge.cli.setup.templates_cmd import SAMPLE
from mailbridge.decisions.inbound.names import (
    MAX_NAME_CHARS,
    name_is_authenticated,
    next_display_name,
    safe_display_name,
)
from mailbridge.decisions.kinds import MailKind
from mailbridge.decisions.outgoing.compose import compose, mail_bytes
from mailbridge.decisions.outgoing.drafts import notice_draft
from mailbridge.decisions.outgoing.templates import SHIPPED, make_environment, render
from tests.unit.test_linear_time import MB, timed


@pytest.mark.parametrize(
    "raw, shown",
    [
        ("Anna Rossi", "Anna Rossi"),
        ("  Anna \t\r\n  Rossi  ", "Anna Rossi"),
        ("J.R.R. Tolkien", "J.R.R. Tolkien"),
        ("Zoë Łukasiewicz-Nováková", "Zoë Łukasiewicz-Nováková"),
        ("Παναγιώτης Δημητρίου", "Παναγιώτης Δημητρίου"),
        ("محمد\u200cرضا", "محمد\u200cرضا"),  # the zero-width non-joiner spells Persian names
        ("O'Brien, Seán (Sales)", "O'Brien, Seán (Sales)"),
        (None, ""),
        ("", ""),
    ],
)
def test_ordinary_names_are_kept(raw, shown):
    assert safe_display_name(raw) == shown


@pytest.mark.parametrize(
    "raw, shown",
    [
        ("Anna\x1b]0;pwned\x07 Rossi", "Anna ]0;pwned Rossi"),
        ("Anna\x1b[2J Rossi", "Anna [2J Rossi"),
        ("Anna\x00Rossi", "Anna Rossi"),
        ("Anna\u2028Rossi", "Anna Rossi"),
        ("Anna \u202eissoR\u202c", "Anna issoR"),  # right-to-left override
        ("\u2066Anna\u2069 \u200bRossi\ufeff", "Anna Rossi"),  # isolates, zero-width space, BOM
        ("Anna\u00adRossi", "AnnaRossi"),  # soft hyphen
    ],
)
def test_control_and_bidi_characters_are_removed(raw, shown):
    assert safe_display_name(raw) == shown


@pytest.mark.parametrize(
    "raw",
    [
        "http://evil.example/refund",
        "HTTPS refund portal",
        "Visit www.evil-refunds now",
        "Claim at evil.com",
        "Refund desk (shop-refunds.support)",
        "anna@example.org",
        "Anna ＠ example",  # a full-width at sign
        "Claim at ｅｖｉｌ．ｃｏｍ",  # full-width letters and dot
        "пример.рф support",
        "evil。com",  # the ideographic full stop, a dot to IDNA
        "Call 10.0.0.1",
        "ftp://files",
    ],
)
def test_names_that_look_like_links_give_nothing(raw):
    assert safe_display_name(raw) == ""


def test_long_name_is_cut_at_a_word():
    name = safe_display_name("Dear customer your account is locked please call us at once or it will be closed")
    assert len(name) <= MAX_NAME_CHARS
    assert name == "Dear customer your account is locked please call us at once or"


def test_long_name_without_spaces_is_cut_at_the_limit():
    assert safe_display_name("A" * 500) == "A" * MAX_NAME_CHARS


def test_stacked_combining_marks_are_capped():
    # NFC first joins Z and one acute into Ź; four more marks stay on it.
    assert safe_display_name("Z" + "\u0301" * 100 + "oe") == "\u0179" + "\u0301" * 4 + "oe"


def test_megabyte_name_finishes_in_bounded_time():
    assert timed(1, safe_display_name, "a " * MB) == ("a " * 32).strip()
    assert timed(1, safe_display_name, "\u202e" * MB) == ""


def test_first_safe_name_is_kept_against_unauthenticated_mail():
    assert next_display_name("Anna Rossi", "Refund desk", authenticated=False) == "Anna Rossi"


def test_authenticated_mail_changes_the_name():
    assert next_display_name("Refund desk", "Anna Rossi", authenticated=True) == "Anna Rossi"


def test_unsafe_offer_never_replaces_a_name():
    assert next_display_name("Anna Rossi", "Claim at evil.com", authenticated=True) == "Anna Rossi"


def test_empty_name_takes_the_first_safe_offer():
    assert next_display_name("", "Anna Rossi", authenticated=False) == "Anna Rossi"
    assert next_display_name("", "evil.com", authenticated=False) == ""


def test_unsafe_stored_name_is_cleaned_or_replaced():
    # Rows stored before the rule: a link-like name is dropped, so the first safe offer takes its place.
    assert next_display_name("Claim at evil.com", "", authenticated=False) == ""
    assert next_display_name("Claim at evil.com", "Anna Rossi", authenticated=False) == "Anna Rossi"


def _raw(*results: str, sender: str = "anna@example.org") -> bytes:
    lines = [f"Authentication-Results: {r}" for r in results]
    return ("\r\n".join([*lines, f"From: Anna <{sender}>", "Subject: hi", "", "body", ""])).encode()


def test_dmarc_pass_from_our_server_authenticates():
    raw = _raw("mx.shop.example; dmarc=pass header.from=example.org")
    assert name_is_authenticated(raw, "anna@example.org", "mx.shop.example")


def test_aligned_dkim_pass_authenticates():
    raw = _raw("mx.shop.example; dkim=pass header.d=example.org")
    assert name_is_authenticated(raw, "anna@example.org", "mx.shop.example")


def test_pass_written_by_another_server_does_not_authenticate():
    raw = _raw("mx.evil.example; dmarc=pass header.from=example.org")
    assert not name_is_authenticated(raw, "anna@example.org", "mx.shop.example")


def test_pass_for_another_domain_does_not_authenticate():
    raw = _raw("mx.shop.example; dkim=pass header.d=evil.example")
    assert not name_is_authenticated(raw, "anna@example.org", "mx.shop.example")


def test_failure_beside_a_pass_does_not_authenticate():
    raw = _raw("mx.shop.example; dkim=pass header.d=example.org; dmarc=fail header.from=example.org")
    assert not name_is_authenticated(raw, "anna@example.org", "mx.shop.example")


def test_without_authserv_id_nothing_authenticates():
    raw = _raw("mx.shop.example; dmarc=pass header.from=example.org")
    assert not name_is_authenticated(raw, "anna@example.org", None)
    assert not name_is_authenticated(raw, None, "mx.shop.example")


GREETINGS = ("receipt", "handling_started", "survey", "survey_thanks", "auto_closed")
LOCALES = sorted({p.name.split(".")[0] for kind in GREETINGS for p in (SHIPPED / kind).glob("*.txt.j2")})


@pytest.mark.parametrize("kind", GREETINGS)
@pytest.mark.parametrize("locale", LOCALES)
def test_greeting_without_a_name_is_the_neutral_form(kind, locale):
    mail = render(make_environment(), kind, locale, {**SAMPLE, "days": 5, "customer_name": ""})
    first = mail.text.splitlines()[0]
    assert first.endswith(",") and not first.endswith(" ,") and "  " not in first, first
    assert " ,<" not in mail.html and "None" not in mail.text


class _Ticket:
    id = 7
    number = "48213907751"
    subject = "Order 1234"
    created_at = datetime(2026, 11, 24, 9, 0)


class _Customer:
    name = "Refund desk: visit evil.com\x1b[2J"
    email = "anna@example.org"


def test_receipt_to_a_customer_stored_with_a_link_name_greets_neutrally():
    support = SupportSettings(
        from_name="Shop support",
        from_address="support@shop.example",
        ticket_subject_format="[#{number}] {subject}",
        default_locale="en",
    )
    draft = notice_draft(
        MailKind.RECEIPT,
        ticket=_Ticket(),
        customer=_Customer(),
        contact=None,
        locale="en",
        support=support,
        templates=make_environment(),
        instance_id="test",
        in_reply_to=None,
        references=(),
    )
    assert draft.to_name == "" and draft.body.text.startswith("Hello there,")
    sent = mail_bytes(compose(draft, "<mb.0@shop.example>", datetime(2026, 11, 24, 9, 0)))
    assert b"evil" not in sent and b"\x1b" not in sent
