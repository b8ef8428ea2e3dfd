"""The `status --check` rule on the daemons of a fleet: a daemon silent past its lease, a mailbox nobody holds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mailbridge.base.config.monitoring import MonitoringSettings
from mailbridge.decisions.monitoring import (
    CheckState,
    DaemonFigures,
    FleetFigures,
    HealthFigures,
    LeaseFigures,
    MailboxFigures,
    evaluate_health,
    fleet_findings,
)

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
LEASE = 60.0


def daemon(
    instance: str = "a1", beat_ago: float = 5, started_ago: float = 3600, pid: int = 4242, host: str = "mail1"
) -> DaemonFigures:
    return DaemonFigures(instance, host, pid, NOW - timedelta(seconds=started_ago), NOW - timedelta(seconds=beat_ago))


def held(mailbox: str, holder: str = "a1", for_seconds: float = 50) -> LeaseFigures:
    return LeaseFigures(mailbox, holder, NOW + timedelta(seconds=for_seconds))


def freed(mailbox: str, ago: float | None) -> LeaseFigures:
    return LeaseFigures(mailbox, None, None if ago is None else NOW - timedelta(seconds=ago))


def fleet(daemons=(), leases=(), mailboxes=("support",)) -> FleetFigures:
    return FleetFigures(tuple(daemons), tuple(leases), tuple(mailboxes), LEASE, NOW)


def silent(host: str, pid: int, age: str, removed: str = "once it is silent for 10m") -> str:
    return (
        f"daemon {host} pid {pid} silent for {age}, past its lease of 1m: hung, or killed without leaving; "
        f"the next `mailbridge run` or `run --once` removes its row {removed}"
    )


def texts(figures: FleetFigures) -> list[str]:
    found = fleet_findings(figures)
    assert all(f.state == CheckState.WARNING for f in found)
    return [f.text for f in found]


def test_a_beating_daemon_holding_every_mailbox_is_no_finding():
    assert texts(fleet([daemon()], [held("support")])) == []


def test_no_daemon_at_all_is_no_finding():
    # Polling by `run --once` from cron, or no daemon yet: the mailboxes' own sync ages tell.
    assert texts(fleet([], [])) == []


def test_daemon_silent_past_its_lease_warns_naming_host_and_pid():
    assert texts(fleet([daemon(beat_ago=75, host="mail2", pid=777)], [held("support", for_seconds=-15)])) == [
        silent("mail2", 777, "1m")
    ]


def test_daemon_silent_past_ten_leases_warns_that_the_next_run_removes_its_row():
    # Killed, and no `mailbridge run` since to forget it: the warning says what clears it.
    assert texts(fleet([daemon(beat_ago=601, pid=5)], [])) == [silent("mail1", 5, "10m", removed="past 10m")]


def test_daemon_silent_just_under_its_lease_is_no_finding():
    assert texts(fleet([daemon(beat_ago=59)], [held("support")])) == []


def test_daemon_silent_exactly_its_lease_warns():
    assert len(texts(fleet([daemon(beat_ago=60)], [held("support")]))) == 1


def test_stale_daemon_beside_a_live_one_is_named_alone():
    found = texts(fleet([daemon("a1", pid=1), daemon("b2", beat_ago=300, pid=2)], [held("support")]))
    assert found == [silent("mail1", 2, "5m")]


def test_mailbox_listed_but_never_leased_warns_once_a_daemon_has_run_a_lease():
    # A daemon started without this mailbox in its configuration (`mailboxes add` and no restart): no row at all.
    found = texts(fleet([daemon(started_ago=600)], [held("support")], mailboxes=("support", "sales")))
    assert found == ["mailbox sales held by no daemon for 10m while 1 daemon run"]


def test_mailbox_without_a_lease_right_after_the_daemon_started_is_no_finding():
    # Its first lease round comes at once; give it a lease to take the mailbox.
    assert texts(fleet([daemon(started_ago=2)], [], mailboxes=("support", "sales"))) == []


def test_mailbox_freed_a_moment_ago_is_a_hand_over_not_a_finding():
    # A daemon over its share frees a mailbox; another takes it at its next beat, a third of a lease later.
    assert texts(fleet([daemon("a1"), daemon("b2")], [freed("support", ago=15)])) == []


def test_mailbox_freed_a_lease_ago_and_not_taken_warns():
    found = texts(fleet([daemon("a1"), daemon("b2")], [freed("support", ago=90)]))
    assert found == ["mailbox support held by no daemon for 1m while 2 daemons run"]


def test_expired_lease_of_a_stale_daemon_not_taken_for_a_lease_warns_both():
    found = texts(fleet([daemon("a1"), daemon("dead", beat_ago=200, pid=9)], [held("support", "dead", -100)]))
    assert found == [
        silent("mail1", 9, "3m"),
        "mailbox support held by no daemon for 1m while 1 daemon run",
    ]


def test_lease_expired_just_now_is_being_taken_over_not_a_finding():
    assert texts(fleet([daemon("a1")], [held("support", "dead", -10)])) == []


def test_unexpired_lease_of_a_silent_daemon_still_counts_as_held():
    # The holder stopped beating but its lease has not run out yet: nobody may take it before it does.
    found = texts(fleet([daemon("a1"), daemon("b2", beat_ago=61)], [held("support", "b2", for_seconds=1)]))
    assert [t.split(" silent")[0] for t in found] == ["daemon mail1 pid 4242"]


def test_old_expiry_counts_only_from_when_the_live_daemons_started():
    # The fleet was down for a day and just came back: the lease expired long ago, but the gap is the daemons' start.
    assert texts(fleet([daemon(started_ago=10)], [held("support", "old", -86400)])) == []


def test_mailboxes_that_no_longer_exist_are_not_judged():
    assert texts(fleet([daemon()], [held("support"), freed("gone", ago=3600)])) == []


def test_no_mailbox_is_judged_while_no_daemon_lives():
    found = texts(fleet([daemon(beat_ago=3600)], [freed("support", ago=3600)], mailboxes=("support", "sales")))
    assert len(found) == 1 and found[0].startswith("daemon mail1 pid 4242 silent for 1h")


def test_check_with_a_stale_daemon_is_warning_exit_1():
    figures = HealthFigures(
        mailboxes=(MailboxFigures("support", NOW - timedelta(minutes=1), None),),
        unsent=0,
        oldest_unsent_at=None,
        held=0,
        quarantined=0,
        sla_breached=0,
        fleet=fleet([daemon("a1"), daemon("b2", beat_ago=120, host="mail2", pid=31)], [held("support")]),
    )
    result = evaluate_health(figures, MonitoringSettings(), NOW)
    assert result.state == CheckState.WARNING and int(result.state) == 1
    assert result.line.startswith("MAILBRIDGE WARNING - daemon mail2 pid 31 silent for 2m, past its lease of 1m")


def test_check_without_fleet_figures_judges_no_daemon():
    figures = HealthFigures(
        mailboxes=(MailboxFigures("support", NOW - timedelta(minutes=1), None),),
        unsent=0,
        oldest_unsent_at=None,
        held=0,
        quarantined=0,
        sla_breached=0,
    )
    assert evaluate_health(figures, MonitoringSettings(), NOW).state == CheckState.OK
