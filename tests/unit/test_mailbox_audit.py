"""The mailbox audit's decisions (decisions/mailbox_audit.py): what counts as lost, unmarked or not yet polled."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from mailbridge.decisions.mailbox_audit import (
    AfterSync,
    Finding,
    FolderFacts,
    after_sync_action,
    audit_folder,
    is_silent_fix,
    next_audit_at,
    shorten,
    summary_counts,
    summary_line,
    to_import,
    to_mark,
    unmatched_uids,
)

SEEN = frozenset({"\\seen"})
UNSEEN = frozenset()
NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def facts(server, stored, *, last_uid=10, start_uid=0, polled=7, uidvalidity=7) -> FolderFacts:
    return FolderFacts("INBOX", uidvalidity, server, stored, polled, last_uid, start_uid)


def findings(result) -> dict[int, Finding]:
    return {d.uid: d.finding for d in result.findings}


def test_stored_and_seen_messages_are_clean():
    result = audit_folder(facts({1: SEEN, 2: SEEN}, {1: "customer", 2: "customer"}), AfterSync.SEEN)
    assert result.findings == () and (result.on_server, result.stored) == (2, 2)


def test_seen_on_the_server_without_a_row_is_marked_not_stored():
    result = audit_folder(facts({1: SEEN, 2: SEEN}, {1: "customer"}), AfterSync.SEEN)
    assert findings(result) == {2: Finding.MARKED_NOT_STORED}


def test_unseen_below_the_position_without_a_row_is_missing():
    assert findings(audit_folder(facts({3: UNSEEN}, {}), AfterSync.SEEN)) == {3: Finding.MISSING}


def test_stored_but_unseen_is_stored_not_marked():
    assert findings(audit_folder(facts({4: UNSEEN}, {4: "customer"}), AfterSync.SEEN)) == {4: Finding.STORED_NOT_MARKED}


def test_above_the_position_is_not_yet_polled_and_no_problem():
    result = audit_folder(facts({11: UNSEEN, 12: SEEN}, {}), AfterSync.SEEN)
    assert findings(result) == {11: Finding.NOT_YET_POLLED, 12: Finding.NOT_YET_POLLED}
    assert summary_counts([result])["missing"] == 0


def test_stored_above_the_position_is_the_crash_window_not_a_problem():
    assert audit_folder(facts({11: UNSEEN}, {11: "customer"}), AfterSync.SEEN).findings == ()


def test_below_the_initial_sync_line_is_left_out():
    result = audit_folder(facts({1: UNSEEN, 2: UNSEEN, 6: SEEN}, {6: "customer"}, start_uid=5), AfterSync.SEEN)
    assert result.findings == () and result.before_start == 2


def test_never_polled_folder_is_all_not_yet_polled():
    result = audit_folder(facts({1: SEEN, 2: UNSEEN}, {}, polled=None, last_uid=0), AfterSync.SEEN)
    assert set(findings(result).values()) == {Finding.NOT_YET_POLLED}


def test_changed_uidvalidity_is_reported_and_nothing_is_called_lost():
    result = audit_folder(facts({1: SEEN}, {}, polled=6), AfterSync.SEEN)
    assert result.uidvalidity_changed and findings(result) == {1: Finding.NOT_YET_POLLED}
    assert unmatched_uids(facts({1: SEEN}, {}, polled=6)) == []


def test_keep_never_reports_unmarked_but_still_reports_missing():
    result = audit_folder(facts({1: UNSEEN, 2: UNSEEN}, {1: "customer"}), AfterSync.KEEP)
    assert findings(result) == {2: Finding.MISSING}


def test_move_reports_a_stored_message_still_in_the_folder():
    assert findings(audit_folder(facts({1: SEEN}, {1: "customer"}), AfterSync.MOVE)) == {1: Finding.STORED_NOT_MARKED}


def test_delete_accepts_a_deleted_flag_and_keeps_too_large_mail():
    server = {1: frozenset({"\\deleted"}), 2: UNSEEN, 3: frozenset({"\\deleted"})}
    result = audit_folder(facts(server, {1: "customer", 2: "too_large"}), AfterSync.DELETE)
    assert findings(result) == {3: Finding.MARKED_NOT_STORED}


def test_quarantined_mail_counts_as_stored_and_flagged():
    result = audit_folder(facts({1: SEEN}, {1: "quarantined"}), AfterSync.SEEN)
    assert result.findings == () and result.flagged == 1


def test_unmatched_uids_are_the_passed_ones_without_a_row():
    assert unmatched_uids(facts({1: SEEN, 2: SEEN, 3: UNSEEN, 11: UNSEEN}, {1: "customer"}, start_uid=1)) == [2, 3]


def test_fix_imports_every_unstored_message_and_marks_the_unmarked():
    server = {1: SEEN, 2: UNSEEN, 3: UNSEEN, 11: UNSEEN}
    result = audit_folder(facts(server, {3: "customer"}), AfterSync.SEEN)
    assert to_import(result) == [1, 2, 11] and to_mark(result) == [3]


def test_after_sync_action_reads_move_with_its_folder():
    assert after_sync_action("move:Done") is AfterSync.MOVE and after_sync_action("seen") is AfterSync.SEEN


def test_old_or_undated_mail_is_fixed_silently():
    assert is_silent_fix(None, NOW)
    assert is_silent_fix(NOW - timedelta(days=2), NOW)
    assert not is_silent_fix(NOW - timedelta(hours=3), NOW)


def test_next_audit_is_the_coming_hour_in_the_zone():
    rome = ZoneInfo("Europe/Rome")
    assert next_audit_at(NOW, 3, rome) == datetime(2026, 1, 6, 3, 0, tzinfo=rome)
    assert next_audit_at(NOW, 11, rome) == datetime(2026, 1, 5, 11, 0, tzinfo=rome)
    # Exactly at the hour: the next night.
    at_three = datetime(2026, 1, 6, 3, 0, tzinfo=rome)
    assert next_audit_at(at_three, 3, rome) == datetime(2026, 1, 7, 3, 0, tzinfo=rome)


def test_shorten_keeps_one_line_within_the_width():
    assert shorten("Order\r\n 1234   late", 40) == "Order 1234 late"
    assert shorten("x" * 50, 10) == "x" * 9 + "…"


def test_summary_line_says_nothing_lost_only_when_clean():
    clean = summary_counts([audit_folder(facts({1: SEEN}, {1: "customer"}), AfterSync.SEEN)])
    assert summary_line("support", clean, []).endswith("0 not yet polled; nothing lost")
    lost = summary_counts([audit_folder(facts({1: UNSEEN}, {}), AfterSync.SEEN)])
    line = summary_line("support", lost, ["INBOX"])
    assert "1 missing" in line and "nothing lost" not in line and "UIDVALIDITY changed" in line
