from datetime import UTC, datetime
from email import message_from_bytes, policy

import pytest

from mailbridge.decisions.outgoing.compose import (
    MAX_ID_CHARS,
    MAX_REFERENCES,
    OutgoingDraft,
    clean_header_text,
    compose,
    mail_bytes,
    make_address,
    thread_ids,
)
from mailbridge.decisions.outgoing.templates import RenderedMail

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def draft(**fields) -> OutgoingDraft:
    values = dict(
        kind="receipt",
        from_name="Shop support",
        from_address="support@shop.example",
        to_name="Anna",
        to_address="anna@example.org",
        subject="[#12345678901] Order",
        in_reply_to="<c1@example.org>",
        references=("<c0@example.org>",),
        auto_submitted="auto-replied",
        instance_id="i1",
        body=RenderedMail(text="Hello", html="<p>Hello</p>"),
    )
    values.update(fields)
    return OutgoingDraft(**values)


def roundtrip(d: OutgoingDraft):
    return message_from_bytes(compose(d, "<out1@shop.example>", NOW).as_bytes(), policy=policy.default)


def test_receipt_carries_threading_and_rfc3834_headers():
    mail = roundtrip(draft())
    assert mail["In-Reply-To"] == "<c1@example.org>"
    assert mail["References"] == "<c0@example.org> <c1@example.org>"
    assert mail["Auto-Submitted"] == "auto-replied" and mail["X-Auto-Response-Suppress"] == "All"
    assert mail["Message-ID"] == "<out1@shop.example>"


def test_person_written_mail_is_not_marked_automatic():
    assert roundtrip(draft(auto_submitted=None))["Auto-Submitted"] is None


def test_crlf_in_subject_cannot_inject_a_header():
    mail = roundtrip(draft(subject="Hi\r\nBcc: victim@example.org"))
    assert mail["Bcc"] is None and "\n" not in mail["Subject"]


def test_crlf_in_display_name_cannot_inject_a_header():
    mail = roundtrip(draft(to_name="Eve\r\nBcc: victim@example.org"))
    assert mail["Bcc"] is None
    assert mail["To"].addresses[0].addr_spec == "anna@example.org"


def test_non_ascii_display_name_is_encoded():
    raw = compose(draft(to_name="Πέτρος Ξένος"), "<o@shop.example>", NOW).as_bytes()
    assert b"=?utf-8?" in raw
    assert message_from_bytes(raw, policy=policy.default)["To"].addresses[0].display_name == "Πέτρος Ξένος"


def test_malformed_message_ids_are_not_copied():
    parent, chain = thread_ids("<ok@x> \r\nBcc: a@b", ("junk", "<a@b>"))
    assert parent is None and chain == ("<a@b>",)


def test_over_long_non_ascii_and_newline_ending_ids_are_not_copied():
    # Issue 16: one 5,000-character id made a header line a relay refuses ("500 Line too long").
    longest = "<" + "a" * (MAX_ID_CHARS - 14) + "@example.org>"
    assert len(longest) == MAX_ID_CHARS
    ids = ("<" + "a" * 5000 + "@x>", longest + "x", "<ünï@example.org>", "<a@b>\n", longest)
    assert thread_ids("<" + "p" * 5000 + "@x>", ids) == (None, (longest,))


@pytest.mark.parametrize(
    "address", ["a" * 250 + "@example.org", "\u20acanna@example.org", "anna@bücher.example", "an\x01na@example.org"]
)
def test_over_long_non_ascii_or_control_addresses_are_refused(address):
    # Found by tests/test_fuzz.py: each made compose write a line no relay takes, or raise UnicodeEncodeError.
    with pytest.raises(ValueError, match="unusable address"):
        make_address("Anna", address)


def test_references_of_the_longest_ids_fold_to_legal_lines():
    ids = tuple(f"<{i:03d}" + "a" * (MAX_ID_CHARS - 17) + "@example.org>" for i in range(30))
    raw = mail_bytes(compose(draft(in_reply_to=ids[-1], references=ids), "<o@shop.example>", NOW))
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert max(len(line) for line in head.split(b"\r\n")) <= 998
    sent = message_from_bytes(raw, policy=policy.default)
    assert sent["In-Reply-To"] == ids[-1] and sent["References"].split() == [ids[0], *ids[-(MAX_REFERENCES - 1) :]]


def test_address_with_angle_brackets_is_refused():
    with pytest.raises(ValueError):
        make_address("x", "a@b>\r\nBcc: c@d")


def test_quoted_local_part_is_written_quoted():
    assert str(make_address("John Doe", '"john doe"@example.com')) == 'John Doe <"john doe"@example.com>'


@pytest.mark.parametrize(
    "address", ['"a\\"b"@x.org', '"a,b"@x.org', '""@x.org', '"x\r\ny"@x.org', "a@b@c", "a b@x.org"]
)
def test_addresses_that_cannot_be_written_safely_are_refused(address):
    with pytest.raises(ValueError):
        make_address("x", address)


def test_clean_header_text_flattens_control_characters():
    assert clean_header_text("a\tb\x00c\r\nd") == "a b c d"


def test_signed_message_id_is_recognised_only_with_the_secret():
    from mailbridge.decisions.outgoing.compose import is_own_message_id, new_message_id

    message_id = new_message_id("support@shop.example", "s3cret")
    assert message_id.endswith("@shop.example>")
    assert is_own_message_id(message_id, "s3cret")
    assert not is_own_message_id(message_id, "other")
    assert not is_own_message_id(message_id.replace("mb.", "mb.0", 1), "s3cret")


def test_forged_message_id_in_our_format_is_not_ours():
    from mailbridge.decisions.outgoing.compose import is_own_message_id

    assert not is_own_message_id("<mb.0123456789abcdef0123.0123456789ab@shop.example>", "s3cret")


def test_non_ascii_subject_is_encoded_and_reads_back():
    raw = compose(draft(subject="Ordine 10023 non arrivato – è urgente, Πρόβλημα"), "<o@shop.example>", NOW).as_bytes()
    assert raw.isascii()
    assert (
        message_from_bytes(raw, policy=policy.default)["Subject"] == "Ordine 10023 non arrivato – è urgente, Πρόβλημα"
    )


def test_text_and_html_parts_read_back_as_utf8():
    mail = message_from_bytes(
        compose(
            draft(body=RenderedMail(text="Grazie più tardi", html="<p>Ευχαριστώ</p>")), "<o@shop.example>", NOW
        ).as_bytes(),
        policy=policy.default,
    )
    assert mail.get_content_type() == "multipart/alternative"
    assert mail.get_body(("plain",)).get_content().strip() == "Grazie più tardi"
    assert mail.get_body(("html",)).get_content().strip() == "<p>Ευχαριστώ</p>"


def test_attachment_keeps_bytes_and_a_safe_non_ascii_name():
    from mailbridge.decisions.outgoing.compose import OutgoingAttachment

    files = (OutgoingAttachment("φωτογραφία\r\n.jpg", "image/jpeg", b"\xff\xd8 jpeg bytes"),)
    mail = message_from_bytes(
        compose(draft(attachments=files), "<o@shop.example>", NOW).as_bytes(), policy=policy.default
    )
    (part,) = list(mail.iter_attachments())
    assert part.get_filename() == "φωτογραφία .jpg"
    assert part.get_content() == b"\xff\xd8 jpeg bytes"
    assert mail.get_body(("plain",)).get_content().strip() == "Hello"


def test_malformed_message_id_is_refused():
    with pytest.raises(ValueError):
        compose(draft(), "<o@shop.example>\r\nBcc: victim@example.org", NOW)


def test_mail_bytes_has_crlf_line_ends_only():
    from mailbridge.decisions.outgoing.compose import mail_bytes

    raw = mail_bytes(compose(draft(subject="Πέτρος " * 30), "<o@shop.example>", NOW))
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")


def test_long_non_ascii_names_fold_and_quoted_names_read_back():
    name = "Γιώργος Παπαδόπουλος-Καραμανλής του Κωνσταντίνου"
    raw = compose(draft(from_name=name, to_name='Obchod, podpora "Česko"'), "<o@shop.example>", NOW).as_bytes()
    assert all(len(line) <= 78 for line in raw.split(b"\n"))
    mail = message_from_bytes(raw, policy=policy.default)
    assert mail["From"].addresses[0].addr_spec == "support@shop.example"
    to = mail["To"].addresses[0]
    assert (to.display_name, to.addr_spec) == ('Obchod, podpora "Česko"', "anna@example.org")


def test_fast_header_folding_writes_what_the_stdlib_writes():
    from email.policy import compat32

    from mailbridge.decisions.outgoing.compose import OutgoingAttachment, mail_bytes

    long_refs = tuple(f"<ref{n}.{'x' * 30}@example.org>" for n in range(15))
    mail = compose(
        draft(
            subject="Ordine 10023 non arrivato – è urgente " * 3,
            to_name="Γιώργος Παπαδόπουλος",
            from_name="Obchod, podpora",
            references=long_refs,
            reply_to="support+c.abc@shop.example",
            attachments=(OutgoingAttachment("faktura č. 10052.pdf", "application/pdf", b"%PDF"),),
        ),
        "<o@shop.example>",
        NOW,
    )
    assert mail_bytes(mail) == mail.as_bytes(policy=compat32.clone(linesep="\r\n"))


@pytest.mark.parametrize(
    "subject",
    [
        "Reklamace: poškozené zboží č. 4711 – prosím o rychlou výměnu, děkuji mnohokrát za pochopení",
        "注文12345について、まだ届いていません。確認をお願いします。よろしくお願いいたします。",
        "Πρόβλημα με την παραγγελία 99 😀 emoji and ASCII mixed, a long one to need several words",
        "Ä",
    ],
)
def test_non_ascii_subject_comes_back_whole_in_short_encoded_words(subject):
    raw = compose(draft(subject=subject), "<o@shop.example>", NOW).as_bytes(
        policy=policy.compat32.clone(linesep="\r\n")
    )
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
    assert all(len(line) <= 78 for line in head.split("\r\n"))
    words = [w for w in head.split() if w.startswith("=?")]
    assert words and all(len(w) <= 75 for w in words)  # RFC 2047 §2
    assert message_from_bytes(raw, policy=policy.default)["Subject"] == subject


def test_text_parts_are_quoted_printable_and_decode_to_the_rendered_text():
    text = "Grüße, Jürgen\n" + "é" * 120 + "\ntrailing space \n.\nend"
    mail = roundtrip(draft(body=RenderedMail(text=text, html="<p>Grüße</p>")))
    plain, html = mail.get_body(("plain",)), mail.get_body(("html",))
    assert plain["Content-Transfer-Encoding"] == "quoted-printable"
    assert plain.get_content() == text
    assert html.get_content() == "<p>Grüße</p>"
    assert all(len(line) <= 76 for line in plain.get_payload().splitlines())
