"""The `status --check` decision (figures in, state and one plugin line out) and the `[monitoring]`/`[metrics]` tables."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mailbridge.base.config.monitoring import MonitoringSettings
from mailbridge.base.config.settings import load_settings
from mailbridge.base.errors import ConfigError
from mailbridge.decisions.monitoring import (
    AuditFigures,
    CheckState,
    FailingJob,
    HealthFigures,
    MailboxFigures,
    evaluate_health,
    format_age,
    unknown_result,
)

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
LIMITS = MonitoringSettings()


def synced(name: str = "support", ago: timedelta = timedelta(minutes=1)) -> MailboxFigures:
    return MailboxFigures(name, NOW - ago, None)


def failing(
    name: str = "support", since: timedelta = timedelta(minutes=2), synced_ago: timedelta | None = None
) -> MailboxFigures:
    last = NOW - synced_ago if synced_ago is not None else None
    return MailboxFigures(name, last, NOW - since, "SourceError: login refused for 'support@shop.example'")


def figures(**overrides) -> HealthFigures:
    values = dict(mailboxes=(synced(),), unsent=0, oldest_unsent_at=None, held=0, quarantined=0, sla_breached=0)
    values.update(overrides)
    return HealthFigures(**values)


def check(limits: MonitoringSettings = LIMITS, **overrides):
    return evaluate_health(figures(**overrides), limits, NOW)


def summary(result) -> str:
    return result.line.split(" | ")[0]


def perf(result) -> dict[str, str]:
    return dict(item.split("=", 1) for item in result.line.split(" | ")[1].split())


# The state and its exit code.


def test_healthy_figures_are_ok_with_exit_code_0():
    result = check()
    assert result.state is CheckState.OK and int(result.state) == 0 and result.findings == ()
    assert summary(result) == ("MAILBRIDGE OK - 1 mailbox syncing, 0 unsent, 0 held, 0 quarantined, 0 past SLA")


def test_state_values_are_the_plugin_exit_codes():
    assert [int(s) for s in CheckState] == [0, 1, 2, 3]


def test_the_line_is_one_line_with_perfdata_after_a_bar():
    result = check(mailboxes=(failing(),))
    assert "\n" not in result.line and result.line.count(" | ") == 1


# Mailboxes.


def test_failing_mailbox_is_warning_at_once():
    result = check(mailboxes=(failing(since=timedelta(seconds=20), synced_ago=timedelta(minutes=1)),))
    assert result.state is CheckState.WARNING
    assert "mailbox support failing for 20s, last synced 1m ago: SourceError: login refused" in result.line


def test_a_failing_daemon_job_warns_at_once_and_is_critical_past_the_sync_limit():
    job = FailingJob("deliver_outbox", NOW - timedelta(minutes=3), "OperationalError: database is locked")
    result = check(failing_jobs=(job,))
    assert result.state is CheckState.WARNING
    assert "job deliver_outbox failing for 3m: OperationalError: database is locked" in result.line
    old = FailingJob("check_sla", NOW - timedelta(minutes=LIMITS.sync_critical_minutes), "TypeError: boom")
    assert check(failing_jobs=(job, old)).state is CheckState.CRITICAL
    assert check(failing_jobs=()).state is CheckState.OK


def test_failing_mailbox_silent_past_the_critical_threshold_is_critical():
    result = check(mailboxes=(failing(since=timedelta(minutes=30), synced_ago=timedelta(minutes=61)),))
    assert result.state is CheckState.CRITICAL and "last synced 1h 1m ago" in result.line


def test_failing_mailbox_that_never_synced_counts_from_its_first_failure():
    assert check(mailboxes=(failing(since=timedelta(minutes=59)),)).state is CheckState.WARNING
    result = check(mailboxes=(failing(since=timedelta(minutes=60)),))
    assert result.state is CheckState.CRITICAL and "never synced" in result.line


def test_mailbox_not_synced_for_the_warning_time_is_warning():
    assert check(mailboxes=(synced(ago=timedelta(minutes=14)),)).state is CheckState.OK
    result = check(mailboxes=(synced(ago=timedelta(minutes=15)),))
    assert result.state is CheckState.WARNING and "mailbox support last synced 15m ago" in result.line


def test_mailbox_not_synced_for_the_critical_time_is_critical_even_without_errors():
    # The daemon is down or its loop hangs: nothing records a failure, only the age tells.
    result = check(mailboxes=(synced(ago=timedelta(hours=2)),))
    assert result.state is CheckState.CRITICAL and "last synced 2h ago" in result.line


def test_mailbox_that_never_synced_is_warning():
    result = check(mailboxes=(MailboxFigures("support", None, None),))
    assert result.state is CheckState.WARNING and "mailbox support has never synced" in result.line


def test_one_failing_mailbox_of_two_is_named_alone():
    result = check(mailboxes=(synced("sales"), failing("support")))
    assert result.state is CheckState.WARNING and "support failing" in result.line and "sales" not in summary(result)


def test_worst_problem_comes_first():
    result = check(mailboxes=(failing("a"), synced("b", timedelta(hours=3))))
    assert result.state is CheckState.CRITICAL
    assert [f.state for f in result.findings] == [CheckState.CRITICAL, CheckState.WARNING]
    assert summary(result).startswith("MAILBRIDGE CRITICAL - mailbox b last synced 3h ago; mailbox a failing")


def test_multi_line_error_with_a_bar_stays_on_the_summary_side():
    mailbox = MailboxFigures("support", None, NOW, "OperationalError: line one | x\nline two")
    result = check(mailboxes=(mailbox,))
    assert "\n" not in result.line and result.line.count("|") == 1 and "line one / x line two" in result.line


def test_long_error_is_shortened():
    mailbox = MailboxFigures("support", None, NOW, "E" * 500)
    assert "E" * 117 + "..." in check(mailboxes=(mailbox,)).line and "E" * 118 not in check(mailboxes=(mailbox,)).line


def test_clock_behind_the_last_sync_is_no_negative_age():
    result = check(mailboxes=(MailboxFigures("support", NOW + timedelta(minutes=5), None),))
    assert result.state is CheckState.OK and perf(result)["sync_age_support"].startswith("0s;")


def test_no_mailboxes_is_ok():
    result = check(mailboxes=())
    assert result.state is CheckState.OK and "0 mailboxes syncing" in result.line


# The outbox.


def test_fresh_unsent_mail_is_ok():
    assert check(unsent=3, oldest_unsent_at=NOW - timedelta(minutes=2)).state is CheckState.OK


def test_unsent_mail_older_than_the_warning_time_is_warning():
    result = check(unsent=3, oldest_unsent_at=NOW - timedelta(minutes=20))
    assert result.state is CheckState.WARNING and "3 mails unsent, the oldest for 20m" in result.line


def test_unsent_mail_older_than_the_critical_time_is_critical():
    result = check(unsent=1, oldest_unsent_at=NOW - timedelta(hours=5))
    assert result.state is CheckState.CRITICAL and "1 mail unsent, the oldest for 5h" in result.line


# Held, quarantined, past SLA.


def test_held_mail_is_warning():
    result = check(held=1)
    assert result.state is CheckState.WARNING and summary(result) == "MAILBRIDGE WARNING - 1 mail held"


def test_quarantined_messages_are_warning():
    result = check(quarantined=2)
    assert result.state is CheckState.WARNING and "2 messages quarantined" in result.line


def test_tickets_past_their_sla_are_warning():
    result = check(sla_breached=4)
    assert result.state is CheckState.WARNING and "4 tickets past their first-response time" in result.line


def audited(missing: int = 0, marked: int = 0, unmarked: int = 0, error: str = "") -> AuditFigures:
    return AuditFigures("support", NOW - timedelta(hours=7), missing, marked, unmarked, error)


def test_a_clean_last_audit_is_ok():
    assert check(audits=(audited(),)).state is CheckState.OK


def test_a_last_audit_that_found_mail_missing_or_not_marked_is_warning():
    result = check(audits=(audited(missing=2, unmarked=1),))
    assert result.state is CheckState.WARNING
    assert summary(result) == (
        "MAILBRIDGE WARNING - mailbox support last audit (7h ago) found 2 missing, 1 stored but not marked "
        "(mailbridge mailboxes audit support --fix)"
    )
    marked = check(audits=(audited(marked=1),))
    assert "found 1 marked on the server but not stored (" in marked.line


def test_a_last_audit_that_could_not_run_is_warning():
    result = check(audits=(audited(error="SourceError: login refused"),))
    assert summary(result) == (
        "MAILBRIDGE WARNING - mailbox support last audit (7h ago) could not run: SourceError: login refused"
    )


def test_count_check_turned_off_with_zero():
    assert check(replace(LIMITS, held_warning_count=0), held=7).state is CheckState.OK


def test_count_critical_threshold_when_set():
    limits = replace(LIMITS, held_warning_count=1, held_critical_count=5)
    assert check(limits, held=4).state is CheckState.WARNING
    assert check(limits, held=5).state is CheckState.CRITICAL


def test_configured_warning_count_above_one():
    limits = replace(LIMITS, quarantined_warning_count=3)
    assert check(limits, quarantined=2).state is CheckState.OK
    assert check(limits, quarantined=3).state is CheckState.WARNING


def test_configured_sync_minutes():
    limits = replace(LIMITS, sync_warning_minutes=2, sync_critical_minutes=5)
    assert check(limits, mailboxes=(synced(ago=timedelta(minutes=3)),)).state is CheckState.WARNING
    assert check(limits, mailboxes=(synced(ago=timedelta(minutes=5)),)).state is CheckState.CRITICAL


# Performance data.


def test_perfdata_has_every_figure_with_thresholds():
    result = check(unsent=2, oldest_unsent_at=NOW - timedelta(seconds=90), held=1, quarantined=0, sla_breached=3)
    assert perf(result) == {
        "sync_age_support": "60s;900;3600;0",
        "unsent": "2;;;0",
        "oldest_unsent_age": "90s;900;3600;0",
        "held": "1;0;;0",
        "quarantined": "0;0;;0",
        "sla_breached": "3;0;;0",
    }


def test_perfdata_of_a_mailbox_that_never_synced_is_unknown():
    assert perf(check(mailboxes=(MailboxFigures("support", None, None),)))["sync_age_support"] == "U;900;3600;0"


def test_perfdata_label_with_a_space_is_quoted():
    result = check(mailboxes=(synced("Sales desk"),))
    assert "'sync_age_Sales desk'=60s;900;3600;0" in result.line


# UNKNOWN and durations.


def test_unknown_result_is_one_line_exit_3():
    result = unknown_result("mailbridge.toml: configuration file not found\nsecond line")
    assert int(result.state) == 3
    assert result.line == "MAILBRIDGE UNKNOWN - mailbridge.toml: configuration file not found second line"


@pytest.mark.parametrize(
    "seconds, text",
    [(0, "0s"), (45, "45s"), (60, "1m"), (61, "1m"), (3600, "1h"), (3720, "1h 2m"), (86400, "1d"), (97200, "1d 3h")],
)
def test_ages_are_said_briefly(seconds, text):
    assert format_age(seconds) == text


# The [monitoring] and [metrics] tables.

BASE = """
[support]
from_address = "support@shop.example"
[smtp]
host = "127.0.0.1"
"""


def load(tmp_path: Path, extra: str):
    path = tmp_path / "mailbridge.toml"
    path.write_text(BASE + extra, encoding="utf-8")
    return load_settings(path)


def test_monitoring_defaults_without_the_table(tmp_path):
    settings = load(tmp_path, "")
    assert settings.monitoring == MonitoringSettings() and settings.metrics.textfile is None


def test_monitoring_thresholds_are_read(tmp_path):
    settings = load(tmp_path, "[monitoring]\nsync_warning_minutes = 5\nheld_critical_count = 3\n")
    assert settings.monitoring.sync_warning_minutes == 5.0 and settings.monitoring.held_critical_count == 3


def test_monitoring_unknown_key_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match=r"\[monitoring\] held_warning: unknown key"):
        load(tmp_path, "[monitoring]\nheld_warning = 1\n")


def test_monitoring_critical_below_warning_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match=r"\[monitoring\] sync_critical_minutes: expected at least the warning"):
        load(tmp_path, "[monitoring]\nsync_warning_minutes = 30\nsync_critical_minutes = 10\n")


def test_monitoring_negative_count_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match=r"held_warning_count: expected an integer 0-1000000, got -1"):
        load(tmp_path, "[monitoring]\nheld_warning_count = -1\n")


def test_metrics_textfile_is_resolved_next_to_the_config(tmp_path):
    assert load(tmp_path, '[metrics]\ntextfile = "mailbridge.prom"\n').metrics.textfile == tmp_path / "mailbridge.prom"


def test_metrics_textfile_must_end_in_prom(tmp_path):
    with pytest.raises(ConfigError, match=r'\[metrics\] textfile: expected a path ending in ".prom"'):
        load(tmp_path, '[metrics]\ntextfile = "mailbridge.txt"\n')


def test_metrics_textfile_directory_must_exist(tmp_path):
    with pytest.raises(ConfigError, match=r"\[metrics\] textfile: expected a file in an existing directory"):
        load(tmp_path, '[metrics]\ntextfile = "nowhere/mailbridge.prom"\n')


def test_metrics_unknown_key_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match=r"\[metrics\] path: unknown key"):
        load(tmp_path, '[metrics]\npath = "x.prom"\n')
