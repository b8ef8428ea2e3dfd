"""Compare-and-set under a real race on PostgreSQL (issue 18): daemons that take leases or claim a timer's due time at
the same instant, from threads released together, never both win.

The daemons are `runtime.fleet.Fleet` objects (what each `mailbridge run` builds) on one database, each with its own
connection pool, so their transactions really overlap in PostgreSQL.
"""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from sqlalchemy import text

from mailbridge.runtime.fleet import Fleet
from mailbridge.store import db

MAILBOXES = [f"box{n}" for n in range(6)]


def together(fleets: list[Fleet], call):
    """Run `call(fleet)` for every fleet at once (a barrier releases the threads together); return the results."""
    barrier = threading.Barrier(len(fleets))

    def run(fleet: Fleet):
        barrier.wait()
        return call(fleet)

    with ThreadPoolExecutor(len(fleets)) as pool:
        return list(pool.map(run, fleets))


def fleet_of(postgres, name: str, count: int, lease_seconds: float = 30) -> list[Fleet]:
    url = postgres.create_database(name)
    db.upgrade_schema(db.make_engine(url))
    fleets = [Fleet(db.make_engine(url), MAILBOXES, lease_seconds) for _ in range(count)]
    for fleet in fleets:
        fleet.join()
    return fleets


def test_daemons_taking_leases_at_once_never_hold_one_mailbox_twice_and_share_them(postgres):
    fleets = fleet_of(postgres, "fleet_race_leases", 3)
    for _ in range(10):
        rounds = together(fleets, Fleet.lease_round)
        held = Counter(m for r in rounds for m in r.held | r.release)
        assert all(n == 1 for n in held.values()), held
    # Once all three beat and the rounds settle, each holds its share of two.
    assert sorted(len(r.held) for r in rounds) == [2, 2, 2]
    # The database agrees: one holder per mailbox, the daemon that says it holds it.
    with fleets[0].engine.connect() as connection:
        rows = dict(connection.execute(text("SELECT mailbox, holder FROM mailboxlease")).all())
    assert rows == {m: f.me.instance for f, r in zip(fleets, rounds, strict=True) for m in r.held}


def test_a_leaving_daemons_mailboxes_are_taken_by_the_others_at_their_next_round(postgres):
    fleets = fleet_of(postgres, "fleet_race_leave", 3)
    for _ in range(3):
        together(fleets, Fleet.lease_round)
    fleets[0].leave()
    rounds = together(fleets[1:], Fleet.lease_round)
    assert sorted(len(r.held) for r in rounds) == [3, 3]
    assert set.union(*(set(r.held) for r in rounds)) == set(MAILBOXES)


def test_each_due_time_of_a_timer_is_claimed_by_one_daemon(postgres):
    fleets = fleet_of(postgres, "fleet_race_timers", 4)
    hour = timedelta(hours=1)
    claimed, due = fleets[0].claim_timer("check_sla", hour)
    assert not claimed, "a timer seen for the first time is due one interval later"
    winners = Counter()
    for _ in range(15):
        with fleets[0].engine.begin() as connection:  # the due time has come
            connection.execute(text("UPDATE timerdue SET next_due = now() - interval '1 second'"))
        results = together(fleets, lambda fleet: fleet.claim_timer("check_sla", hour))
        assert [ok for ok, _ in results].count(True) == 1, results
        winners.update(str(i) for i, (ok, _) in enumerate(results) if ok)
        # Every daemon learns the same next due time, about an hour away.
        assert len({next_due for _, next_due in results}) == 1
    assert sum(winners.values()) == 15


def test_a_failed_timer_run_is_due_again_after_its_backoff_for_every_daemon(postgres):
    first, second = fleet_of(postgres, "fleet_timer_retry", 2)
    with first.engine.begin() as connection:
        connection.execute(
            text("INSERT INTO timerdue (job, next_due, claimed_by) VALUES ('close_idle_tickets', now(), '')")
        )
    claimed, _ = first.claim_timer("close_idle_tickets", timedelta(hours=1))
    assert claimed
    due = first.retry_timer("close_idle_tickets", timedelta(seconds=-1))  # the backoff is over at once
    claimed, next_due = second.claim_timer("close_idle_tickets", timedelta(hours=1))
    assert claimed and next_due > due
    # The retry of a daemon that no longer holds the claim changes nothing.
    first.retry_timer("close_idle_tickets", timedelta(seconds=-1))
    assert second.claim_timer("close_idle_tickets", timedelta(hours=1)) == (False, next_due)
