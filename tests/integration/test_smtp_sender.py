"""SmtpSender against a real SMTP server: STARTTLS with certificate checks, AUTH, failure mapping."""

from __future__ import annotations

import asyncio

import pytest

from mailbridge.base.config.settings import ConnectionSettings, Secret
from mailbridge.base.errors import PermanentDeliveryError, TemporaryDeliveryError
from mailbridge.outbox.smtp import SmtpSender
from tests.servers.smtp_sink import start_smtp_sink

RAW = b"From: support@shop.example\r\nTo: anna@example.org\r\nSubject: t\r\nMessage-ID: <t1@shop.example>\r\n\r\nHi\r\n"


@pytest.fixture(scope="module")
def tls_sink(certs):
    sink = start_smtp_sink(tls=certs, require_auth=("mailer", "pw"))
    yield sink
    sink.stop()


def connection(port: int, **fields) -> ConnectionSettings:
    values = dict(
        host="127.0.0.1",
        port=port,
        security="starttls",
        validate_cert=True,
        ca_file=None,
        username="mailer",
        password=Secret("pw", "env:TEST"),
        timeout_seconds=5,
    )
    values.update(fields)
    return ConnectionSettings(**values)


def send(conn: ConnectionSettings) -> None:
    asyncio.run(SmtpSender(conn).send(mail_from="support@shop.example", recipients=["anna@example.org"], raw=RAW))


def test_starttls_with_auth_and_trusted_ca_delivers(tls_sink, certs):
    tls_sink.clear()
    send(connection(tls_sink.port, ca_file=str(certs.ca_file)))
    [received] = tls_sink.messages
    assert received.rcpt_tos == ("anna@example.org",) and b"Subject: t" in received.data


def test_untrusted_certificate_is_refused_and_retried_later(tls_sink, certs):
    with pytest.raises(TemporaryDeliveryError, match="certificate|CERTIFICATE"):
        send(connection(tls_sink.port, ca_file=str(certs.other_ca_file)))


def test_validate_cert_false_accepts_a_self_signed_server(tls_sink):
    tls_sink.clear()
    send(connection(tls_sink.port, validate_cert=False))
    assert len(tls_sink.messages) == 1


def test_wrong_password_is_temporary_so_fixing_it_loses_no_mail(tls_sink, certs):
    with pytest.raises(TemporaryDeliveryError, match="535"):
        send(connection(tls_sink.port, ca_file=str(certs.ca_file), password=Secret("wrong", "env:TEST")))


def test_recipient_refused_with_5xx_is_permanent(sink):
    sink.fail_next("RCPT", 550)
    with pytest.raises(PermanentDeliveryError, match="550"):
        send(connection(sink.port, security="plain", username=None, password=None))


def test_greylisting_4xx_is_temporary(sink):
    sink.fail_next("MAIL", 451)
    with pytest.raises(TemporaryDeliveryError, match="451"):
        send(connection(sink.port, security="plain", username=None, password=None))


def test_connection_dropped_mid_conversation_is_temporary(sink):
    sink.drop_next_connection()
    with pytest.raises(TemporaryDeliveryError):
        send(connection(sink.port, security="plain", username=None, password=None))


def test_smtp_test_command_reports_each_step_and_sends(config_file, sink):
    from tests.conftest import run_cli

    result = run_cli("smtp", "test", "--to", "admin@shop.example", config=config_file())
    assert result.returncode == 0, result.stderr
    assert "ok  connected to 127.0.0.1" in result.stdout and "ok  accepted for admin@shop.example" in result.stdout
    [received] = sink.messages
    assert received.rcpt_tos == ("admin@shop.example",)


def test_smtp_test_command_fails_in_one_line_when_refused(config_file, sink):
    from tests.conftest import run_cli

    sink.fail_next("RCPT", 550)
    result = run_cli("smtp", "test", "--to", "admin@shop.example", config=config_file())
    assert result.returncode == 1 and result.stderr.strip().startswith(f"mailbridge: error: 127.0.0.1:{sink.port}: 550")


def test_smtp_test_command_tests_a_brand_relay(config_file, sink):
    import json

    from tests.conftest import run_cli

    brand = start_smtp_sink()
    try:
        relay = f'\n[smtp.shop2]\nhost = "127.0.0.1"\nport = {brand.port}\nsecurity = "plain"\ntimeout_seconds = 5\n'
        config = config_file(extra=relay)
        args = ("smtp", "test", "--to", "admin@shop2.example", "--relay", "shop2", "--from", "help@shop2.example")
        result = run_cli(*args, "--json", config=config)
        assert result.returncode == 0, result.stderr
        outcome = json.loads(result.stdout)
        assert (outcome["relay"], outcome["port"], outcome["sent"]) == ("shop2", brand.port, True)
        assert sink.messages == []  # [smtp] was not used
        [received] = brand.messages
        assert (received.mail_from, received.rcpt_tos) == ("help@shop2.example", ("admin@shop2.example",))
        parsed = received.message
        assert parsed["From"] == "help@shop2.example" and parsed["Subject"] == "mailbridge SMTP test (relay shop2)"

        unknown = run_cli("smtp", "test", "--to", "admin@shop2.example", "--relay", "shop9", config=config)
        assert unknown.returncode != 0 and unknown.stdout == ""
        assert unknown.stderr.strip().splitlines()[-1] == (
            "mailbridge: error: --relay: expected the NAME of an [smtp.NAME] table (shop2), got 'shop9'"
        )
        assert len(brand.messages) == 1 and sink.messages == []
    finally:
        brand.stop()
