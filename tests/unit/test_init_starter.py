"""`render_initial_config`: the example configuration with the answers set in place, nothing appended or left stale."""

from __future__ import annotations

import dataclasses
import re
import tomllib

from mailbridge.base.config.starter import EXAMPLE, HEADER, InitAnswers, answers_as_flags, render_initial_config

ANSWERS = InitAnswers(
    support_address="help@acme.example",
    from_name="Acme help",
    database_url="sqlite:///acme.db",
    secret_env=None,
    imap_host="imap.acme.example",
    imap_port=1993,
    imap_security="ssl",
    imap_username="help@acme.example",
    imap_password_env="ACME_IMAP_PW",
    imap_ca_file="/etc/acme/ca.pem",
    imap_folder="Support",
    initial_sync="import",
    smtp_host="smtp.acme.example",
    smtp_port=2587,
    smtp_security="starttls",
    smtp_username="help@acme.example",
    smtp_password_env="ACME_SMTP_PW",
    smtp_ca_file=None,
    admin_address="ops@acme.example",
    secret_file="acme.secret",
)


SET_KEYS = {"url", "from_name", "from_address", "admin_address", "secret_env", "host", "port", "ca_file", "username"}
SET_KEYS |= {"password_env", "folders", "initial_sync"}


def example_lines() -> list[str]:
    return EXAMPLE.read_text(encoding="utf-8").splitlines()


def test_the_file_is_the_example_line_for_line():
    lines = render_initial_config(ANSWERS).splitlines()
    assert lines[0] == HEADER and len(lines) == len(example_lines())
    changed = [(old, new) for old, new in zip(example_lines()[1:], lines[1:], strict=True) if old != new]
    # Only lines of keys that got a value changed, each in its place.
    assert {re.match(r"(?:# )?(\w+) = ", old)[1] for old, _new in changed} == SET_KEYS


def test_commented_defaults_are_uncommented_where_they_stand_with_their_comment_in_its_column():
    text = render_initial_config(ANSWERS)
    [port] = [line for line in text.splitlines() if line.startswith("port = 1993")]
    [example] = [line for line in example_lines() if line.startswith("# port = 993")]
    assert port.index("# default follows security") == example.index("# default follows security")
    assert (
        "# port = 993" not in text
        and "# admin_address" not in text
        and "# ca_file = " not in text.split("[[mailboxes]]")[1]
    )


def test_values_load_as_answered():
    config = tomllib.loads(render_initial_config(ANSWERS))
    mailbox, smtp, support = config["mailboxes"][0], config["smtp"], config["support"]
    assert (mailbox["port"], mailbox["folders"], mailbox["ca_file"]) == (1993, ["Support"], "/etc/acme/ca.pem")
    assert (smtp["port"], smtp["username"], smtp["password_env"]) == (2587, "help@acme.example", "ACME_SMTP_PW")
    assert "ca_file" not in smtp
    assert (support["admin_address"], support["secret_file"]) == ("ops@acme.example", "acme.secret")
    assert "secret_env" not in support


def test_a_secret_variable_keeps_the_example_line_and_no_smtp_user_keeps_its_password_commented():
    answers = dataclasses.replace(
        ANSWERS, secret_env="ACME_SECRET", secret_file=None, smtp_username=None, admin_address=None
    )
    text = render_initial_config(answers)
    config = tomllib.loads(text)
    assert config["support"]["secret_env"] == "ACME_SECRET" and "secret_file" not in config["support"]
    assert "username" not in config["smtp"] and "password_env" not in config["smtp"]
    assert '# password_env = "MAILBRIDGE_SMTP_PASSWORD"' in text and '# admin_address = "admin@shop.example"' in text


def test_no_secret_at_all_comments_the_secret_line_out():
    text = render_initial_config(dataclasses.replace(ANSWERS, secret_file=None))
    assert "secret_env" not in tomllib.loads(text)["support"] and '# secret_env = "MAILBRIDGE_SECRET"' in text


def test_the_answers_as_flags_name_every_answer():
    flags = answers_as_flags(ANSWERS)
    pairs = dict(zip(flags[::2], flags[1::2], strict=True))
    assert pairs["--imap-port"] == "1993" and pairs["--secret-file"] == "acme.secret"
    assert pairs["--admin-address"] == "ops@acme.example" and "--smtp-ca-file" not in pairs
    assert answers_as_flags(dataclasses.replace(ANSWERS, secret_file=None))[-2:] == ["--secret-env", ""]


def test_an_smtp_oauth2_login_sets_auth_and_the_token_in_place_and_drops_the_password():
    answers = dataclasses.replace(
        ANSWERS, smtp_auth="xoauth2", smtp_oauth2_token_command="oama access help@acme.example"
    )
    text = render_initial_config(answers)
    smtp = tomllib.loads(text)["smtp"]
    assert (smtp["auth"], smtp["oauth2_token_command"]) == ("xoauth2", "oama access help@acme.example")
    assert "password_env" not in smtp and "oauth2_token_file" not in smtp
    assert len(text.splitlines()) == len(example_lines())  # set where the example shows them, nothing appended
    [auth] = [line for line in text.splitlines() if line.startswith('auth = "xoauth2"')]
    example = next(line for line in example_lines() if line.startswith('auth = "password"'))  # [smtp]'s comes first
    assert auth.index("# ") == example.index("# ")  # the comment keeps its column
    assert '# oauth2_token_file = "/run/mailbridge/smtp.token"' in text
    assert answers.secret_variables == ["ACME_IMAP_PW"]  # no SMTP password variable to set


def test_a_token_file_is_written_and_a_password_login_keeps_auth_password():
    answers = dataclasses.replace(ANSWERS, smtp_auth="oauthbearer", smtp_oauth2_token_file="/run/acme/smtp.token")
    smtp = tomllib.loads(render_initial_config(answers))["smtp"]
    assert (smtp["auth"], smtp["oauth2_token_file"]) == ("oauthbearer", "/run/acme/smtp.token")
    password = tomllib.loads(render_initial_config(dataclasses.replace(ANSWERS, smtp_auth="password")))["smtp"]
    assert password["auth"] == "password" and password["password_env"] == "ACME_SMTP_PW"
    assert "oauth2_token_command" not in password and "oauth2_token_file" not in password
    flags = answers_as_flags(answers)
    assert flags[flags.index("--smtp-auth") + 1] == "oauthbearer"
    assert flags[flags.index("--smtp-oauth2-token-file") + 1] == "/run/acme/smtp.token"
