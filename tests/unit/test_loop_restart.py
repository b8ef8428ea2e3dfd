"""The supervisor's backoff for a daemon loop that ended unexpectedly (decisions/loop_restart.py)."""

from __future__ import annotations

from datetime import timedelta

from mailbridge.decisions.loop_restart import STEADY_RUN, plan_restart


def test_first_crash_waits_fifteen_seconds_at_most():
    restart = plan_restart(0, timedelta(seconds=3), jitter=0.999)
    assert restart.in_a_row == 1
    assert timedelta(seconds=14.9) < restart.delay <= timedelta(seconds=15)


def test_crashes_in_a_row_double_the_wait():
    delays = [plan_restart(n, timedelta(seconds=1), jitter=1.0).delay for n in range(4)]
    assert delays == [timedelta(seconds=s) for s in (15, 30, 60, 120)]


def test_wait_never_exceeds_thirty_minutes():
    restart = plan_restart(50, timedelta(seconds=1), jitter=1.0)
    assert restart.in_a_row == 51 and restart.delay == timedelta(minutes=30)


def test_loop_that_ran_steadily_starts_its_count_afresh():
    restart = plan_restart(7, STEADY_RUN, jitter=1.0)
    assert restart.in_a_row == 1 and restart.delay == timedelta(seconds=15)


def test_jitter_spreads_the_wait_over_half_to_all_of_it():
    assert plan_restart(2, timedelta(0), jitter=0.0).delay == timedelta(seconds=30)
    assert plan_restart(2, timedelta(0), jitter=1.0).delay == timedelta(seconds=60)
