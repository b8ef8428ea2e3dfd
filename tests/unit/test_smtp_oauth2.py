"""[smtp] auth = "xoauth2" | "oauthbearer": parsed like a mailbox's or refused in one line; the SASL responses and the
server's error challenge, as bytes."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from mailbridge.base.config.oauth2 import OAuth2Settings
from mailbridge.base.config.settings import load_settings
from mailbridge.base.errors import ConfigError, TemporaryDeliveryError
from mailbridge.base.oauth2_token import fetch_token
from mailbridge.outbox.smtp_oauth2 import Refusal, decode_challenge, oauthbearer_response, xoauth2_response

BASE = """
[support]
from_address = "support@shop.example"
[smtp]
host = "smtp.office365.com"
"""
USER = 'username = "support@shop.example"\n'


def load(tmp_path: Path, smtp: str):
    path = tmp_path / "mailbridge.toml"
    path.write_text(BASE + smtp)
    return load_settings(path)


def error_for(tmp_path: Path, smtp: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, smtp)
    return str(caught.value).removeprefix(f"{tmp_path}/mailbridge.toml: ")


def test_smtp_password_login_is_the_default(tmp_path):
    assert load(tmp_path, USER).smtp.connection.oauth2 is None


def test_smtp_xoauth2_with_a_token_command(tmp_path):
    connection = load(tmp_path, USER + 'auth = "xoauth2"\noauth2_token_command = "cat /run/token"\n').smtp.connection
    assert connection.oauth2 == OAuth2Settings("xoauth2", token_command=("cat", "/run/token"))
    assert (connection.password, connection.security) == (None, "starttls")


def test_smtp_oauthbearer_with_a_token_file_relative_to_the_config(tmp_path):
    (tmp_path / "token").write_text("tok\n")
    connection = load(tmp_path, USER + 'auth = "oauthbearer"\noauth2_token_file = "token"\n').smtp.connection
    assert connection.oauth2 == OAuth2Settings("oauthbearer", token_file=str(tmp_path / "token"))


def test_smtp_oauth2_with_a_password_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("PW", "secret")
    message = error_for(tmp_path, USER + 'auth = "xoauth2"\noauth2_token_command = "cat x"\npassword_env = "PW"\n')
    assert message.startswith('[smtp] password_env: expected no password with auth = "xoauth2"')


def test_smtp_token_key_without_oauth2_auth_is_refused(tmp_path):
    assert error_for(tmp_path, USER + 'oauth2_token_file = "token"\n') == (
        '[smtp] oauth2_token_file: expected auth = "xoauth2" or "oauthbearer" to go with it, got \'token\''
    )


def test_smtp_oauth2_without_a_token_source_names_the_key(tmp_path):
    assert error_for(tmp_path, USER + 'auth = "oauthbearer"\n') == (
        '[smtp] oauth2_token_command: auth = "oauthbearer" needs either oauth2_token_command or '
        "oauth2_token_file, missing"
    )


def test_smtp_oauth2_needs_a_username(tmp_path):
    assert error_for(tmp_path, 'auth = "xoauth2"\noauth2_token_command = "cat x"\n') == (
        '[smtp] username: missing; auth = "xoauth2" logs in as username'
    )


def test_smtp_unknown_auth_is_refused(tmp_path):
    assert error_for(tmp_path, USER + 'auth = "login"\n') == (
        '[smtp] auth: expected one of "password" | "xoauth2" | "oauthbearer", got \'login\''
    )


def test_smtp_token_file_that_is_gone_is_a_temporary_delivery_error(tmp_path):
    with pytest.raises(TemporaryDeliveryError, match=r"^smtp: cannot read oauth2_token_file .*gone"):
        fetch_token(
            OAuth2Settings("xoauth2", token_file=str(tmp_path / "gone")), 5, owner="smtp", error=TemporaryDeliveryError
        )


def test_xoauth2_response_is_user_and_bearer_token():
    assert (
        xoauth2_response("support@shop.example", "ya29.x") == b"user=support@shop.example\x01auth=Bearer ya29.x\x01\x01"
    )


def test_oauthbearer_response_has_gs2_header_host_and_port():
    assert oauthbearer_response("support@shop.example", "ya29.x", "smtp.gmail.com", 587) == (
        b"n,a=support@shop.example,\x01host=smtp.gmail.com\x01port=587\x01auth=Bearer ya29.x\x01\x01"
    )


def test_oauthbearer_escapes_comma_and_equals_in_the_user():
    assert oauthbearer_response("a,b=c", "t", "h", 1).startswith(b"n,a=a=2Cb=3Dc,\x01")


def test_error_challenge_is_decoded_for_the_operator():
    challenge = base64.b64encode(b'{"status":"401",\n "schemes":"bearer"}').decode()
    assert decode_challenge(challenge) == '{"status":"401", "schemes":"bearer"}'


def test_challenge_that_is_not_base64_is_kept_as_sent():
    assert decode_challenge("not base64!") == "not base64!"


def test_refusal_reads_as_the_reply_with_the_challenge():
    assert str(Refusal(535, "5.7.3 Authentication\n unsuccessful", '{"status":"401"}')) == (
        '535 5.7.3 Authentication unsuccessful ({"status":"401"})'
    )
    assert str(Refusal(535, "5.7.8 Bad credentials")) == "535 5.7.8 Bad credentials"
