"""Issue 16 (no amplification): bounded notification text, attachments by size, agent rate limits, the blocklist in
the loop guard, and the `[agents]` and `[spam]` configuration tables."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from mailbridge.base.config.settings import AutoMailLimits, load_settings
from mailbridge.base.config.starter import EXAMPLE
from mailbridge.decisions.agent_commands import BLOCKING_COMMANDS, parse_agent_reply
from mailbridge.decisions.loop_guard import AutoMailHistory, decide_agent_notification, decide_auto_mail
from mailbridge.decisions.outgoing.notification_size import choose_attachments, excerpt, format_size
from tests.unit.test_config import BASE, error_for, write

MB = 1024 * 1024
NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def test_short_text_is_kept_whole():
    assert excerpt("Hello", 4000) == excerpt("Hello", 5) and excerpt("Hello", 5).cut_chars == 0


def test_long_text_is_cut_at_a_line_break_near_the_limit():
    text = "a" * 3950 + "\n" + "b" * 10_000
    cut = excerpt(text, 4000)
    assert cut.text == "a" * 3950 and cut.cut_chars == len(text) - 3950


def test_long_text_without_breaks_is_cut_at_the_limit():
    cut = excerpt("x" * 100_000, 4000)
    assert len(cut.text) == 4000 and cut.cut_chars == 96_000


def test_small_mode_attaches_files_while_they_fit_together():
    assert choose_attachments([MB, MB, 10], "small", 2 * MB) == (True, True, False)


def test_small_mode_skips_a_big_file_and_takes_a_later_small_one():
    assert choose_attachments([5 * MB, 100], "small", 2 * MB) == (False, True)


def test_none_and_all_modes():
    assert choose_attachments([1, 50 * MB], "none", 2 * MB) == (False, False)
    assert choose_attachments([1, 50 * MB], "all", 2 * MB) == (True, True)


def test_sizes_read_as_people_read_them():
    assert (format_size(512), format_size(12 * 1024), format_size(3 * MB + MB // 2)) == ("512 B", "12 KB", "3.5 MB")


def test_agent_notifications_stop_at_the_hourly_limit():
    assert decide_agent_notification(4, 5, sender_is_flooding=False).allowed
    stopped = decide_agent_notification(5, 5, sender_is_flooding=False)
    assert not stopped.allowed and "within an hour" in stopped.reason


def test_no_agent_notification_while_the_sender_floods():
    stopped = decide_agent_notification(0, 5, sender_is_flooding=True)
    assert not stopped.allowed and "flooding" in stopped.reason


def test_blocked_address_gets_no_automatic_mail():
    history = AutoMailHistory(0, 0, None, "", blocked_by="@spam.example")
    decision = decide_auto_mail(history, AutoMailLimits(), NOW)
    assert not decision.allowed and decision.reason == "address blocked (@spam.example)"


def test_spam_command_blocks_the_sender():
    reply = parse_agent_reply("#spam")
    assert [c.name for c in reply.commands] == ["spam"] and "spam" in BLOCKING_COMMANDS


def test_agents_and_spam_defaults(tmp_path, monkeypatch):
    monkeypatch.setenv("MB_PW", "pw")
    settings = load_settings(write(tmp_path, BASE))
    assert (settings.agents.attach_files, settings.agents.attach_max_bytes) == ("small", 2 * MB)
    assert (settings.agents.max_notifications_per_ticket_per_hour, settings.agents.excerpt_chars) == (5, 4000)
    assert (settings.spam.read_spam_headers, settings.spam.score_threshold, settings.spam.dmarc_fail_is_spam) == (
        True,
        5.0,
        True,
    )


def test_agents_and_spam_are_read(tmp_path, monkeypatch):
    monkeypatch.setenv("MB_PW", "pw")
    text = BASE + '[agents]\nattach_files = "none"\nmax_notifications_per_ticket_per_hour = 2\n'
    text += "[spam]\nscore_threshold = 8\ndmarc_fail_is_spam = false\n"
    settings = load_settings(write(tmp_path, text))
    assert settings.agents.attach_files == "none" and settings.agents.max_notifications_per_ticket_per_hour == 2
    assert settings.spam.score_threshold == 8.0 and not settings.spam.dmarc_fail_is_spam


def test_bad_attach_mode_names_the_key(tmp_path, monkeypatch):
    monkeypatch.setenv("MB_PW", "pw")
    message = error_for(tmp_path, BASE + '[agents]\nattach_files = "some"\n')
    assert message.endswith('[agents] attach_files: expected one of "none" | "small" | "all", got \'some\'')


@pytest.mark.parametrize("table", ["[agents]\nattach = 1\n", "[spam]\nthreshold = 5\n"])
def test_unknown_keys_are_errors(tmp_path, monkeypatch, table):
    monkeypatch.setenv("MB_PW", "pw")
    assert "unknown key" in error_for(tmp_path, BASE + table)


def test_example_configuration_shows_the_new_tables():
    text = Path(str(EXAMPLE)).read_text(encoding="utf-8")
    assert "[agents]" in text and "[spam]" in text and 'attach_files = "small"' in text
