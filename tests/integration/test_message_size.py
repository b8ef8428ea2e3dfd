"""max_message_bytes: a message over the limit is stored raw and flagged `too_large`, never parsed."""

from __future__ import annotations

from sqlmodel import Session, select

from mailbridge.store.models import Message, Ticket
from tests.conftest import SUPPORT_USER, customer_mail, run_once


def test_message_over_max_message_bytes_is_stored_raw_flagged_and_marked(make_app, dovecot, sink, mailbox):
    small = customer_mail(subject="small")
    big = customer_mail(subject="big", attachment=("scan.bin", bytes(range(256)) * 40, "application/octet-stream"))
    assert len(small) < 3000 < len(big)
    small_uid = dovecot.append(SUPPORT_USER, mailbox, small)
    big_uid = dovecot.append(SUPPORT_USER, mailbox, big)
    app = make_app(extra_mailbox="max_message_bytes = 3000")
    run_once(app)
    run_once(app)
    with Session(app.engine) as session:
        rows = {m.subject: m for m in session.exec(select(Message))}
        tickets = session.exec(select(Ticket)).all()
    assert set(rows) == {"small", "big"}
    too_large = rows["big"]
    # Never downloaded: only its header is kept, with the sender and subject it names.
    assert too_large.kind == "too_large" and too_large.raw == big[: big.index(b"\r\n\r\n") + 4]
    assert too_large.is_malformed and too_large.ticket_id is None and too_large.from_addr == "anna@example.org"
    assert too_large.defects.startswith(f"too_large: {len(big)} bytes")
    assert [t.subject for t in tickets] == ["small"] and len(sink.messages) == 1
    flags = dovecot.flags(SUPPORT_USER, mailbox)
    assert "\\Seen" in flags[small_uid] and "\\Seen" in flags[big_uid]


def test_max_message_bytes_must_be_a_positive_integer(config_file):
    import pytest

    from mailbridge.base.config.settings import load_settings
    from mailbridge.base.errors import ConfigError

    with pytest.raises(ConfigError, match=r"max_message_bytes: expected an integer 1-"):
        load_settings(config_file(extra_mailbox='max_message_bytes = "25MB"'))
