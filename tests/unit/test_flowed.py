"""format=flowed text (RFC 3676) read back as typed: decisions.inbound.flowed.unflow, and the parser using it."""

from __future__ import annotations

import time

from mailbridge.decisions.inbound.flowed import unflow
from mailbridge.decisions.inbound.parse import parse_message
from mailbridge.decisions.inbound.reply_text import strip_message

THUNDERBIRD = (
    "Hello Anna, we sent your parcel today with the tracking number \r\n"
    "TR-5581; it should reach you on Friday.\r\n"
    "\r\n"
    "Kind regards\r\n"
    "Marco\r\n"
)


def test_soft_breaks_are_joined_and_hard_breaks_kept():
    assert unflow(THUNDERBIRD) == (
        "Hello Anna, we sent your parcel today with the tracking number TR-5581; it should reach you on Friday.\n"
        "\nKind regards\nMarco\n"
    )


def test_delsp_yes_drops_the_space_of_each_soft_break():
    # Apple Mail cuts long words so (delsp=yes): the space was added by the cut, not typed.
    assert unflow("Sehr geehrte Frau Rossi, Ihr Paket wurde heu \nte versandt.\n", delsp=True) == (
        "Sehr geehrte Frau Rossi, Ihr Paket wurde heute versandt.\n"
    )


def test_quoted_paragraphs_join_within_their_depth_and_keep_it():
    text = (
        "Done, see below. \r\n"
        "Marco\r\n"
        "\r\n"
        "On 03.12.26 10:02, Customer service \r\n"
        "<support+t-1@shop.example> wrote:\r\n"
        "> Anna Rossi wrote about ticket 1234: my order has \r\n"
        "> not arrived.\r\n"
        ">> an older quote \r\n"
        ">> still flowing\r\n"
        ">\r\n"
        "> #close\r\n"
    )
    assert unflow(text).splitlines() == [
        "Done, see below. Marco",
        "",
        "On 03.12.26 10:02, Customer service <support+t-1@shop.example> wrote:",
        "> Anna Rossi wrote about ticket 1234: my order has not arrived.",
        ">> an older quote still flowing",
        ">",
        "> #close",
    ]


def test_a_soft_line_followed_by_another_depth_ends_its_paragraph():
    assert unflow("my answer \n> the quote\n").splitlines() == ["my answer", "> the quote"]
    assert unflow("> quoted \nnew text\n").splitlines() == ["> quoted", "new text"]


def test_space_stuffing_is_undone():
    # A typed line starting with "From ", ">" or a space is sent with one more space in front.
    assert unflow(" From now on we ship on Mondays.\n  two spaces typed\n").splitlines() == [
        "From now on we ship on Mondays.",
        " two spaces typed",
    ]


def test_the_signature_separator_is_never_joined():
    assert unflow("Regards \nMarco\n-- \nShop team\n").splitlines() == ["Regards Marco", "-- ", "Shop team"]
    # After a flowed line too, and quoted: it ends the paragraph before it and stays a line of its own.
    assert unflow("Regards \n-- \nShop team\n").splitlines() == ["Regards", "-- ", "Shop team"]
    assert unflow("> Regards \n> -- \n> Shop team\n").splitlines() == ["> Regards", "> -- ", "> Shop team"]


def test_commands_on_their_own_lines_stay_on_their_own_lines():
    assert unflow("We refunded you.\n#close\n").splitlines() == ["We refunded you.", "#close"]


def test_text_ending_in_a_soft_break_keeps_its_words():
    assert unflow("last words \nand more ") == "last words and more"


def test_a_long_text_is_read_in_linear_time():
    text = "word " * 200_000 + "\n" + "> quoted \n" * 100_000 + "end\n"
    started = time.perf_counter()
    unflowed = unflow(text)
    assert time.perf_counter() - started < 2.0
    assert unflowed.startswith("word word") and unflowed.count("\n") == 3


def flowed_mail(body: str, params: str) -> bytes:
    return (
        "From: Marco <marco@shop.example>\r\nTo: support@shop.example\r\nSubject: Re: parcel\r\n"
        "Message-ID: <f1@shop.example>\r\nMIME-Version: 1.0\r\n"
        f"Content-Type: text/plain; charset=UTF-8; {params}\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}"
    ).encode()


def test_the_parser_unflows_a_flowed_part_only():
    assert parse_message(flowed_mail(THUNDERBIRD, "format=flowed")).text_body.startswith(
        "Hello Anna, we sent your parcel today with the tracking number TR-5581; it should"
    )
    assert parse_message(flowed_mail(THUNDERBIRD, 'format="Flowed"; DelSp=No')).text_body.startswith(
        "Hello Anna, we sent your parcel today with the tracking number TR-5581; it should"
    )
    fixed = parse_message(flowed_mail(THUNDERBIRD, "format=fixed")).text_body
    assert "tracking number \nTR-5581" in fixed.replace("\r\n", "\n")


def test_a_one_line_answer_under_a_long_quoted_paragraph_of_flowed_mail_is_kept():
    # Unflowed, a quoted paragraph is one long line; the line under it is an answer, not the rest of a quote a client
    # wrapped (what the same shape means in a plain-text reply).
    question = "Could you tell us the number of the order and the address the parcel should go to, please? " * 2
    body = f"{soft_wrapped_quote(question)}\r\n12345\r\n> And the floor?\r\nThird floor\r\n"
    new = strip_message(parse_message(flowed_mail(body, "format=flowed")))
    assert new.splitlines() == ["12345", "> And the floor?", "Third floor"]


def soft_wrapped_quote(text: str) -> str:
    words, lines, line = text.split(), [], ""
    for word in words:
        if len(line) + len(word) > 66:
            lines.append("> " + line)
            line = ""
        line += word + " "
    return "\r\n".join([*lines, "> " + line.rstrip()])
