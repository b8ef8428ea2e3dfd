"""Pure decisions about failing mailboxes and daemon jobs: backoff with jitter, one alert per outage or failure period
(one rule for both), the server step after intake."""

from datetime import UTC, datetime, timedelta

from mailbridge.base.config.settings import ConnectionSettings, MailboxSettings
from mailbridge.decisions.mailbox_health import Failing, compose_alert, plan_alert, retry_delay
from mailbridge.ingest.after_sync import ServerAction, ServerStep, is_unknown_mail, plan_server_step

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
HALF_HOUR = timedelta(minutes=30)


def mailbox(**overrides) -> MailboxSettings:
    connection = ConnectionSettings("127.0.0.1", 993, "ssl", True, None, None, None, 30.0)
    return MailboxSettings(
        name="support",
        connection=connection,
        folders=("INBOX",),
        contact="Customer service",
        initial_sync="new-only",
        **overrides,
    )


def test_backoff_doubles_from_15_seconds():
    assert [retry_delay(n, 1.0).total_seconds() for n in (1, 2, 3, 4)] == [15, 30, 60, 120]


def test_backoff_is_capped_at_30_minutes():
    assert retry_delay(50, 1.0) == timedelta(minutes=30)


def test_jitter_spreads_the_delay_between_half_and_full():
    assert retry_delay(3, 0.0) == timedelta(seconds=30) and retry_delay(3, 0.5) == timedelta(seconds=45)


def alert(**overrides):
    values = dict(
        about=Failing.MAILBOX,
        name="support",
        last_success_at=NOW - timedelta(hours=1),
        failing_since=NOW - HALF_HOUR,
        alerted_at=None,
        last_error="login refused",
        alert_after=HALF_HOUR,
        now=NOW,
    )
    values.update(overrides)
    return plan_alert(**values)


def test_mailbox_silent_longer_than_the_limit_is_reported():
    planned = alert()
    assert planned.since == NOW - timedelta(hours=1)
    assert planned.dedupe_key == "mailbox-alert:support:20260105T083000"


def test_healthy_mailbox_is_not_reported():
    assert alert(failing_since=None) is None


def test_recent_success_is_not_reported_yet():
    assert alert(last_success_at=NOW - timedelta(minutes=10), failing_since=NOW - timedelta(minutes=5)) is None


def test_mailbox_that_never_synced_counts_from_its_first_failure():
    assert alert(last_success_at=None, failing_since=NOW - timedelta(minutes=29)) is None
    assert alert(last_success_at=None, failing_since=NOW - HALF_HOUR) is not None


def test_an_outage_is_reported_once():
    assert alert(alerted_at=NOW - timedelta(minutes=1)) is None


def test_a_new_outage_is_reported_again():
    assert alert(alerted_at=NOW - timedelta(hours=2)) is not None


def test_alert_mail_is_auto_generated():
    mail = compose_alert(
        alert(),
        from_name="Support",
        from_address="support@shop.example",
        admin_address="admin@shop.example",
        message_id="<a@shop.example>",
        now=NOW,
        instance_id="i1",
    )
    assert mail["Auto-Submitted"] == "auto-generated" and mail["To"] == "admin@shop.example"
    assert mail["X-Mailbridge-Loop"] == "i1"
    assert "support" in mail["Subject"] and "login refused" in mail.get_content()


def job_alert(**overrides):
    values = dict(about=Failing.JOB, name="deliver_outbox", last_error="database or disk is full")
    values.update(overrides)
    return alert(**values)


def test_job_failing_longer_than_the_limit_is_reported_from_its_first_failure():
    planned = job_alert()
    assert planned.since == NOW - HALF_HOUR  # not the last success an hour ago
    assert planned.dedupe_key == "job-alert:deliver_outbox:20260105T083000"


def test_job_is_not_reported_before_the_limit_however_old_its_last_success():
    # The daemon was stopped for a day: the job's first failure since, a minute ago, is no 24-hour outage.
    assert job_alert(last_success_at=NOW - timedelta(days=1), failing_since=NOW - timedelta(minutes=1)) is None
    assert job_alert(failing_since=NOW - timedelta(minutes=29, seconds=59)) is None


def test_job_that_works_again_is_not_reported():
    assert job_alert(failing_since=None) is None


def test_each_failure_period_of_a_job_has_its_own_key():
    first = job_alert(failing_since=NOW - timedelta(hours=3), now=NOW - timedelta(hours=2))
    second = job_alert()
    assert first.dedupe_key != second.dedupe_key


def test_mailbox_and_job_of_one_name_have_different_keys():
    assert alert(name="x").dedupe_key != job_alert(name="x").dedupe_key


def test_job_alert_mail_names_the_job_since_when_and_the_error():
    mail = compose_alert(
        job_alert(name="loop:poll:support", last_error="poll loop crashed: TypeError: bad"),
        from_name="Support",
        from_address="support@shop.example",
        admin_address="admin@shop.example",
        message_id="<a@shop.example>",
        now=NOW,
        instance_id="i1",
    )
    assert mail["Subject"] == "mailbridge: daemon job loop:poll:support failing since 2026-01-05 08:30 UTC"
    assert mail["Auto-Submitted"] == "auto-generated" and mail["To"] == "admin@shop.example"
    text = mail.get_content()
    assert "since 2026-01-05T08:30:00+00:00" in text and "poll loop crashed: TypeError: bad" in text
    assert "once delivery worked again" in text


def test_unknown_mail_is_only_mail_without_ticket_when_creation_is_off():
    assert is_unknown_mail(None, create_tickets_for_unknown=False)
    assert not is_unknown_mail(7, create_tickets_for_unknown=False)
    assert not is_unknown_mail(None, create_tickets_for_unknown=True)


def test_unknown_mail_is_left_or_moved_aside():
    assert plan_server_step(mailbox(), is_unknown=True) == ServerStep(ServerAction.LEAVE)
    assert plan_server_step(mailbox(unknown_folder="Unknown"), is_unknown=True) == ServerStep(
        ServerAction.MOVE, "Unknown"
    )


def test_known_mail_follows_after_sync():
    assert plan_server_step(mailbox(), is_unknown=False) == ServerStep(ServerAction.SEEN)
    assert plan_server_step(mailbox(after_sync="move:Done"), is_unknown=False) == ServerStep(ServerAction.MOVE, "Done")
    assert plan_server_step(mailbox(after_sync="delete"), is_unknown=False).action is ServerAction.DELETE
