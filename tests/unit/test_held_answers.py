"""Issue 19: answers that wait. The undo window's due time, what a recall does, and whether a reply is out of date."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from mailbridge.base.config.agents import AgentMailSettings
from mailbridge.decisions.agent_commands import parse_agent_reply
from mailbridge.decisions.held_answers import (
    HeldState,
    Recall,
    TicketChange,
    answers_customer,
    carried_status,
    find_collision,
    held_command,
    recall_of,
    release_time,
    seen_time,
)
from mailbridge.decisions.outgoing.held_words import HELD_PHRASES, clock_words, held_phrase

NOW = datetime(2026, 11, 24, 10, 2, tzinfo=UTC)
MARIA = "maria@shop.example"
MARCO = "marco@shop.example"


def test_the_product_default_is_a_sixty_second_window():
    assert AgentMailSettings().send_delay_seconds == 60


def test_answer_waits_the_configured_delay():
    assert release_time(NOW, 60) == NOW + timedelta(seconds=60)


def test_zero_delay_sends_at_once():
    assert release_time(NOW, 0) is None


@pytest.mark.parametrize(
    ("state", "recall"),
    [
        (HeldState.WAITING, Recall.RECALLED),
        (HeldState.RELEASED, Recall.ALREADY_SENT),
        (HeldState.CANCELLED, Recall.NOTHING),
        (HeldState.STALE, Recall.NOTHING),
        (HeldState.CONFIRMED, Recall.NOTHING),
    ],
)
def test_only_a_waiting_answer_can_be_taken_back(state, recall):
    assert recall_of(state) is recall


def test_cancel_and_send_are_commands_without_argument():
    assert held_command(parse_agent_reply("#cancel")) == "cancel"
    assert held_command(parse_agent_reply("#SEND\n")) == "send"
    assert parse_agent_reply("#cancel now").problems


def test_plain_answer_answers_the_customer():
    assert answers_customer(parse_agent_reply("Your parcel left today."))


def test_note_forward_and_held_commands_do_not_answer_the_customer():
    for text in ("#note checked the stock", "#forward ops@shop.example\nPlease check", "#send", "#cancel\nOops"):
        assert not answers_customer(parse_agent_reply(text)), text


def test_the_last_status_command_is_carried():
    assert carried_status(parse_agent_reply("#pending1\n#close\nDone.")) == "closed"
    assert carried_status(parse_agent_reply("Done.")) is None


def test_reply_to_a_notification_after_another_agents_answer_is_stale():
    seen = NOW - timedelta(minutes=5)
    answered = TicketChange(NOW - timedelta(minutes=1), "answered", MARCO, "Marco")
    collision = find_collision(seen, MARIA, [answered])
    assert collision is not None and collision.who == "Marco" and collision.change.kind == "answered"


def test_own_earlier_answer_is_no_collision():
    seen = NOW - timedelta(minutes=5)
    assert find_collision(seen, MARIA, [TicketChange(NOW, "answered", MARIA.upper())]) is None


def test_answer_before_the_notification_is_no_collision():
    seen = NOW
    assert find_collision(seen, MARIA, [TicketChange(NOW - timedelta(seconds=1), "answered", MARCO)]) is None


def test_reassignment_to_another_agent_is_stale():
    collision = find_collision(NOW - timedelta(hours=1), MARIA, [TicketChange(NOW, "assigned", MARCO)])
    assert collision is not None and collision.who == MARCO and collision.change.kind == "assigned"


def test_answer_wins_over_the_assignment_it_made_at_the_same_moment():
    changes = [TicketChange(NOW, "assigned", MARCO), TicketChange(NOW, "answered", MARCO)]
    collision = find_collision(NOW - timedelta(minutes=1), MARIA, changes)
    assert collision is not None and collision.change.kind == "answered"


def test_a_reply_naming_none_of_our_mails_is_never_stale():
    assert find_collision(None, MARIA, [TicketChange(NOW, "answered", MARCO)]) is None


def test_seen_time_is_the_mail_answered_first_then_the_newest_reference():
    sent = {"<a@x>": NOW - timedelta(hours=2), "<b@x>": NOW - timedelta(hours=1)}
    assert seen_time(["<a@x>", "<b@x>"], sent) == NOW - timedelta(hours=2)
    assert seen_time(["<other@y>", "<a@x>", "<b@x>"], sent) == NOW - timedelta(hours=1)
    assert seen_time(["<other@y>"], sent) is None
    assert seen_time([], sent) is None


def test_every_locale_has_every_held_phrase():
    keys = set(HELD_PHRASES["en"])
    for locale, words in HELD_PHRASES.items():
        assert set(words) == keys, locale
        line = held_phrase("stale_answered", locale, number="123", name="Marco", time="10:02")
        assert "#send" in line and "Marco" in line and "10:02" in line


def test_unknown_locale_falls_back_to_english():
    assert held_phrase("taken", "fi", number="123", name="Marco") == "Marco took ticket #123."


def test_clock_words_say_the_time_in_the_zone_with_its_abbreviation():
    rome, athens = ZoneInfo("Europe/Rome"), ZoneInfo("Europe/Athens")
    assert clock_words(NOW + timedelta(seconds=60), NOW, rome) == "11:03 (CET)"
    assert clock_words(NOW, NOW, athens) == "12:02 (EET)"
    assert clock_words(datetime(2026, 7, 1, 8, 0, tzinfo=UTC), datetime(2026, 7, 1, 9, 0, tzinfo=UTC), rome) == (
        "10:00 (CEST)"
    )
    assert clock_words(NOW.replace(tzinfo=None), NOW, ZoneInfo("UTC")) == "10:02 (UTC)"  # SQLite's naive UTC
    assert clock_words(None, NOW, rome) == "?"


def test_clock_words_give_the_date_of_another_day_in_the_zone():
    yesterday = NOW - timedelta(days=1)
    assert clock_words(yesterday, NOW, ZoneInfo("Europe/Rome")) == "2026-11-23 11:02 (CET)"
    late = datetime(2026, 11, 24, 23, 30, tzinfo=UTC)  # the same UTC day, the next one in Tokyo
    assert clock_words(late, NOW, ZoneInfo("Asia/Tokyo")) == "2026-11-25 08:30 (JST)"
