"""The report's buckets, trends, age bands and lists, worked out by hand (calendar Mon-Fri 09:00-17:00 in
Europe/Rome; summer time starts on Sunday 2026-03-29 at 02:00 and ends on Sunday 2026-10-25 at 03:00).
"""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from mailbridge.decisions.business_hours import BusinessCalendar
from mailbridge.reports.figures import (
    RatingFact,
    StatsFacts,
    TicketFact,
    backlog_by_age,
    comment_rows,
    compute_report,
    oldest_waiting,
    report_period,
)
from mailbridge.reports.stats_charts import nice_ceiling, svg_bars, svg_lines
from mailbridge.reports.trends import (
    Period,
    TrendTicket,
    age_band,
    bucket_days,
    bucket_start,
    choose_bucket,
    compute_trend,
    median,
)

ROME = ZoneInfo("Europe/Rome")
CALENDAR = BusinessCalendar(working_days=frozenset(range(5)), opens=time(9), closes=time(17), zone=ROME)


def utc(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def period(start: datetime, end: datetime, bucket: str = "day") -> Period:
    return Period(start, end, ROME, bucket)


def ticket(number: str, created: datetime, status: str = "open", **fields) -> TicketFact:
    return TicketFact(
        "Shop",
        fields.pop("agent", None),
        status,
        created,
        fields.pop("responded", None),
        fields.pop("closed", None),
        4,
        number=number,
        **fields,
    )


def test_half_past_midnight_local_is_that_local_day_on_both_sides_of_the_spring_change():
    # 23:30 UTC on Saturday is 00:30 on Sunday in Rome (UTC+1); 22:30 UTC on Sunday is 00:30 on Monday (UTC+2).
    assert bucket_start(utc(3, 28, 23, 30), ROME, "day") == date(2026, 3, 29)
    assert bucket_start(utc(3, 29, 22, 30), ROME, "day") == date(2026, 3, 30)
    assert bucket_start(utc(3, 29, 21, 59), ROME, "day") == date(2026, 3, 29)


def test_the_25_hour_autumn_day_is_one_bucket():
    # Sunday 2026-10-25 in Rome runs from 22:00 UTC on the 24th to 23:00 UTC on the 25th.
    assert bucket_start(utc(10, 24, 22, 0), ROME, "day") == date(2026, 10, 25)
    assert bucket_start(utc(10, 25, 22, 59), ROME, "day") == date(2026, 10, 25)
    assert bucket_start(utc(10, 25, 23, 0), ROME, "day") == date(2026, 10, 26)


def test_days_across_the_change_are_consecutive_local_dates():
    start = datetime(2026, 3, 27, tzinfo=ROME)
    days = bucket_days(period(start, datetime(2026, 4, 1, tzinfo=ROME)))
    assert days == [date(2026, 3, 27) + timedelta(days=n) for n in range(5)]


def test_weeks_start_on_monday_and_months_on_the_first():
    assert bucket_start(utc(3, 29, 12), ROME, "week") == date(2026, 3, 23)
    assert bucket_start(utc(3, 30, 12), ROME, "week") == date(2026, 3, 30)
    assert bucket_start(utc(12, 31, 23, 30), ROME, "month") == date(2027, 1, 1)
    months = bucket_days(period(utc(11, 15, 12), utc(12, 31, 23, 30) + timedelta(hours=1), "month"))
    assert months == [date(2026, 11, 1), date(2026, 12, 1), date(2027, 1, 1)]


def test_bucket_size_is_day_up_to_45_days_then_week_then_month():
    start = utc(1, 1, 0)
    assert choose_bucket(start, start + timedelta(days=45)) == "day"
    assert choose_bucket(start, start + timedelta(days=46)) == "week"
    assert choose_bucket(start, start + timedelta(days=367)) == "month"


def test_an_empty_period_still_has_one_bucket():
    moment = utc(3, 2, 12)
    assert bucket_days(period(moment, moment)) == [date(2026, 3, 2)]


def test_trend_counts_opened_and_closed_per_local_day_with_medians():
    tickets = [
        # Monday 09:00 and 13:00 local: answered after 1 h and 3 h; the first closed on Tuesday 10:00 (9 h).
        TrendTicket(utc(3, 2, 8), utc(3, 2, 9), utc(3, 3, 9)),
        TrendTicket(utc(3, 2, 12), utc(3, 2, 15), None),
        # Wednesday 23:30 UTC is Thursday 00:30 local, unanswered.
        TrendTicket(utc(3, 4, 23, 30), None, None),
        # Before the period: its closing counts, its opening does not.
        TrendTicket(utc(2, 27, 9), utc(2, 27, 10), utc(3, 3, 16)),
    ]
    points = compute_trend(
        tickets, period(datetime(2026, 3, 2, tzinfo=ROME), datetime(2026, 3, 6, tzinfo=ROME)), CALENDAR
    )
    assert [p.bucket for p in points] == ["2026-03-02", "2026-03-03", "2026-03-04", "2026-03-05"]
    assert [(p.opened, p.closed) for p in points] == [(2, 0), (0, 2), (0, 0), (1, 0)]
    assert points[0].first_response_median_hours == 2.0 and points[3].first_response_median_hours is None
    # Tuesday's closings: 9 h, and Fri 10:00 -> Tue 17:00 is 7 + 8 + 8 = 23 h.
    assert points[1].resolution_median_hours == 16.0 and points[2].resolution_median_hours is None


def test_median_of_nothing_is_none_and_of_an_even_count_the_middle_pair():
    assert median([]) is None
    assert median([1, 4, 2, 10]) == 3.0


def test_age_bands_have_closed_lower_bounds():
    now = utc(3, 10, 12)
    ages = [timedelta(hours=23, minutes=59), timedelta(days=1), timedelta(days=3), timedelta(days=7)]
    assert [age_band(now - a, now) for a in ages] == ["<1 d", "1-3 d", "3-7 d", ">7 d"]


def test_backlog_by_age_counts_each_unclosed_status():
    now = utc(3, 10, 12)
    tickets = (
        ticket("1", now - timedelta(hours=2), "new"),
        ticket("2", now - timedelta(days=8), "waiting"),
        ticket("3", now - timedelta(days=8), "waiting"),
        ticket("4", now - timedelta(days=2), "closed"),
    )
    table = backlog_by_age(tickets, now)
    assert table["new"] == {"<1 d": 1, "1-3 d": 0, "3-7 d": 0, ">7 d": 0}
    assert table["waiting"][">7 d"] == 2 and "closed" not in table


def test_oldest_waiting_lists_new_open_and_waiting_oldest_first_at_most_ten():
    now = utc(3, 20, 12)
    tickets = tuple(ticket(str(n), now - timedelta(days=n), ("new", "open", "waiting")[n % 3]) for n in range(1, 13))
    tickets += (ticket("99", now - timedelta(days=30), "pending1"), ticket("98", now - timedelta(days=40), "closed"))
    rows = oldest_waiting(tickets, now)
    assert [r.number for r in rows] == [str(n) for n in range(12, 2, -1)]
    assert rows[0].age_hours == 288.0


def test_comments_come_latest_first_and_blank_ones_are_left_out():
    ratings = (
        RatingFact("Shop", "Maria", 2, ticket="1", comment="slow", at=utc(3, 2, 9)),
        RatingFact("Shop", None, 5, ticket="2", comment="  ", at=utc(3, 3, 9)),
        RatingFact("Shop", "Luca", 4, ticket="3", comment=" fine\n", at=utc(3, 4, 9)),
    )
    rows = comment_rows(ratings)
    assert [(r.ticket, r.comment, r.agent) for r in rows] == [("3", "fine", "Luca"), ("1", "slow", "Maria")]


def facts(tickets, ratings=(), since=None, until=None, now=utc(3, 6, 12)) -> StatsFacts:
    return StatsFacts(tickets=tickets, ratings=ratings, reopened=0, inbound_at=(), since=since, until=until, now=now)


def test_agents_are_grouped_by_name_with_their_work_and_csat():
    tickets = (
        ticket(
            "1", utc(3, 2, 8), "closed", agent="m@x", agent_name="Maria", responded=utc(3, 2, 9), closed=utc(3, 2, 10)
        ),
        ticket("2", utc(3, 2, 8), "waiting", agent="m@x", agent_name="Maria", responded=utc(3, 2, 11)),
        ticket("3", utc(3, 3, 8), "open", agent="l@x"),
        ticket("4", utc(3, 3, 8), "new"),
    )
    ratings = (RatingFact("Shop", "Maria", 5), RatingFact("Shop", "Maria", 2))
    report = compute_report(facts(tickets, ratings, since=utc(3, 1, 0)), CALENDAR)
    rows = {r.name: r for r in report.by_agent}
    assert [r.name for r in report.by_agent] == ["Maria", "l@x", "(unassigned)"]
    maria = rows["Maria"]
    assert (maria.opened, maria.closed, maria.open_now, maria.first_response_median_hours) == (2, 1, 1, 2.0)
    assert maria.csat is not None and (maria.csat.average, maria.csat.satisfied_percent) == (3.5, 50.0)
    assert rows["(unassigned)"].csat is None


def test_breaches_list_late_and_overdue_tickets_of_the_period_latest_due_first():
    tickets = (
        # Monday 09:00 local, due 13:00, answered 14:00: late.
        ticket("1", utc(3, 2, 8), "waiting", subject="<b>late</b>", responded=utc(3, 2, 13)),
        # Tuesday 09:00 local, unanswered; now is Friday: overdue.
        ticket("2", utc(3, 3, 8), "open"),
        # Answered in time.
        ticket("3", utc(3, 3, 8), "open", responded=utc(3, 3, 9)),
    )
    report = compute_report(facts(tickets, since=utc(3, 1, 0)), CALENDAR)
    assert [(b.number, b.subject, b.first_response_at) for b in report.breaches] == [
        ("2", "", None),
        ("1", "<b>late</b>", utc(3, 2, 13)),
    ]
    assert report.breaches[1].due_at == utc(3, 2, 12)


def test_report_period_runs_from_since_or_the_oldest_ticket_to_until_but_not_past_now():
    tickets = (ticket("1", utc(2, 20, 8)),)
    now = utc(3, 6, 12)
    assert report_period(facts(tickets, now=now), ROME).start == utc(2, 20, 8)
    future = report_period(facts(tickets, since=utc(3, 1, 0), until=utc(4, 1, 0), now=now), ROME)
    assert future.end <= now + timedelta(seconds=1) and future.bucket == "day"


def test_empty_period_gives_one_empty_bucket_and_empty_lists():
    report = compute_report(facts((), now=utc(3, 6, 12)), CALENDAR, zone=ROME)
    assert [(p.bucket, p.opened, p.closed) for p in report.trend] == [("2026-03-06", 0, 0)]
    assert report.breaches == () and report.oldest_waiting == () and report.comments == () and report.by_agent == ()
    assert report.timezone == "Europe/Rome"


def test_charts_have_one_point_per_known_value_and_one_bar_per_count():
    lines = svg_lines(["a", "b", "c"], [("opened", [1, 0, 2]), ("median", [None, 2.5, None])], "tickets")
    assert lines.count('data-series="opened"') == 3 and lines.count('data-series="median"') == 1
    bars = svg_bars({"<1 d": 2, ">7 d": 0}, "tickets")
    assert bars.count('class="bar"') == 2 and "&lt;1 d" in bars
    assert (nice_ceiling(0), nice_ceiling(7), nice_ceiling(23), nice_ceiling(2.1)) == (1.0, 10, 25, 2.5)
