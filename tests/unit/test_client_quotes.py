"""Quote stripping of agents' replies as mutt, neomutt and HTML-only mail programs write them (the stranger replies of
tests/integration/test_stranger_replies.py, pure): the attribution "* Name <address> [date time]:", a "-- "
signature under the quote, and the <blockquote> of an HTML-only mail."""

from __future__ import annotations

import time
from email.message import EmailMessage

import pytest

from mailbridge.decisions.agent_commands import parse_agent_reply
from mailbridge.decisions.inbound.parse import parse_message
from mailbridge.decisions.inbound.reply_text import strip_message, strip_reply

ANSWER = "Your parcel left our warehouse today; tracking number TR-5581."
ATTRIBUTION = "* Shop support <support+a.x@shop.example> [2026-12-03 10:02]:"
QUOTE = "> New ticket: [#12345678901] Order 1234 not arrived\n>\n> Hello, my order has not arrived yet.\n>\n> #close #waiting\n"
SIGNATURE = "-- \nMaria Rossi\nShop support, ext. 42\n"


@pytest.mark.parametrize(
    "attribution",
    [
        ATTRIBUTION,
        "* Shop support <support@shop.example> [2026-12-03 10:02:33 +0100]:",
        "* Anna Rossi [03.12.2026 10:02]:",
        "> * Shop support <support@shop.example> [2026-12-03 10:02]:",
    ],
)
def test_mutt_attribution_and_its_quote_are_cut(attribution):
    assert strip_reply(f"{ANSWER}\n\n{attribution}\n{QUOTE}") == ANSWER


def test_signature_under_the_quote_takes_the_quote_with_it():
    # Without the attribution known, the quote between the answer and the signature still goes.
    mail = f"{ANSWER}\n\nShop support wrote at some point\n{QUOTE}\n{SIGNATURE}"
    assert strip_reply(mail) == f"{ANSWER}\n\nShop support wrote at some point"
    assert strip_reply(f"{ANSWER}\n\n{ATTRIBUTION}\n{QUOTE}\n{SIGNATURE}") == ANSWER


def test_answer_under_a_mutt_attribution_keeps_its_trailing_command():
    stripped = strip_reply(f"{ATTRIBUTION}\n{QUOTE}\n{ANSWER}\n\n#close\n\n{SIGNATURE}")
    assert stripped == f"{ANSWER}\n\n#close"
    reply = parse_agent_reply(stripped)
    assert [c.name for c in reply.commands] == ["close"] and reply.body == ANSWER


def test_star_lines_that_are_no_attribution_are_kept():
    text = f"{ANSWER}\n* Step 1 [optional]:\n* Order [10:02 slot] is booked"
    assert strip_reply(text) == text


def html_only(html: str) -> bytes:
    message = EmailMessage()
    message["From"] = "Maria Rossi <maria@shop.example>"
    message["To"] = "support+a.x@shop.example"
    message["Subject"] = "Re: [#12345678901] Order 1234 not arrived"
    message.set_content(html, subtype="html")
    return message.as_bytes()


def test_html_only_mail_loses_its_blockquote_and_keeps_its_command():
    html = (
        f'<p>{ANSWER}</p><p>#close</p><blockquote type="cite"><div><b>From:</b> Shop support</div>'
        "<p>Hello, my order has not arrived yet.</p><p>#close #waiting #open</p></blockquote>"
    )
    parsed = parse_message(html_only(html))
    assert parsed.text_from_html and "Hello, my order" in parsed.text_body
    stripped = strip_message(parsed)
    assert "Hello, my order" not in stripped
    reply = parse_agent_reply(stripped)
    assert [c.name for c in reply.commands] == ["close"] and reply.body == ANSWER


def test_mail_with_a_text_part_is_stripped_from_its_text():
    message = EmailMessage()
    message.set_content(f"{ANSWER}\n\n{ATTRIBUTION}\n{QUOTE}")
    message.add_alternative(f"<p>{ANSWER}</p><blockquote>quoted</blockquote>", subtype="html")
    parsed = parse_message(message.as_bytes())
    assert not parsed.text_from_html and strip_message(parsed) == ANSWER


def test_hostile_mutt_attribution_lines_strip_in_linear_time():
    # Lines that start like the attribution and never complete it: a name without its bracket, a bracket with
    # times and no closing "]:"; a quarter megabyte of each.
    for line in ("* " + "x " * 150, "* x [" + "10:00 " * 7, "* " + "[10:00]" * 40, "* x [10:00]" + ":" * 300):
        text = "Hi\n" + (line + "\n") * (250_000 // (len(line) + 1))
        start = time.perf_counter()
        stripped = strip_reply(text)
        assert time.perf_counter() - start < 10, line[:20]
        assert stripped.startswith("Hi")
