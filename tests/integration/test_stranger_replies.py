"""Agents answer from the mail clients they really use (Dovecot in, the SMTP sink out): Outlook desktop in three
languages and HTML only, Gmail in five, Apple Mail on the iPhone, Thunderbird, neomutt with format=flowed and a
signature, quoted-printable and base64 bodies. The customer gets exactly one mail with the agent's new text only,
threaded and from the support address; a command in the new text runs once, a command in the quote never does.
"""

from __future__ import annotations

import base64
import html
import json
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

import pytest
from sqlmodel import Session, select

from mailbridge.base.clock import FixedClock
from mailbridge.store import agents, db
from mailbridge.store.models import Message
from tests.conftest import SUPPORT_USER, customer_mail, run_cli
from tests.integration.test_agents import (
    CUSTOMER,
    LUCA,
    MARIA,
    NEW_TEXT,
    QUOTED_BODY,
    deliver,
    mails,
    notification_for,
    reply_to_of,
    text_of,
    the_ticket,
)

ATTRIBUTION_NAME = "Anna Rossi via Shop support"
WHEN = "Tuesday, December 3, 2026 10:02 AM"
# What the notification says around the customer's text, none of which the customer may see again.
NOTIFICATION_WORDS = ("Reply to this mail", "Commands on the first lines", "Text modules:", "Status: new")
# Quote headers and client marks, none of which the customer may see.
CLIENT_WORDS = (
    "wrote:",
    "schrieb",
    "a écrit",
    "ha scritto",
    "napsal",
    "Original Message",
    "Sent from my iPhone",
    "appendonsend",
    "Gesendet:",
    "Inviato:",
    "[2026-12-03 10:02]",
    "Maria's desk",
)
# The agent's own signature under "-- " (the Contact's signature is the customer's).
AGENT_SIGNATURE = "Maria's desk, Shop support, ext. 42"


@pytest.fixture
def desk(make_app, clock, dovecot, sink, mailbox):
    """Agents Maria and Luca in "Customer service" and one customer ticket, answers relayed at once."""
    app = make_app()
    with db.transaction(app.engine) as session:
        for address, name in ((MARIA, "Maria Rossi"), (LUCA, "Luca Bianchi")):
            agents.add_agent(
                session=session, email=address, name=name, locale=None, contacts=["Customer service"], now=clock.now()
            )
    deliver(app, dovecot, mailbox, customer_mail())
    return app


def quoted(text: str, mark: str = "> ") -> str:
    """The text as a client quotes it: each line behind `mark`, empty lines behind the bare marker."""
    return "\n".join(mark + line if line else mark.rstrip() for line in text.splitlines())


def outlook_block(fields: tuple[str, str, str, str], notification: EmailMessage) -> str:
    """Outlook's header block over the quoted notification (not marked with ">")."""
    sender, sent, to, subject = fields
    return (
        f"{sender}: {ATTRIBUTION_NAME} <{SUPPORT_USER}>\n{sent}: {WHEN}\n{to}: Maria Rossi <{MARIA}>\n"
        f"{subject}: {notification['Subject']}\n\n{text_of(notification)}"
    )


def notification_html(notification: EmailMessage) -> str:
    return notification.get_body(("html",)).get_content()


def reply_mail(
    notification: EmailMessage,
    *,
    text: str | None = None,
    html_body: str | None = None,
    encoding: str | None = None,
    flowed: bool = False,
    subject_prefix: str = "Re: ",
) -> bytes:
    """Maria's reply to the notification as her client writes it: plain text, HTML, or both (multipart/alternative);
    `encoding` forces the text part's transfer encoding; `flowed` marks it format=flowed (RFC 3676)."""
    message = EmailMessage()
    message["From"] = f"Maria Rossi <{MARIA}>"
    message["To"] = reply_to_of(notification)
    message["Subject"] = subject_prefix + notification["Subject"]
    message["Date"] = format_datetime(FixedClock().now())
    message["Message-ID"] = make_msgid(domain="shop.example")
    message["In-Reply-To"] = notification["Message-ID"]
    message["References"] = notification["Message-ID"]
    if text is not None:
        message.set_content(text, cte=encoding) if encoding else message.set_content(text)
        if flowed:
            message.set_param("format", "flowed")
    if html_body is not None:
        if text is None:
            message.set_content(html_body, subtype="html")
        else:
            message.add_alternative(html_body, subtype="html")
    return message.as_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def send_reply(desk, dovecot, mailbox, sink, build) -> int:
    """Deliver Maria's reply built from her notification by `build`; return how many mails were sent before it."""
    notification = notification_for(sink, MARIA)
    before = len(sink.messages)
    deliver(desk, dovecot, mailbox, build(notification))
    return before


def ticket_json(desk, config_file) -> dict:
    shown = run_cli("tickets", "show", the_ticket(desk).number, "--json", config=config_file(), clock=desk.clock)
    assert shown.returncode == 0, shown.stderr
    return json.loads(shown.stdout)


def the_one_answer(desk, sink, before: int, *, expected: str = NEW_TEXT, closes: bool = False) -> EmailMessage:
    """The one answer the customer got since `before`: the new text only, from us, threaded to their message;
    besides it only Luca's line that Maria took the ticket and, when the reply `closes` it, the survey."""
    new = mails(sink)[before:]
    to_customer = [m for m in new if CUSTOMER in {a.addr_spec for a in m["To"].addresses} and not m["Auto-Submitted"]]
    assert len(to_customer) == 1, [text_of(m) for m in to_customer]
    [answer] = to_customer
    body = text_of(answer)
    assert expected in body
    assert QUOTED_BODY not in body, body
    for words in (*NOTIFICATION_WORDS, *CLIENT_WORDS, AGENT_SIGNATURE, "#close", "#spam", "#pending1", "#cc"):
        assert words not in body, (words, body)
    assert answer["From"].addresses[0].addr_spec == SUPPORT_USER and answer["Auto-Submitted"] is None
    with Session(desk.engine) as session:
        first = session.exec(select(Message).where(Message.kind == "customer")).first()
    assert answer["In-Reply-To"] == first.message_id and first.message_id in answer["References"]
    # No problem line to Maria, nothing else to the customer.
    others = sorted((m["To"].addresses[0].addr_spec, m["Auto-Submitted"]) for m in new if m is not answer)
    assert others == sorted([(LUCA, "auto-generated")] + ([(CUSTOMER, "auto-generated")] if closes else []))
    assert "took ticket" in text_of(next(m for m in new if m["To"].addresses[0].addr_spec == LUCA))
    return answer


def gmail_header(line: str, notification: EmailMessage) -> str:
    return f"{line}\n\n{quoted(text_of(notification))}\n"


def gmail_html(new: str, attribution: str, notification: EmailMessage) -> str:
    return (
        f'<div dir="ltr">{html.escape(new)}</div><br><div class="gmail_quote"><div dir="ltr" class="gmail_attr">'
        f'{html.escape(attribution)}<br></div><blockquote class="gmail_quote" style="margin:0px 0px 0px 0.8ex;'
        f'border-left:1px solid rgb(204,204,204);padding-left:1ex">{notification_html(notification)}</blockquote></div>'
    )


ADDRESS = f"{ATTRIBUTION_NAME} <support+a.x@shop.example>"
GMAIL_ATTRIBUTIONS = {
    "en": f"On Tue, 3 Dec 2026 at 10:02, {ADDRESS} wrote:",
    "de": f"Am Di., 3. Dez. 2026 um 10:02 Uhr schrieb {ADDRESS}:",
    "fr": f"Le mar. 3 déc. 2026 à 10:02, {ADDRESS} a écrit :",
    "it": f"Il giorno mar 3 dic 2026 alle ore 10:02 {ADDRESS} ha scritto:",
    "cs": f"Dne út 3. 12. 2026 v 10:02 {ADDRESS} napsal(a):",
}


@pytest.mark.parametrize("language", sorted(GMAIL_ATTRIBUTIONS))
def test_gmail_reply_in_each_language_relays_the_new_text_only(desk, dovecot, mailbox, sink, config_file, language):
    attribution = GMAIL_ATTRIBUTIONS[language]
    before = send_reply(
        desk,
        dovecot,
        mailbox,
        sink,
        lambda n: reply_mail(
            n, text=f"{NEW_TEXT}\n\n" + gmail_header(attribution, n), html_body=gmail_html(NEW_TEXT, attribution, n)
        ),
    )
    the_one_answer(desk, sink, before)
    shown = ticket_json(desk, config_file)
    assert shown["status"] == "waiting" and shown["assigned_agent"] == MARIA


def status_changes(shown: dict, status: str) -> int:
    return sum(1 for e in shown["events"] if e["new_status"] == status)


def test_gmail_attribution_wrapped_over_two_lines_is_cut(desk, dovecot, mailbox, sink, config_file):
    # Gmail's plain text part breaks a long attribution before the address.
    wrapped = (
        f"On Tue, 3 Dec 2026 at 10:02, {ATTRIBUTION_NAME} <\nsupport+a.b.t7l.b.5gcoj5guv7jsplal@shop.example> wrote:"
    )
    before = send_reply(
        desk, dovecot, mailbox, sink, lambda n: reply_mail(n, text=f"{NEW_TEXT}\n\n" + gmail_header(wrapped, n))
    )
    the_one_answer(desk, sink, before)
    assert ticket_json(desk, config_file)["status"] == "waiting"


OUTLOOK_FIELDS = {
    "en": ("From", "Sent", "To", "Subject"),
    "de": ("Von", "Gesendet", "An", "Betreff"),
    "it": ("Da", "Inviato", "A", "Oggetto"),
}


@pytest.mark.parametrize("language", sorted(OUTLOOK_FIELDS))
def test_outlook_top_posted_reply_with_its_header_block_relays_the_new_text_only(
    desk, dovecot, mailbox, sink, config_file, language
):
    fields = OUTLOOK_FIELDS[language]
    before = send_reply(
        desk,
        dovecot,
        mailbox,
        sink,
        lambda n: reply_mail(n, text=f"{NEW_TEXT}\n\n{outlook_block(fields, n)}", subject_prefix="AW: "),
    )
    the_one_answer(desk, sink, before)
    shown = ticket_json(desk, config_file)
    assert shown["status"] == "waiting" and status_changes(shown, "closed") == 0


def test_outlook_original_message_separator_with_close_on_the_first_line(desk, dovecot, mailbox, sink, config_file):
    def build(n):
        block = outlook_block(OUTLOOK_FIELDS["en"], n)
        return reply_mail(n, text=f"#close\n{NEW_TEXT}\n\n-----Original Message-----\n{block}")

    before = send_reply(desk, dovecot, mailbox, sink, build)
    the_one_answer(desk, sink, before, closes=True)
    shown = ticket_json(desk, config_file)
    assert shown["status"] == "closed" and status_changes(shown, "closed") == 1


def test_german_outlook_close_as_the_last_line_above_the_quote(desk, dovecot, mailbox, sink, config_file):
    def build(n):
        block = outlook_block(OUTLOOK_FIELDS["de"], n)
        return reply_mail(n, text=f"Guten Tag,\n\n{NEW_TEXT}\n\nViele Grüße\nMaria\n\n#close\n\n{block}")

    before = send_reply(desk, dovecot, mailbox, sink, build)
    answer = the_one_answer(desk, sink, before, closes=True)
    assert "Viele Grüße\nMaria" in text_of(answer).replace("\r\n", "\n")
    shown = ticket_json(desk, config_file)
    assert shown["status"] == "closed" and status_changes(shown, "closed") == 1


def outlook_html(new_lines: list[str], quote_start: str, notification: EmailMessage, fields) -> str:
    """Outlook's HTML-only reply: the new text in divs, then the quote (`quote_start` opens its wrapper)."""
    sender, sent, to, subject = fields
    new = "".join(f'<div style="font-family:Calibri;font-size:12pt">{html.escape(line)}</div>' for line in new_lines)
    header = (
        f"<b>{sender}:</b> {html.escape(ATTRIBUTION_NAME)} &lt;{SUPPORT_USER}&gt;<br><b>{sent}:</b> {WHEN}<br>"
        f"<b>{to}:</b> Maria Rossi &lt;{MARIA}&gt;<br><b>{subject}:</b> {html.escape(notification['Subject'])}"
    )
    return (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8"></head><body dir="ltr">'
        f'{new}{quote_start}<div id="divRplyFwdMsg" dir="ltr"><font face="Calibri, sans-serif">{header}</font>'
        f"<div>&nbsp;</div></div><div>{notification_html(notification)}</div></body></html>"
    )


APPENDONSEND = '<div id="appendonsend"></div><hr style="display:inline-block;width:98%" tabindex="-1">'
BORDER_TOP = '<div style="border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm"></div>'


@pytest.mark.parametrize(
    "quote_start,language,command,status",
    [
        (APPENDONSEND, "en", "#close", "closed"),
        (BORDER_TOP, "de", "", "waiting"),
        (APPENDONSEND, "it", "#pending1", "pending1"),
    ],
    ids=["appendonsend-close", "border-top-de", "appendonsend-it-pending1"],
)
def test_outlook_html_only_reply_relays_the_new_text_only(
    desk, dovecot, mailbox, sink, config_file, quote_start, language, command, status
):
    lines = [NEW_TEXT, command] if command else [NEW_TEXT]
    before = send_reply(
        desk,
        dovecot,
        mailbox,
        sink,
        lambda n: reply_mail(n, html_body=outlook_html(lines, quote_start, n, OUTLOOK_FIELDS[language])),
    )
    the_one_answer(desk, sink, before, closes=status == "closed")
    shown = ticket_json(desk, config_file)
    assert shown["status"] == status and status_changes(shown, "closed") == (1 if status == "closed" else 0)


def test_html_only_reply_with_the_notification_in_a_blockquote(desk, dovecot, mailbox, sink, config_file):
    def build(n):
        body = (
            f'<html><body><p>{html.escape(NEW_TEXT)}</p><p>#close</p><blockquote style="border-left:2px solid">'
            f"<div><b>From:</b> {html.escape(ATTRIBUTION_NAME)}</div>{notification_html(n)}</blockquote></body></html>"
        )
        return reply_mail(n, html_body=body)

    before = send_reply(desk, dovecot, mailbox, sink, build)
    the_one_answer(desk, sink, before, closes=True)
    assert ticket_json(desk, config_file)["status"] == "closed"


def test_iphone_reply_quoted_printable_with_close_above_its_signature(desk, dovecot, mailbox, sink, config_file):
    def build(n):
        attribution = f"On 3 Dec 2026, at 10:02, {ADDRESS} wrote:"
        text = f"{NEW_TEXT}\n\n#close\n\nSent from my iPhone\n\n> {attribution}\n>\n{quoted(text_of(n))}\n"
        return reply_mail(n, text=text, encoding="quoted-printable")

    before = send_reply(desk, dovecot, mailbox, sink, build)
    the_one_answer(desk, sink, before, closes=True)
    shown = ticket_json(desk, config_file)
    assert shown["status"] == "closed" and status_changes(shown, "closed") == 1


def test_thunderbird_flowed_reply_relays_the_new_text_only(desk, dovecot, mailbox, sink, config_file):
    def build(n):
        text = f"{NEW_TEXT}\n\nOn 03.12.26 10:02, {ATTRIBUTION_NAME} wrote:\n{quoted(text_of(n), '>')}\n"
        return reply_mail(n, text=text, flowed=True)

    before = send_reply(desk, dovecot, mailbox, sink, build)
    the_one_answer(desk, sink, before)
    assert ticket_json(desk, config_file)["status"] == "waiting"


LONG_ANSWER = (
    "Dear Anna, we found your parcel at the depot in Verona: it was held there because the label was damaged in "
    "transit. It leaves again today with the new tracking number TR-5581 and should reach you on Friday."
)


def soft_wrapped(paragraph: str, width: int = 72) -> str:
    """The paragraph as a format=flowed client sends it: lines of up to `width`, each but the last ending in a space."""
    lines, line = [], ""
    for word in paragraph.split(" "):
        if line and len(line) + len(word) >= width:
            lines.append(line)
            line = ""
        line += word + " "
    return "\n".join([*lines, line.rstrip(" ")])


def test_thunderbird_flowed_paragraph_reaches_the_customer_unwrapped(desk, dovecot, mailbox, sink, config_file):
    # RFC 3676: the soft breaks Thunderbird put in the paragraph and in its wrapped quote header are undone, so the
    # customer reads one paragraph (not lines cut at 72 characters, ragged on a phone) and the quote is still cut.
    def build(n):
        header = soft_wrapped(f"On 03.12.26 10:02, {ATTRIBUTION_NAME} <{reply_to_of(n)}> wrote:", width=40)
        text = f"{soft_wrapped(LONG_ANSWER)}\n\n{header}\n{quoted(text_of(n), '>')}\n"
        assert "\n" in soft_wrapped(LONG_ANSWER) and "\n" in header
        return reply_mail(n, text=text, flowed=True)

    before = send_reply(desk, dovecot, mailbox, sink, build)
    answer = the_one_answer(desk, sink, before, expected=LONG_ANSWER)
    assert ATTRIBUTION_NAME not in text_of(answer)


def test_neomutt_reply_with_its_attribution_and_signature_relays_the_new_text_only(
    desk, dovecot, mailbox, sink, config_file
):
    def build(n):
        attribution = f"* {ATTRIBUTION_NAME} <{reply_to_of(n)}> [2026-12-03 10:02]:"
        text = f"{NEW_TEXT}\n\n{attribution}\n{quoted(text_of(n))}\n\n-- \n{AGENT_SIGNATURE}\n"
        return reply_mail(n, text=text, flowed=True)

    before = send_reply(desk, dovecot, mailbox, sink, build)
    the_one_answer(desk, sink, before)
    assert ticket_json(desk, config_file)["status"] == "waiting"


def test_neomutt_bottom_posted_reply_with_close_after_the_quote(desk, dovecot, mailbox, sink, config_file):
    def build(n):
        attribution = f"* {ATTRIBUTION_NAME} <{reply_to_of(n)}> [2026-12-03 10:02]:"
        text = f"{attribution}\n{quoted(text_of(n))}\n\n{NEW_TEXT}\n\n#close\n\n-- \n{AGENT_SIGNATURE}\n"
        return reply_mail(n, text=text)

    before = send_reply(desk, dovecot, mailbox, sink, build)
    the_one_answer(desk, sink, before, closes=True)
    shown = ticket_json(desk, config_file)
    assert shown["status"] == "closed" and status_changes(shown, "closed") == 1


CZECH_TEXT = "Dobrý den, balík jsme dnes odeslali, číslo zásilky TR-5581. Děkujeme za trpělivost."


def encoded(raw: bytes, encoding: bytes, sample: bytes) -> bytes:
    """The raw reply, checked to travel in `encoding` with `sample` of its text encoded so."""
    assert b"Content-Transfer-Encoding: " + encoding in raw and sample in raw
    return raw


def test_base64_utf8_reply_in_czech_with_the_command_first(desk, dovecot, mailbox, sink, config_file):
    def build(n):
        text = f"#pending2\n{CZECH_TEXT}\n\n" + gmail_header(GMAIL_ATTRIBUTIONS["cs"], n)
        return encoded(reply_mail(n, text=text, encoding="base64"), b"base64", base64.b64encode(b"#pending2\nDo"))

    before = send_reply(desk, dovecot, mailbox, sink, build)
    the_one_answer(desk, sink, before, expected=CZECH_TEXT)
    shown = ticket_json(desk, config_file)
    assert shown["status"] == "pending2" and status_changes(shown, "pending2") == 1


def test_quoted_printable_german_reply_keeps_its_umlauts(desk, dovecot, mailbox, sink, config_file):
    german = "Grüße aus München: Ihr Paket ist unterwegs, die Sendungsnummer lautet TR-5581. Schöne Woche!"

    def build(n):
        text = f"{german}\n\n" + gmail_header(GMAIL_ATTRIBUTIONS["de"], n)
        return encoded(reply_mail(n, text=text, encoding="quoted-printable"), b"quoted-printable", b"Gr=C3=BC=C3=9Fe")

    before = send_reply(desk, dovecot, mailbox, sink, build)
    the_one_answer(desk, sink, before, expected=german)
    assert ticket_json(desk, config_file)["status"] == "waiting"


def footer_commands_quoted(n: EmailMessage) -> str:
    """The notification quoted back, its footer's command lines with it, plus an earlier answer's commands quoted."""
    return f"> #spam\n> #close\n> #assign {LUCA}\n>\n{quoted(text_of(n))}"


@pytest.mark.parametrize("mark", ["> ", ">"], ids=["gmail", "thunderbird"])
def test_commands_in_the_quote_do_not_run(desk, dovecot, mailbox, sink, config_file, mark):
    def build(n):
        attribution = f"On 03.12.26 10:02, {ATTRIBUTION_NAME} wrote:"
        quote = footer_commands_quoted(n).replace("> ", mark)
        return reply_mail(n, text=f"{NEW_TEXT}\n\n{attribution}\n{quote}\n")

    before = send_reply(desk, dovecot, mailbox, sink, build)
    the_one_answer(desk, sink, before)
    shown = ticket_json(desk, config_file)
    assert shown["status"] == "waiting" and shown["assigned_agent"] == MARIA
    assert not any(e["new_status"] in ("spam", "closed") for e in shown["events"])


def test_commands_in_an_outlook_quote_without_markers_do_not_run(desk, dovecot, mailbox, sink, config_file):
    def build(n):
        block = outlook_block(OUTLOOK_FIELDS["en"], n)
        return reply_mail(n, text=f"{NEW_TEXT}\n\n{block}\n#spam\n#close\n")

    before = send_reply(desk, dovecot, mailbox, sink, build)
    the_one_answer(desk, sink, before)
    shown = ticket_json(desk, config_file)
    assert shown["status"] == "waiting" and not any(e["new_status"] in ("spam", "closed") for e in shown["events"])


def test_cc_command_in_the_new_text_runs_once(desk, dovecot, mailbox, sink, config_file):
    def build(n):
        text = f"#cc add Lisa Maier <lisa@example.de>\n{NEW_TEXT}\n\n" + gmail_header(GMAIL_ATTRIBUTIONS["en"], n)
        return reply_mail(n, text=text)

    before = send_reply(desk, dovecot, mailbox, sink, build)
    answer = the_one_answer(desk, sink, before)
    assert [a.addr_spec for a in answer["Cc"].addresses] == ["lisa@example.de"]
    shown = ticket_json(desk, config_file)
    assert [(p["email"], p["removed"]) for p in shown["participants"]] == [("lisa@example.de", False)]
