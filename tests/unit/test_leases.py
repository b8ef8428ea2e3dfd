"""decisions/leases.py: which mailboxes a daemon keeps, takes and gives up in a lease round; who is alive."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mailbridge.decisions.leases import (
    FORGET_AFTER_LEASES,
    Lease,
    LeasePlan,
    OncePlan,
    fair_share,
    forget_before,
    held_by,
    is_live,
    live_daemons,
    next_round_seconds,
    plan_leases,
    plan_once,
    round_settled,
)

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
LATER = NOW + timedelta(seconds=30)
EARLIER = NOW - timedelta(seconds=1)
BOXES = ["a", "b", "c", "d"]


def test_fair_share_rounds_up_and_a_lone_daemon_takes_all():
    assert [fair_share(4, n) for n in (0, 1, 2, 3, 4, 5)] == [4, 4, 2, 2, 1, 1]
    assert fair_share(0, 2) == 0


def test_live_daemons_are_those_that_beat_within_the_lease():
    beats = {"x": NOW - timedelta(seconds=59), "y": NOW - timedelta(seconds=60), "z": NOW}
    assert live_daemons(beats, NOW, timedelta(seconds=60)) == {"x", "z"}


def test_a_lone_daemon_takes_every_free_mailbox():
    assert plan_leases("me", BOXES, {}, {"me"}, NOW) == LeasePlan((), tuple(BOXES), ())


def test_two_daemons_starting_together_reach_for_different_mailboxes():
    first = plan_leases("d1", BOXES, {}, {"d1", "d2"}, NOW)
    second = plan_leases("d2", BOXES, {}, {"d1", "d2"}, NOW)
    assert len(first.take) == len(second.take) == 2
    assert set(first.take).isdisjoint(second.take)


def test_a_daemon_keeps_its_share_and_gives_up_the_rest_when_another_lives():
    leases = {m: Lease("d1", LATER) for m in BOXES}
    plan = plan_leases("d1", BOXES, leases, {"d1", "d2"}, NOW)
    assert plan == LeasePlan(("a", "b"), (), ("c", "d"))
    # The other takes nothing that is still held and unexpired.
    assert plan_leases("d2", BOXES, leases, {"d1", "d2"}, NOW).take == ()


def test_a_daemon_short_of_its_share_waits_while_another_holds_more_than_its_own():
    leases = {m: Lease("d1", LATER) for m in BOXES}
    assert plan_leases("d2", BOXES, leases, {"d1", "d2"}, NOW).waiting
    # It has its share: nothing to wait for.
    leases = {"a": Lease("d1", LATER), "b": Lease("d1", LATER), "c": Lease("d2", LATER), "d": Lease("d2", LATER)}
    assert not plan_leases("d2", BOXES, leases, {"d1", "d2"}, NOW).waiting
    # Fewer mailboxes than daemons: the third holds none, and no one holds more than its share of one.
    leases = {"a": Lease("d1", LATER), "b": Lease("d2", LATER)}
    assert not plan_leases("d3", ["a", "b"], leases, {"d1", "d2", "d3"}, NOW).waiting
    # The surplus is held by a daemon no longer alive: its leases expire, nobody gives them up sooner.
    leases = {m: Lease("dead", LATER) for m in BOXES}
    assert not plan_leases("d2", BOXES, leases, {"d1", "d2"}, NOW).waiting


def test_a_daemon_taking_free_mailboxes_up_to_its_share_is_not_waiting():
    leases = {"a": Lease("d1", LATER), "b": Lease("d1", LATER), "c": Lease("d1", LATER)}
    plan = plan_leases("d2", BOXES, leases, {"d1", "d2"}, NOW)
    assert plan.take == ("d",) and plan.waiting  # one free, one more to come from d1's surplus
    leases = {"a": Lease("d1", LATER), "b": Lease("d1", LATER)}
    plan = plan_leases("d2", BOXES, leases, {"d1", "d2"}, NOW)
    assert set(plan.take) == {"c", "d"} and not plan.waiting


def test_the_next_lease_round_comes_after_a_beat_once_settled_and_after_a_second_while_not():
    assert next_round_seconds(True, 5.0) == 5.0
    assert next_round_seconds(False, 5.0) == 1.0
    assert next_round_seconds(False, 0.5) == 0.5  # a lease of 1.5 s beats more often than that anyway


def test_a_round_that_changed_nothing_and_saw_the_same_daemons_is_settled():
    assert round_settled(False, False, {"d1", "d2"}, frozenset({"d2", "d1"}))


def test_a_round_that_took_gave_up_or_lost_a_lease_is_not_settled():
    assert not round_settled(True, False, {"d1"}, {"d1"})


def test_a_round_short_of_its_share_while_another_holds_more_is_not_settled():
    assert not round_settled(False, True, {"d1", "d2"}, {"d1", "d2"})


def test_a_round_that_saw_a_daemon_join_leave_or_die_is_not_settled():
    assert not round_settled(False, False, {"d1"}, {"d1", "d2"})  # joined
    assert not round_settled(False, False, {"d1", "d2", "d3"}, {"d1", "d2"})  # left or silent past its lease
    assert not round_settled(False, False, set(), {"d1"})  # the first round of a daemon


def test_the_released_mailboxes_are_taken_by_the_other_daemon():
    leases = {"a": Lease("d1", LATER), "b": Lease("d1", LATER), "c": Lease(None, None), "d": Lease(None, None)}
    assert plan_leases("d2", BOXES, leases, {"d1", "d2"}, NOW) == LeasePlan((), ("c", "d"), ())


def test_an_expired_lease_of_a_dead_daemon_is_taken_over():
    leases = {m: Lease("dead", EARLIER) for m in BOXES}
    assert plan_leases("me", BOXES, leases, {"me"}, NOW).take == tuple(BOXES)


def test_an_unexpired_lease_of_a_silent_daemon_is_left_until_it_expires():
    leases = {"a": Lease("hung", LATER), "b": Lease("hung", EARLIER)}
    plan = plan_leases("me", ["a", "b"], leases, {"me"}, NOW)
    assert plan == LeasePlan((), ("b",), ())


def test_a_lease_expiring_exactly_now_is_free():
    assert plan_leases("me", ["a"], {"a": Lease("other", NOW)}, {"me", "other"}, NOW).take == ("a",)


def test_own_lease_past_its_expiry_is_kept_not_taken_again():
    # No one took it (the row still names this daemon): it is renewed, never raced for.
    plan = plan_leases("me", ["a"], {"a": Lease("me", EARLIER)}, {"me"}, NOW)
    assert plan == LeasePlan(("a",), (), ())


def test_a_daemon_never_takes_beyond_its_share_while_others_live():
    leases = {"a": Lease("d1", LATER)}
    plan = plan_leases("d1", BOXES, leases, {"d1", "d2", "d3"}, NOW)
    assert fair_share(4, 3) == 2 and len(plan.keep) + len(plan.take) == 2


def test_the_survivor_of_three_takes_the_dead_ones_mailboxes_up_to_the_new_share():
    leases = {"a": Lease("d1", LATER), "b": Lease("d2", LATER), "c": Lease("d3", EARLIER), "d": Lease("d3", EARLIER)}
    plan = plan_leases("d1", BOXES, leases, {"d1", "d2"}, NOW)
    assert plan.keep == ("a",) and len(plan.take) == 1 and set(plan.take) <= {"c", "d"}


def test_mailboxes_no_longer_configured_are_ignored():
    leases = {"gone": Lease("me", LATER), "a": Lease(None, None)}
    assert plan_leases("me", ["a"], leases, {"me"}, NOW) == LeasePlan((), ("a",), ())


def test_a_daemon_is_running_until_its_beat_is_a_lease_old_then_stopped():
    lease = timedelta(seconds=60)
    assert is_live(NOW - timedelta(seconds=59.9), NOW, lease)
    assert not is_live(NOW - lease, NOW, lease)  # `status` shows it as stopped, `status --check` warns
    assert not is_live(None, NOW, lease)


def test_a_run_forgets_a_daemon_silent_for_ten_leases():
    lease = timedelta(seconds=30)
    assert FORGET_AFTER_LEASES == 10
    before = forget_before(NOW, lease)
    assert before == NOW - timedelta(minutes=5)
    # The rows removed are those whose last beat is strictly older: one silent just under ten leases stays.
    assert NOW - timedelta(seconds=301) < before < NOW - timedelta(seconds=299)


def test_run_once_takes_free_and_expired_leases_and_skips_the_held_ones():
    leases = {
        "a": Lease("d1", LATER),  # a live daemon's
        "b": Lease("dead", EARLIER),  # expired: taken over
        "c": Lease(None, EARLIER),  # freed by a clean stop
        "e": Lease("once-1", LATER),  # another run --once
    }
    assert plan_once([*BOXES, "e"], leases, NOW) == OncePlan(("b", "c", "d"), (("a", "d1"), ("e", "once-1")))


def test_run_once_alone_takes_every_mailbox():
    assert plan_once(BOXES, {}, NOW) == OncePlan(tuple(BOXES), ())
    assert plan_once(BOXES, {m: Lease("d1", NOW) for m in BOXES}, NOW).take == tuple(BOXES)  # expiring now: free


def test_held_by_names_the_daemon_by_host_and_pid():
    assert held_by("d-1", ("mail1", 4242)) == "held by daemon mail1:4242"


def test_held_by_another_run_once_says_so():
    assert held_by("once-0a1b2c3d4e5f", None) == "held by another `run --once`"


def test_held_by_a_holder_whose_row_is_gone_names_the_holder():
    assert held_by("d-9", None) == "held by d-9"
    assert held_by(None, None) == "held by another process"
    assert held_by("", None) == "held by another process"
