"""The desk view's pure parts: which customer messages are unanswered, and how a time is shown."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from mailbridge.decisions.kinds import Direction, MessageKind
from mailbridge.reports.render import format_time, with_local_times
from mailbridge.reports.tickets import unanswered_messages
from mailbridge.store.models import Message

ROME = ZoneInfo("Europe/Rome")


def thread(*kinds: MessageKind) -> list[Message]:
    """Unsaved Message rows of these kinds, numbered in stored order."""
    out = {MessageKind.AGENT_REPLY, MessageKind.AGENT_NOTE}
    return [
        Message(id=i, kind=k, direction=Direction.OUTBOUND if k in out else Direction.INBOUND)
        for i, k in enumerate(kinds, 1)
    ]


def ids(messages: list[Message]) -> list[int | None]:
    return [m.id for m in messages]


def test_a_follow_up_keeps_the_original_request_first():
    assert ids(unanswered_messages(thread(MessageKind.CUSTOMER, MessageKind.CUSTOMER))) == [1, 2]


def test_only_messages_after_the_last_answer_are_unanswered():
    messages = thread(MessageKind.CUSTOMER, MessageKind.AGENT_REPLY, MessageKind.CUSTOMER, MessageKind.CUSTOMER)
    assert ids(unanswered_messages(messages)) == [3, 4]


def test_a_bounce_or_auto_reply_after_the_request_does_not_hide_it():
    messages = thread(MessageKind.CUSTOMER, MessageKind.BOUNCE, MessageKind.AUTO_REPLY)
    assert ids(unanswered_messages(messages)) == [1]


def test_an_internal_note_is_not_an_answer():
    assert ids(unanswered_messages(thread(MessageKind.CUSTOMER, MessageKind.AGENT_NOTE))) == [1]


def test_an_answered_ticket_has_nothing_unanswered():
    assert unanswered_messages(thread(MessageKind.CUSTOMER, MessageKind.AGENT_REPLY)) == []


def test_a_ticket_of_automatic_mail_only_has_nothing_unanswered():
    assert unanswered_messages(thread(MessageKind.AUTO_REPLY, MessageKind.BOUNCE)) == []


def test_time_is_shown_in_the_zone_with_its_offset_to_the_second():
    when = datetime(2026, 12, 2, 13, 3, 7, 654321, tzinfo=UTC)
    assert format_time(when, ROME) == "2026-12-02 14:03:07 +01:00"


def test_summer_time_shows_its_own_offset():
    assert format_time(datetime(2026, 7, 1, 8, 0, tzinfo=UTC), ROME) == "2026-07-01 10:00:00 +02:00"


def test_a_naive_time_is_taken_as_utc():
    assert format_time(datetime(2026, 12, 2, 13, 3, 7), ROME) == "2026-12-02 14:03:07 +01:00"


def test_iso_time_for_json_carries_the_offset():
    assert format_time(datetime(2026, 12, 2, 13, 3, 7, 5, tzinfo=UTC), ROME, iso=True) == "2026-12-02T14:03:07+01:00"


def test_no_time_is_a_dash_in_text_and_none_in_json():
    assert (format_time(None, ROME), format_time(None, ROME, iso=True)) == ("-", None)


def test_every_time_inside_nested_data_becomes_iso_in_the_zone():
    when = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    data = {"at": when, "messages": [{"stored_at": when, "n": 1}], "closed_at": None}
    assert with_local_times(data, ROME) == {
        "at": "2026-01-05T10:00:00+01:00",
        "messages": [{"stored_at": "2026-01-05T10:00:00+01:00", "n": 1}],
        "closed_at": None,
    }
