from datetime import date

from mailbridge.decisions.agent_reply import (
    AgentIdentity,
    AuthOutcome,
    ReplyVerdict,
    authentication_outcome,
    judge_agent_reply,
)
from mailbridge.decisions.matching.reply_tokens import AGENT, make_token, verify_token

SECRET = "s3cret"
MARIA = AgentIdentity(7, "maria@shop.example", True)
TODAY = date(2026, 11, 24)


def judge(token, sender="maria@shop.example", auth="", agent=MARIA):
    claims = verify_token(token, SECRET, purpose=AGENT)
    return judge_agent_reply(
        claims, agent, sender=sender, authentication_results=[auth] if auth else [], today=TODAY, max_age_days=30
    )


def token(day=TODAY):
    return make_token(3, SECRET, purpose=AGENT, agent_id=7, issued_day=day)


def test_signed_reply_from_the_agent_is_accepted():
    assert judge(token()) is ReplyVerdict.ACCEPTED


def test_reply_from_another_address_is_refused():
    assert judge(token(), sender="mallory@evil.example") is ReplyVerdict.WRONG_SENDER


def test_tampered_token_is_refused():
    good = token()
    assert judge(good[:-1] + ("a" if good[-1] != "a" else "b")) is ReplyVerdict.BAD_SIGNATURE


def test_token_older_than_the_limit_is_refused():
    assert judge(token(date(2026, 10, 1))) is ReplyVerdict.EXPIRED


def test_inactive_agent_is_refused():
    assert judge(token(), agent=AgentIdentity(7, "maria@shop.example", False)) is ReplyVerdict.UNKNOWN_AGENT


def test_dkim_failure_for_agent_domain_is_refused():
    auth = "mx.shop.example; dkim=fail header.d=shop.example; spf=pass smtp.mailfrom=maria@shop.example"
    assert judge(token(), auth=auth) is ReplyVerdict.AUTH_FAILED


def test_failure_for_another_domain_does_not_count():
    header = "mx.shop.example; spf=fail smtp.mailfrom=x@other.example"
    assert authentication_outcome([header], "shop.example", None) is AuthOutcome.UNCONFIRMED
