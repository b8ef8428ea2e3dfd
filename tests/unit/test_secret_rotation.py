"""Secret rotation: what an old secret signed still verifies, everything new is signed with the current one."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from mailbridge.base.config.previous_secrets import keep_previous
from mailbridge.base.config.settings import load_settings, masked
from mailbridge.base.errors import ConfigError
from mailbridge.decisions.matching.reply_tokens import AGENT, CUSTOMER, make_token, verify_token
from mailbridge.decisions.outgoing.compose import is_own_message_id, new_message_id
from mailbridge.decisions.outgoing.context import mail_context
from mailbridge.decisions.outgoing.templates import make_environment
from mailbridge.decisions.survey import RATING, TokenVerdict, check_rate_token

OLD, NEW, OTHER = "old-secret-before-rotation", "new-secret-after-rotation", "someone-elses-secret"
TODAY = date(2026, 11, 24)
BASE = """
[support]
from_address = "support@shop.example"
{support}
[smtp]
host = "127.0.0.1"
[[mailboxes]]
name = "support"
host = "imap.shop.example"
username = "support@shop.example"
password_env = "MB_PW"
"""


def test_token_signed_with_a_previous_secret_still_verifies():
    token = make_token(7, OLD, purpose=AGENT, agent_id=3, issued_day=TODAY)
    claims = verify_token(token, NEW, purpose=AGENT, previous_secrets=(OLD,))
    assert claims is not None and (claims.ticket_id, claims.agent_id) == (7, 3)


def test_token_signed_with_an_old_secret_fails_once_it_is_no_longer_listed():
    token = make_token(7, OLD, issued_day=TODAY)
    assert verify_token(token, NEW) is None


def test_token_signed_with_an_unknown_secret_fails_with_previous_secrets_listed():
    token = make_token(7, OTHER, purpose=CUSTOMER, issued_day=TODAY)
    assert verify_token(token, NEW, previous_secrets=(OLD, "older-still")) is None


def test_new_token_verifies_only_with_the_current_secret():
    token = make_token(7, NEW, issued_day=TODAY)
    assert verify_token(token, NEW) is not None
    assert verify_token(token, OLD) is None


def test_old_agent_token_still_expires_after_reply_token_days():
    token = make_token(7, OLD, purpose=AGENT, agent_id=3, issued_day=TODAY)
    later = date(2026, 12, 30)
    assert verify_token(token, NEW, purpose=AGENT, previous_secrets=(OLD,), today=later, max_age_days=30) is None


def test_survey_token_signed_with_a_previous_secret_is_valid():
    token = make_token(7, OLD, purpose=RATING, issued_day=TODAY)
    assert check_rate_token(token, NEW, TODAY, 14, (OLD,)).verdict is TokenVerdict.VALID
    assert check_rate_token(token, NEW, TODAY, 14).verdict is TokenVerdict.FORGED


def test_survey_token_of_an_unknown_secret_is_forged():
    token = make_token(7, OTHER, purpose=RATING, issued_day=TODAY)
    assert check_rate_token(token, NEW, TODAY, 14, (OLD,)).verdict is TokenVerdict.FORGED


def test_message_id_signed_with_a_previous_secret_is_ours():
    old_id = new_message_id("support@shop.example", OLD)
    assert is_own_message_id(old_id, NEW, (OLD,))
    assert not is_own_message_id(old_id, NEW)
    assert not is_own_message_id(new_message_id("support@shop.example", OTHER), NEW, (OLD,))


def test_previous_secrets_without_a_current_secret_prove_nothing():
    assert not is_own_message_id(new_message_id("support@shop.example", OLD), None, (OLD,))


def test_mail_context_signs_with_the_current_secret_and_verifies_previous_ones(tmp_path, monkeypatch):
    monkeypatch.setenv("MB_PW", "pw")
    monkeypatch.setenv("MB_SECRET", NEW)
    monkeypatch.setenv("MB_OLD", f"{OLD}, older-still")
    support = 'secret_env = "MB_SECRET"\nprevious_secrets_env = "MB_OLD"'
    settings = load_settings(write(tmp_path, BASE.format(support=support)))
    context = mail_context(settings, make_environment(None))
    assert context.previous_secrets == (OLD, "older-still")
    fresh = context.new_message_id("support@shop.example")
    assert is_own_message_id(fresh, NEW) and not is_own_message_id(fresh, OLD)
    assert context.is_own_message_id(new_message_id("support@shop.example", OLD))
    assert not context.is_own_message_id(new_message_id("support@shop.example", OTHER))


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mailbridge.toml"
    path.write_text(text)
    return path


def support_settings(tmp_path: Path, support: str):
    return load_settings(write(tmp_path, BASE.format(support=support))).support


def test_previous_secrets_file_holds_one_a_line_with_comments(tmp_path, monkeypatch):
    monkeypatch.setenv("MB_PW", "pw")
    (tmp_path / "secret").write_text(NEW + "\n")
    (tmp_path / "previous").write_text(f"# retired 2026-10-01\n{OLD}\n\n  older,with-comma  \n")
    support = support_settings(tmp_path, 'secret_file = "secret"\nprevious_secrets_file = "previous"')
    assert [s.value for s in support.previous_secrets] == [OLD, "older,with-comma"]
    assert support.previous_secrets_source == f"file:{tmp_path / 'previous'}"


def test_missing_previous_secrets_file_holds_none_yet(tmp_path, monkeypatch):
    monkeypatch.setenv("MB_PW", "pw")
    (tmp_path / "secret").write_text(NEW)
    support = support_settings(tmp_path, 'secret_file = "secret"\nprevious_secrets_file = "previous"')
    assert support.previous_secrets == () and support.previous_secrets_source == f"file:{tmp_path / 'previous'}"


def test_previous_secrets_are_masked(tmp_path, monkeypatch):
    monkeypatch.setenv("MB_PW", "pw")
    monkeypatch.setenv("MB_SECRET", NEW)
    monkeypatch.setenv("MB_OLD", OLD)
    settings = load_settings(
        write(tmp_path, BASE.format(support='secret_env = "MB_SECRET"\nprevious_secrets_env = "MB_OLD"'))
    )
    shown = str(masked(settings))
    assert OLD not in shown and "<masked, from env:MB_OLD>" in shown


@pytest.mark.parametrize(
    ("support", "expected"),
    [
        ('previous_secrets_env = "MB_OLD"', "previous_secrets_env: expected secret_env or secret_file beside it"),
        (
            'secret_env = "MB_SECRET"\nprevious_secrets_env = "MB_OLD"\nprevious_secrets_file = "f"',
            "expected either previous_secrets_env or previous_secrets_file",
        ),
        ('secret_env = "MB_SECRET"\nprevious_secrets_env = "MB_UNSET"', "expected environment variable MB_UNSET"),
        ('secret_file = "secret"\nprevious_secrets_file = "secret"', "expected a file other than secret_file"),
    ],
)
def test_previous_secrets_configuration_errors_name_the_key(tmp_path, monkeypatch, support, expected):
    monkeypatch.setenv("MB_PW", "pw")
    monkeypatch.setenv("MB_SECRET", NEW)
    monkeypatch.setenv("MB_OLD", OLD)
    monkeypatch.delenv("MB_UNSET", raising=False)
    (tmp_path / "secret").write_text(NEW)
    with pytest.raises(ConfigError) as caught:
        support_settings(tmp_path, support)
    assert expected in str(caught.value) and "[support]" in str(caught.value)


def test_keep_previous_appends_the_old_secret_under_a_dated_comment():
    assert keep_previous("", OLD, TODAY) == f"# retired 2026-11-24 by mailbridge secret rotate\n{OLD}\n"
    assert keep_previous("older", OLD, TODAY).startswith("older\n# retired 2026-11-24")


def test_keep_previous_does_not_list_a_secret_twice():
    text = keep_previous("", OLD, TODAY)
    assert keep_previous(text, OLD, date(2026, 11, 25)) == text
