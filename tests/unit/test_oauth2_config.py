"""[[mailboxes]] auth = "xoauth2" | "oauthbearer" with a token command or file: parsed or refused in one line,
and the pure part of fetching a token."""

from pathlib import Path

import pytest

from mailbridge.base.config.oauth2 import OAuth2Settings
from mailbridge.base.config.settings import load_settings, masked
from mailbridge.base.errors import ConfigError, SourceError
from mailbridge.base.oauth2_token import first_line, token_from_output
from mailbridge.ingest.sources.oauth2 import fetch_token

BASE = """
[support]
from_address = "support@shop.example"
[smtp]
host = "127.0.0.1"
[[mailboxes]]
name = "support"
host = "imap.gmail.com"
"""
USER = 'username = "support@shop.example"\n'


def load(tmp_path: Path, text: str):
    path = tmp_path / "mailbridge.toml"
    path.write_text(BASE + text)
    return load_settings(path)


def error_for(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text)
    return str(caught.value).removeprefix(f"{tmp_path}/mailbridge.toml: ")


def test_password_is_the_default_auth(tmp_path):
    assert load(tmp_path, USER).mailboxes[0].connection.oauth2 is None


def test_xoauth2_with_a_token_command_is_split_without_a_shell(tmp_path):
    connection = (
        load(tmp_path, USER + 'auth = "xoauth2"\noauth2_token_command = "cat \'/run/my token\'"\n')
        .mailboxes[0]
        .connection
    )
    assert connection.oauth2 == OAuth2Settings("xoauth2", token_command=("cat", "/run/my token"))


def test_oauthbearer_token_file_is_relative_to_the_config_file(tmp_path):
    (tmp_path / "token").write_text("abc\n")
    connection = load(tmp_path, USER + 'auth = "oauthbearer"\noauth2_token_file = "token"\n').mailboxes[0].connection
    assert connection.oauth2 == OAuth2Settings("oauthbearer", token_file=str(tmp_path / "token"))


def test_config_check_never_shows_the_token(tmp_path):
    (tmp_path / "token").write_text("ya29.very-secret\n")
    settings = load(tmp_path, USER + 'auth = "xoauth2"\noauth2_token_file = "token"\n')
    assert "ya29.very-secret" not in repr(masked(settings))


def test_unknown_auth_names_the_key(tmp_path):
    assert error_for(tmp_path, USER + 'auth = "oauth"\n') == (
        '[mailboxes.0] auth: expected one of "password" | "xoauth2" | "oauthbearer", got \'oauth\''
    )


def test_oauth2_without_command_or_file_names_the_key(tmp_path):
    assert error_for(tmp_path, USER + 'auth = "xoauth2"\n') == (
        '[mailboxes.0] oauth2_token_command: auth = "xoauth2" needs either oauth2_token_command or '
        "oauth2_token_file, missing"
    )


def test_oauth2_with_command_and_file_names_the_key(tmp_path):
    (tmp_path / "token").write_text("abc\n")
    message = error_for(
        tmp_path, USER + 'auth = "oauthbearer"\noauth2_token_command = "cat x"\noauth2_token_file = "token"\n'
    )
    assert message.startswith("[mailboxes.0] oauth2_token_command:") and message.endswith("not both")


def test_token_command_without_oauth2_auth_is_refused(tmp_path):
    assert error_for(tmp_path, USER + 'oauth2_token_command = "cat x"\n') == (
        '[mailboxes.0] oauth2_token_command: expected auth = "xoauth2" or "oauthbearer" to go with it, got \'cat x\''
    )


def test_token_command_that_is_not_a_program_names_the_key(tmp_path):
    assert error_for(tmp_path, USER + 'auth = "xoauth2"\noauth2_token_command = "no-such-helper --user x"\n') == (
        "[mailboxes.0] oauth2_token_command: expected an executable program, 'no-such-helper' is not one, "
        "got 'no-such-helper --user x'"
    )


def test_token_command_with_unbalanced_quotes_names_the_key(tmp_path):
    message = error_for(tmp_path, USER + 'auth = "xoauth2"\noauth2_token_command = "cat \'x"\n')
    assert message.startswith("[mailboxes.0] oauth2_token_command: expected a command line (No closing quotation)")


def test_missing_token_file_names_the_key(tmp_path):
    assert error_for(tmp_path, USER + 'auth = "xoauth2"\noauth2_token_file = "nope"\n') == (
        "[mailboxes.0] oauth2_token_file: expected an existing file holding the access token, got 'nope'"
    )


def test_password_next_to_oauth2_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("PW", "pw")
    message = error_for(tmp_path, USER + 'auth = "xoauth2"\noauth2_token_command = "cat x"\npassword_env = "PW"\n')
    assert message.startswith('[mailboxes.0] password_env: expected no password with auth = "xoauth2"')


def test_oauth2_needs_a_username(tmp_path):
    assert error_for(tmp_path, 'auth = "xoauth2"\noauth2_token_command = "cat x"\n') == (
        '[mailboxes.0] username: missing; auth = "xoauth2" logs in as username'
    )


def test_helper_output_is_stripped_to_the_token():
    assert token_from_output("oama", 0, "ya29.abc\n", "", owner="mailbox 'support'", error=SourceError) == "ya29.abc"


def test_failing_helper_names_mailbox_and_first_stderr_line():
    with pytest.raises(SourceError) as caught:
        token_from_output(
            "oama", 3, "", "\nrefresh token revoked\nsee the log\n", owner="mailbox 'support'", error=SourceError
        )
    assert str(caught.value) == (
        "mailbox 'support': oauth2_token_command oama failed with exit code 3: refresh token revoked"
    )


def test_helper_printing_nothing_is_an_error():
    with pytest.raises(SourceError, match="oauth2_token_command oama printed no token"):
        token_from_output("oama", 0, "  \n", "", owner="mailbox 'support'", error=SourceError)


def test_first_line_is_cut_to_a_readable_length():
    assert first_line("\n  " + "x" * 500) == "x" * 200


def test_token_file_is_read_again_at_every_fetch(tmp_path):
    token = tmp_path / "token"
    settings = OAuth2Settings("xoauth2", token_file=str(token))
    token.write_text("first\n")
    assert fetch_token("support", settings, 5) == "first"
    token.write_text("second\n")
    assert fetch_token("support", settings, 5) == "second"


def test_token_command_runs_without_a_shell(tmp_path):
    settings = OAuth2Settings("xoauth2", token_command=("/bin/echo", "tok;", "$HOME"))
    assert fetch_token("support", settings, 5) == "tok; $HOME"


def test_empty_token_file_is_an_error(tmp_path):
    (tmp_path / "token").write_text("\n")
    with pytest.raises(SourceError, match=r"mailbox 'support': oauth2_token_file .*token is empty"):
        fetch_token("support", OAuth2Settings("xoauth2", token_file=str(tmp_path / "token")), 5)
