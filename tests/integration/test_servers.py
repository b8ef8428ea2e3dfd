"""The real-server helpers in tests/servers work: Dovecot over TLS, the SMTP sink, PostgreSQL."""

from __future__ import annotations

import asyncio
import ssl

import aiosmtplib
import pytest
import sqlalchemy as sa
from imapclient import IMAPClient
from imapclient.exceptions import LoginError

from tests.servers.pytest_plugin import SUPPORT_USER
from tests.servers.smtp_sink import start_smtp_sink

RAW = b"From: alice@customer.example\r\nTo: support@shop.example\r\nSubject: %s\r\n\r\nHello\r\n"


def send(sink, raw: bytes, sender="shop@shop.example", recipients=("bob@customer.example",), **kw):
    """Send raw through the sink with aiosmtplib and return its response."""
    return asyncio.run(
        aiosmtplib.send(
            raw, sender=sender, recipients=list(recipients), hostname=sink.host, port=sink.port, timeout=10, **kw
        )
    )


def test_imaps_login_verifies_the_certificate_against_the_ca(dovecot):
    with dovecot.client(SUPPORT_USER) as client:
        assert client.folder_exists("INBOX")


def test_starttls_login_on_the_plain_port(dovecot):
    with dovecot.client(SUPPORT_USER, ssl=False) as client:
        assert client._imap.sock.version() is not None  # the socket is TLS now
        assert client.folder_exists("INBOX")


def test_imaps_with_the_wrong_ca_fails(dovecot):
    context = ssl.create_default_context(cafile=dovecot.other_ca_file)
    with pytest.raises(ssl.SSLCertVerificationError):
        IMAPClient(dovecot.host, port=dovecot.imaps_port, ssl=True, ssl_context=context, timeout=5)


def test_wrong_password_is_refused(dovecot):
    client = IMAPClient(dovecot.host, port=dovecot.imaps_port, ssl_context=dovecot.ssl_context(), timeout=5)
    with pytest.raises(LoginError):
        client.login(SUPPORT_USER, "not-the-password")
    client.shutdown()


def test_user_added_while_running_can_log_in(dovecot):
    dovecot.add_user("late@shop.example")
    with dovecot.client("late@shop.example") as client:
        assert client.folder_exists("INBOX")


def test_append_returns_increasing_uids_and_flags_show_them(dovecot, mailbox):
    first = dovecot.append(SUPPORT_USER, mailbox, RAW % b"one")
    second = dovecot.append(SUPPORT_USER, mailbox, RAW % b"two", flags=[b"\\Seen"])
    assert first < second
    assert dovecot.uids(SUPPORT_USER, mailbox) == [first, second]
    assert dovecot.flags(SUPPORT_USER, mailbox) == {first: (), second: ("\\Seen",)}
    assert dovecot.messages(SUPPORT_USER, mailbox) == [RAW % b"one", RAW % b"two"]


def test_each_test_gets_an_empty_mailbox(dovecot, mailbox):
    assert dovecot.uids(SUPPORT_USER, mailbox) == []


def test_sink_records_the_envelope_and_message(sink):
    send(sink, RAW % b"receipt")
    [mail] = sink.wait_for(1)
    assert mail.mail_from == "shop@shop.example"
    assert mail.rcpt_tos == ("bob@customer.example",)
    assert mail.message["Subject"] == "receipt"


def test_fail_next_rcpt_refuses_once_then_accepts(sink):
    sink.fail_next("RCPT", 550, "No such user")
    with pytest.raises((aiosmtplib.SMTPRecipientsRefused, aiosmtplib.SMTPResponseException)) as info:
        send(sink, RAW % b"bounce")
    error = info.value
    codes = [r.code for r in error.recipients] if hasattr(error, "recipients") else [error.code]
    assert codes == [550]
    assert sink.messages == []
    send(sink, RAW % b"retry")
    assert [m.message["Subject"] for m in sink.wait_for(1)] == ["retry"]


def test_fail_next_data_answers_451(sink):
    sink.fail_next("DATA", 451)
    with pytest.raises(aiosmtplib.SMTPDataError) as info:
        send(sink, RAW % b"later")
    assert info.value.code == 451
    assert sink.messages == []


def test_dropped_connection_is_seen_by_the_client(sink):
    sink.drop_next_connection()
    with pytest.raises(aiosmtplib.SMTPServerDisconnected):
        send(sink, RAW % b"dropped")
    send(sink, RAW % b"after")
    assert len(sink.wait_for(1)) == 1


def test_sink_with_starttls_and_auth(certs):
    secure = start_smtp_sink(tls=certs, require_auth=("shop", "pw"))
    try:
        with pytest.raises(aiosmtplib.SMTPSenderRefused):
            send(secure, RAW % b"anonymous", tls_context=certs.client_context())
        send(secure, RAW % b"authed", tls_context=certs.client_context(), username="shop", password="pw")
        assert [m.message["Subject"] for m in secure.wait_for(1)] == ["authed"]
    finally:
        secure.stop()


def test_deliver_to_puts_the_mail_in_the_recipients_inbox(dovecot):
    relay = start_smtp_sink(deliver_to=dovecot)
    try:
        send(relay, RAW % b"your receipt", recipients=["Carol@customer.example"])
        relay.wait_for(1)
    finally:
        relay.stop()
    assert dovecot.messages("carol@customer.example") == [RAW % b"your receipt"]


def test_postgres_accepts_a_sqlalchemy_connection(postgres):
    engine = sa.create_engine(postgres.url)
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("select 1")).scalar() == 1
    finally:
        engine.dispose()


def test_create_database_gives_a_separate_database(postgres):
    engine = sa.create_engine(postgres.create_database("per_test_1"))
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("select current_database()")).scalar() == "per_test_1"
    finally:
        engine.dispose()
