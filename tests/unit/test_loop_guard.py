from datetime import UTC, datetime, timedelta

from mailbridge.base.config.settings import AutoMailLimits
from mailbridge.decisions.loop_guard import AutoMailHistory, decide_auto_mail, is_flooding

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
LIMITS = AutoMailLimits()


def history(**fields) -> AutoMailHistory:
    values = dict(
        sent_to_address_last_day=0, sent_to_ticket_in_burst_window=0, suppressed_until=None, suppression_reason=""
    )
    values.update(fields)
    return AutoMailHistory(**values)


def test_first_automatic_mail_is_allowed():
    assert decide_auto_mail(history(), LIMITS, NOW).allowed


def test_eleventh_automatic_mail_to_one_address_in_a_day_is_stopped():
    assert decide_auto_mail(history(sent_to_address_last_day=9), LIMITS, NOW).allowed
    decision = decide_auto_mail(history(sent_to_address_last_day=10), LIMITS, NOW)
    assert not decision.allowed and "today" in decision.reason


def test_burst_to_one_ticket_is_stopped():
    assert not decide_auto_mail(history(sent_to_ticket_in_burst_window=10), LIMITS, NOW).allowed


def test_bounced_address_gets_nothing_until_the_suppression_ends():
    bounced = history(suppressed_until=NOW + timedelta(days=60), suppression_reason="bounced")
    assert not decide_auto_mail(bounced, LIMITS, NOW).allowed
    assert decide_auto_mail(bounced, LIMITS, NOW + timedelta(days=61)).allowed


def test_sixteen_messages_in_ten_minutes_is_a_flood():
    assert not is_flooding(15, LIMITS)
    assert is_flooding(16, LIMITS)
