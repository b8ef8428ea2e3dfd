"""The figures of `mailbridge stats` on a small history whose values were worked out by hand
(calendar Mon-Fri 09:00-17:00 UTC; 2026-03-02 is a Monday)."""

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

from mailbridge.decisions.business_hours import BusinessCalendar
from mailbridge.reports.figures import Csat, RatingFact, StatsFacts, TicketFact, compute_report, nearest_rank, spread

CALENDAR = BusinessCalendar(working_days=frozenset(range(5)), opens=time(9), closes=time(17), zone=ZoneInfo("UTC"))


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


TICKETS = (
    # 2 h to answer; closed after Mon 09-17 (8 h) + Tue 09-11 (2 h) = 10 h; SLA 4 h met.
    TicketFact("A", "x", "closed", at(2, 9), at(2, 11), at(3, 11), 4),
    # Mon 16:00 -> Tue 10:00 is 2 h; closed Wed 16:00 is 1 + 8 + 7 = 16 h; SLA 1 h (due Tue 09:00) breached.
    TicketFact("B", "y", "closed", at(2, 16), at(3, 10), at(4, 16), 1),
    # Fri 15:00 unanswered; 4 h are due Mon 11:00; now is Mon 12:00: breached.
    TicketFact("A", None, "open", at(6, 15), None, None, 4),
    # Tue 09:00 -> Thu 09:00 is 16 h; SLA 24 h met.
    TicketFact("A", "x", "waiting", at(3, 9), at(5, 9), None, 24),
    # Mon 11:30 unanswered, due 15:30: still pending at 12:00.
    TicketFact("B", None, "new", at(9, 11, 30), None, None, 4),
    # Before the period: counted only in the backlog (it is open).
    TicketFact("A", None, "pending1", at(1, 10), None, None, 4),
)
RATINGS = (RatingFact("A", "x", 5), RatingFact("A", "x", 4), RatingFact("B", "y", 2), RatingFact("A", None, 3))
INBOUND = (at(2, 9, 5), at(2, 16, 10), at(6, 15), at(9, 11, 30))


def report():
    facts = StatsFacts(
        tickets=TICKETS, ratings=RATINGS, reopened=1, inbound_at=INBOUND, since=at(2, 0), until=None, now=at(9, 12)
    )
    return compute_report(facts, CALENDAR)


def test_counts_of_opened_closed_and_reopened_tickets():
    figures = report()
    assert (figures.opened, figures.closed, figures.reopened) == (5, 2, 1)


def test_backlog_counts_every_unclosed_ticket_by_status():
    assert report().backlog == {"new": 1, "open": 1, "waiting": 1, "pending1": 1, "pending2": 0}


def test_first_response_and_resolution_in_business_hours():
    figures = report()
    assert (figures.first_response.count, figures.first_response.median_hours, figures.first_response.p90_hours) == (
        3,
        2,
        16,
    )
    assert (figures.resolution.count, figures.resolution.median_hours, figures.resolution.p90_hours) == (2, 13, 16)


def test_sla_met_and_breached_including_unanswered_overdue_tickets():
    figures = report()
    assert (figures.sla_met, figures.sla_breached) == (2, 2)


def test_csat_overall_per_contact_and_per_agent():
    figures = report()
    assert figures.csat_total == Csat("all", 4, 3.5, 50.0)
    assert figures.csat_by_contact == (Csat("A", 3, 4.0, 66.7), Csat("B", 1, 2.0, 0.0))
    assert figures.csat_by_agent == (
        Csat("x", 2, 4.5, 100.0),
        Csat("(unassigned)", 1, 3.0, 0.0),
        Csat("y", 1, 2.0, 0.0),
    )


def test_busiest_hours_and_weekdays_in_local_time():
    figures = report()
    assert {h: n for h, n in figures.by_hour.items() if n} == {9: 1, 11: 1, 15: 1, 16: 1}
    assert figures.by_weekday == {"mon": 3, "tue": 0, "wed": 0, "thu": 0, "fri": 1, "sat": 0, "sun": 0}


def test_nearest_rank_percentile():
    assert nearest_rank([5, 1, 4, 2, 3, 6, 7, 8, 9, 10], 90) == 9
    assert nearest_rank([7], 90) == 7 and nearest_rank([], 90) is None


def test_no_ratings_give_no_csat_and_empty_spreads():
    facts = StatsFacts(tickets=(), ratings=(), reopened=0, inbound_at=(), since=None, until=None, now=at(9, 12))
    figures = compute_report(facts, CALENDAR)
    assert figures.csat_total is None and figures.first_response == spread([])


def test_a_merged_ticket_is_counted_only_on_its_target():
    # Merged into another ticket: unanswered, past its SLA, pre-sale; none of it counts a second time.
    merged = TicketFact("A", "x", "merged", at(6, 9), None, at(6, 10), 1, presale=True, number="9")
    facts = StatsFacts(
        tickets=(*TICKETS, merged),
        ratings=RATINGS,
        reopened=1,
        inbound_at=INBOUND,
        since=at(2, 0),
        until=None,
        now=at(9, 12),
    )
    figures, without = compute_report(facts, CALENDAR), report()
    assert (figures.opened, figures.closed, figures.sla_breached, figures.presale) == (5, 2, 2, 0)
    assert figures.breaches == without.breaches and figures.trend == without.trend
    assert figures.by_agent == without.by_agent and figures.backlog == without.backlog
