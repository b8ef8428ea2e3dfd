"""Issue 16: an agent's reply is relayed only with one clear From and, when our authserv-id is known,
a DKIM, SPF or DMARC pass for the agent's domain from our receiving server."""

from datetime import date

import pytest

from mailbridge.base.config.settings import load_settings
from mailbridge.base.errors import ConfigError
from mailbridge.decisions.agent_reply import (
    AgentIdentity,
    AuthOutcome,
    ReplyVerdict,
    ambiguous_sender,
    authentication_outcome,
    judge_agent_reply,
    warning_line,
)
from mailbridge.decisions.matching.reply_tokens import AGENT, make_token, verify_token

SECRET = "s3cret"
MARIA = AgentIdentity(7, "maria@shop.example", True)
TODAY = date(2026, 11, 24)
OURS = "mx.shop.example"

# Real-world shapes, with the agent's domain put in.
GMAIL_PASS = (
    "mx.google.com;       dkim=pass header.i=@shop.example header.s=20230601 header.b=Xyz12;       "
    "arc=pass (i=1 spf=pass spfdomain=shop.example dkim=pass dkdomain=shop.example dmarc=pass fromdomain=shop.example);"
    "       spf=pass (google.com: domain of maria@shop.example designates 209.85.220.41 as permitted sender) "
    "smtp.mailfrom=maria@shop.example;       dmarc=pass (p=NONE sp=NONE dis=NONE) header.from=shop.example"
)
GMAIL_DMARC_FAIL = (
    "mx.google.com;       spf=pass (google.com: domain of evil@attacker.example designates 192.0.2.7 as permitted "
    "sender) smtp.mailfrom=evil@attacker.example;       dmarc=fail (p=NONE sp=NONE dis=NONE) header.from=shop.example"
)
M365_PASS = (
    "spf=pass (sender IP is 40.107.22.54) smtp.mailfrom=shop.example; dkim=pass (signature was verified) "
    "header.d=shop.example;dmarc=pass action=none header.from=shop.example;compauth=pass reason=100"
)
M365_FAIL = (
    "spf=fail (sender IP is 192.0.2.7) smtp.mailfrom=shop.example; dkim=none (message not signed) "
    "header.d=none;dmarc=fail action=none header.from=shop.example;compauth=fail reason=000"
)
OPENDKIM_PASS = (
    "mx.shop.example; dkim=pass (2048-bit key; unprotected) header.d=shop.example header.i=@shop.example "
    "header.a=rsa-sha256 header.s=mail header.b=AbCdEf12"
)
OPENDKIM_FAIL = 'mx.shop.example; dkim=fail reason="signature verification failed" (2048-bit key) header.d=shop.example'
OPENDMARC_PASS = "mx.shop.example; dmarc=pass (p=reject dis=none) header.from=shop.example"
OPENDMARC_FAIL = "mx.shop.example; dmarc=fail (p=reject dis=none) header.from=shop.example"
POSTFIX_SPF_PASS = (
    "mx.shop.example; spf=pass (mailfrom) smtp.mailfrom=shop.example (client-ip=192.0.2.10; "
    "helo=mail.shop.example; envelope-from=maria@shop.example; receiver=<UNKNOWN>)"
)
NOTHING = "mx.shop.example; none"


def token():
    return make_token(3, SECRET, purpose=AGENT, agent_id=7, issued_day=TODAY)


def judge(*, from_header="Maria Rossi <maria@shop.example>", sender="maria@shop.example", auth=(), authserv_id=None):
    claims = verify_token(token(), SECRET, purpose=AGENT)
    return judge_agent_reply(
        claims,
        MARIA,
        sender=sender,
        from_headers=None if from_header is None else [from_header],
        authentication_results=list(auth),
        authserv_id=authserv_id,
        today=TODAY,
        max_age_days=30,
    )


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("alice@shop.example <evil@attacker.example>", "alice@shop.example"),
        ("alice@shop.example <evil@attacker.example>", "evil@attacker.example"),
        ('"alice@shop.example" <evil@attacker.example>', "evil@attacker.example"),
        ("=?utf-8?q?alice=40shop.example?= <evil@attacker.example>", "evil@attacker.example"),
        ("alice@shop.example, evil@attacker.example", "alice@shop.example"),
        ("Team: alice@shop.example, evil@attacker.example;", "alice@shop.example"),
        ("alice@shop.example (evil@attacker.example)", "alice@shop.example"),
        ("<evil@attacker.example>alice@shop.example", "alice@shop.example"),
        ("alice@shop.example evil@attacker.example", "alice@shop.example"),
        ("Alice <alice@shop.example", "alice@shop.example"),
        ("undisclosed", None),
        ("", None),
    ],
)
def test_from_naming_more_than_one_address_or_malformed_is_ambiguous(value, parsed):
    assert ambiguous_sender([value], parsed) is not None


@pytest.mark.parametrize(
    "value",
    [
        "alice@shop.example",
        "<alice@shop.example>",
        "Alice Rossi <alice@shop.example>",
        "Alice B. Rossi <alice@shop.example>",
        '"Rossi, Alice" <ALICE@Shop.Example>',
        '"Alice (alice@shop.example)" <alice@shop.example>',
        "=?utf-8?q?Al=C3=ACce?= <alice@shop.example>",
        '"john doe"@shop.example',
    ],
)
def test_one_clear_address_is_not_ambiguous(value):
    parsed = '"john doe"@shop.example' if value.startswith('"john') else "alice@shop.example"
    assert ambiguous_sender([value], parsed) is None


def test_two_from_headers_are_ambiguous():
    assert ambiguous_sender(["alice@shop.example", "alice@shop.example"], "alice@shop.example") is not None


def test_from_our_parser_read_differently_is_ambiguous():
    assert ambiguous_sender(["Alice <alice@shop.example>"], "evil@attacker.example") is not None


def test_ambiguous_from_with_a_valid_token_is_refused():
    assert judge(from_header="maria@shop.example <evil@attacker.example>") is ReplyVerdict.AMBIGUOUS_SENDER


def test_two_address_from_with_a_valid_token_is_refused():
    assert judge(from_header="maria@shop.example, evil@attacker.example") is ReplyVerdict.AMBIGUOUS_SENDER


def test_ambiguous_sender_warning_names_the_address():
    line = warning_line(ReplyVerdict.AMBIGUOUS_SENDER, "maria@shop.example", 30)
    assert "NOT relayed" in line and "ambiguous" in line and "maria@shop.example" in line


def test_outsider_answer_is_not_checked_for_its_from():
    assert judge(from_header=None) is ReplyVerdict.ACCEPTED


@pytest.mark.parametrize("header", [OPENDKIM_PASS, OPENDMARC_PASS, POSTFIX_SPF_PASS])
def test_pass_from_our_server_is_accepted(header):
    assert judge(auth=[header], authserv_id=OURS) is ReplyVerdict.ACCEPTED


def test_gmail_pass_is_accepted_when_gmail_is_our_receiving_server():
    assert judge(auth=[GMAIL_PASS], authserv_id="mx.google.com") is ReplyVerdict.ACCEPTED


@pytest.mark.parametrize("header", [OPENDMARC_FAIL, OPENDKIM_FAIL])
def test_failure_from_our_server_is_refused(header):
    assert judge(auth=[header], authserv_id=OURS) is ReplyVerdict.AUTH_FAILED


def test_any_failure_among_our_headers_beats_a_pass():
    assert judge(auth=[OPENDKIM_PASS, OPENDMARC_FAIL], authserv_id=OURS) is ReplyVerdict.AUTH_FAILED


def test_pass_in_a_lower_header_of_ours_counts():
    assert judge(auth=["mx.shop.example; spf=none smtp.mailfrom=shop.example", OPENDMARC_PASS], authserv_id=OURS) is (
        ReplyVerdict.ACCEPTED
    )


def test_forged_pass_under_another_authserv_id_is_ignored():
    forged = "mx.attacker.example; dmarc=pass header.from=shop.example; dkim=pass header.d=shop.example"
    assert judge(auth=[forged, OPENDMARC_FAIL], authserv_id=OURS) is ReplyVerdict.AUTH_FAILED
    assert judge(auth=[forged], authserv_id=OURS) is ReplyVerdict.AUTH_FAILED


def test_no_header_from_our_server_is_no_verdict():
    assert authentication_outcome([GMAIL_PASS], "shop.example", OURS) is AuthOutcome.NO_VERDICT
    assert authentication_outcome([], "shop.example", OURS) is AuthOutcome.NO_VERDICT
    assert judge(auth=[], authserv_id=OURS) is ReplyVerdict.AUTH_FAILED


def test_our_header_without_a_pass_for_the_domain_is_refused():
    assert authentication_outcome([NOTHING], "shop.example", OURS) is AuthOutcome.UNCONFIRMED
    assert judge(auth=[NOTHING], authserv_id=OURS) is ReplyVerdict.AUTH_FAILED


def test_pass_for_another_domain_does_not_confirm_the_agent():
    other = "mx.shop.example; dkim=pass header.d=attacker.example; spf=pass smtp.mailfrom=evil@attacker.example"
    assert authentication_outcome([other], "shop.example", OURS) is AuthOutcome.UNCONFIRMED


def test_dkim_pass_by_header_i_confirms_the_domain():
    header = "mx.shop.example; dkim=pass header.i=maria@shop.example header.s=s1"
    assert authentication_outcome([header], "shop.example", OURS) is AuthOutcome.PASS


def test_authserv_id_is_matched_without_regard_to_case():
    assert authentication_outcome(["MX.Shop.Example; " + OPENDMARC_PASS.split("; ", 1)[1]], "shop.example", OURS) is (
        AuthOutcome.PASS
    )


def test_microsoft_365_header_parses_without_an_authserv_id():
    assert authentication_outcome([M365_PASS], "shop.example", None) is AuthOutcome.PASS
    assert authentication_outcome([M365_FAIL], "shop.example", None) is AuthOutcome.FAIL
    # It names no authserv-id, so a configured one never matches it.
    assert authentication_outcome([M365_PASS], "shop.example", OURS) is AuthOutcome.NO_VERDICT


def test_without_authserv_id_dmarc_fail_in_the_topmost_header_is_refused():
    assert judge(auth=[GMAIL_DMARC_FAIL]) is ReplyVerdict.AUTH_FAILED


def test_without_authserv_id_no_header_or_a_pass_is_accepted():
    assert judge(auth=[]) is ReplyVerdict.ACCEPTED
    assert judge(auth=[GMAIL_PASS]) is ReplyVerdict.ACCEPTED


def test_without_authserv_id_only_the_topmost_header_counts():
    assert judge(auth=[GMAIL_PASS, OPENDMARC_FAIL]) is ReplyVerdict.ACCEPTED


def test_unparseable_header_is_no_failure_without_authserv_id_and_no_verdict_with_it():
    assert authentication_outcome(["=;;; garbage"], "shop.example", None) is AuthOutcome.UNCONFIRMED
    assert authentication_outcome(["=;;; garbage"], "shop.example", OURS) is AuthOutcome.NO_VERDICT


def test_failure_naming_no_domain_is_taken_as_the_senders():
    assert authentication_outcome(["mx.shop.example; dmarc=fail"], "shop.example", OURS) is AuthOutcome.FAIL


def test_failure_for_another_domain_does_not_refuse():
    header = "mx.shop.example; dkim=fail header.d=list.example; dmarc=pass header.from=shop.example"
    assert authentication_outcome([header], "shop.example", OURS) is AuthOutcome.PASS


CONFIG = """
[support]
from_address = "support@shop.example"
{extra}
[smtp]
host = "127.0.0.1"
[[mailboxes]]
name = "support"
host = "imap.shop.example"
username = "support@shop.example"
password_env = "MB_PW"
"""


def settings_with(tmp_path, extra: str):
    path = tmp_path / "mailbridge.toml"
    path.write_text(CONFIG.format(extra=extra))
    return load_settings(path)


def test_authserv_id_is_optional_and_read_in_lower_case(tmp_path, monkeypatch):
    monkeypatch.setenv("MB_PW", "pw")
    assert settings_with(tmp_path, "").support.authserv_id is None
    assert settings_with(tmp_path, 'authserv_id = "MX.Shop.Example"').support.authserv_id == "mx.shop.example"


def test_authserv_id_that_is_no_host_name_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("MB_PW", "pw")
    with pytest.raises(ConfigError) as caught:
        settings_with(tmp_path, 'authserv_id = "mx.shop.example; dmarc=pass"')
    assert "[support] authserv_id: expected the host name" in str(caught.value)
