"""`mailbridge stats` on a history written straight into the database with known timestamps
(calendar Mon-Fri 09:00-17:00 UTC, first response due in 4 business hours; 2026-03-02 is a Monday).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from html.parser import HTMLParser

from sqlmodel import select

from mailbridge.store import db
from mailbridge.store.models import Agent, Contact, Customer, Message, Rating, Ticket, TicketEvent
from tests.conftest import run_cli

SLA = '[sla]\ntimezone = "UTC"\nfirst_response_hours = 4\n'
NOW = {"MAILBRIDGE_NOW": "2026-03-09T12:00:00Z"}


def at(day: int, hour: int) -> datetime:
    return datetime(2026, 3, day, hour, tzinfo=UTC)


def add_ticket(session, contact, customer, number, created, responded, closed, status, agent=None) -> Ticket:
    ticket = Ticket(
        number=number,
        status=status,
        subject="s",
        contact_id=contact.id,
        customer_id=customer.id,
        created_at=created,
        updated_at=created,
        first_response_at=responded,
        closed_at=closed,
        assigned_agent=agent,
    )
    session.add(ticket)
    session.flush()
    message = Message(
        ticket_id=ticket.id,
        direction="in",
        message_id=f"<{number}@x>",
        from_addr=customer.email,
        raw=b"x",
        raw_sha256=number,
        kind="customer",
        stored_at=created,
    )
    session.add(message)
    session.flush()
    return ticket


def write_history(app) -> None:
    """T1: answered in 2 h, closed after 10 h, rated 1 then 5; T2: answered after 6 h (breached), reopened, rated 3."""
    with db.transaction(app.engine) as session:
        contact = session.exec(select(Contact)).first()
        customer = Customer(email="anna@example.org", name="Anna", created_at=at(1, 9))
        session.add(customer)
        session.flush()
        one = add_ticket(
            session,
            contact,
            customer,
            "10000000001",
            at(2, 9),
            at(2, 11),
            at(3, 11),
            "closed",
            agent="maria@shop.example",
        )
        two = add_ticket(session, contact, customer, "10000000002", at(2, 16), at(3, 14), None, "waiting")
        session.add(
            TicketEvent(
                ticket_id=two.id,
                at=at(4, 10),
                actor="customer:anna@example.org",
                kind="status_changed",
                old_status="closed",
                new_status="open",
            )
        )
        for ticket, score, replaced in ((one, 1, at(4, 9)), (one, 5, None), (two, 3, None)):
            message = Message(
                ticket_id=ticket.id,
                direction="in",
                raw=b"r",
                raw_sha256=f"r{score}",
                kind="survey_answer",
                stored_at=at(4, 9),
            )
            session.add(message)
            session.flush()
            session.add(
                Rating(
                    ticket_id=ticket.id,
                    message_id=message.id,
                    score=score,
                    contact_id=contact.id,
                    created_at=at(4, 9),
                    replaced_at=replaced,
                )
            )


def test_stats_json_matches_hand_computed_figures(make_app, config_file):
    app = make_app(extra=SLA)
    write_history(app)
    result = run_cli("stats", "--since", "2026-03-01", "--json", config=config_file(extra=SLA), env=NOW)
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert (figures["opened"], figures["closed"], figures["reopened"]) == (2, 1, 1)
    assert figures["first_response"] == {"count": 2, "median_hours": 4, "p90_hours": 6}
    assert figures["resolution"] == {"count": 1, "median_hours": 10, "p90_hours": 10}
    assert (figures["sla_met"], figures["sla_breached"]) == (1, 1)
    assert figures["csat_total"] == {"name": "all", "count": 2, "average": 4.0, "satisfied_percent": 50.0}
    assert [(c["name"], c["count"]) for c in figures["csat_by_agent"]] == [
        ("(unassigned)", 1),
        ("maria@shop.example", 1),
    ]
    assert figures["backlog"]["waiting"] == 1 and figures["by_weekday"]["mon"] == 2
    agent_only = run_cli("stats", "--agent", "maria@shop.example", "--json", config=config_file(extra=SLA), env=NOW)
    assert json.loads(agent_only.stdout)["opened"] == 1


def test_stats_html_report_is_self_contained_with_svg_charts(make_app, config_file, tmp_path):
    app = make_app(extra=SLA)
    write_history(app)
    report = tmp_path / "report.html"
    result = run_cli("stats", "--html", str(report), config=config_file(extra=SLA), env=NOW)
    assert result.returncode == 0, result.stderr
    assert "CSAT per Contact" in result.stdout and "█" in result.stdout and "(UTC)" in result.stdout
    page = report.read_text(encoding="utf-8")
    assert page.count("<svg") == 5 and "Customer service" in page
    assert "http" not in page  # no external assets, not even an xmlns


# The lead's report: Europe/Rome, a period of nine local days across the change to summer time (Sunday 29 March).
ROME_SLA = '[sla]\ntimezone = "Europe/Rome"\nfirst_response_hours = 4\n'
ROME_NOW = {"MAILBRIDGE_NOW": "2026-03-31T10:00:00Z"}
SCRIPT = "<script>alert(1)</script>"


def utc(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def write_lead_history(app) -> None:
    """Six tickets, two named agents, two rated with comments (times in UTC; Rome is UTC+1, UTC+2 from 29 March)."""
    with db.transaction(app.engine) as session:
        contact = session.exec(select(Contact)).first()
        customer = Customer(email="anna@example.org", name="Anna", created_at=utc(3, 1, 9))
        maria = Agent(name="Maria Rossi", email="maria@shop.example", created_at=utc(3, 1, 9))
        luca = Agent(name="Luca Bianchi", email="luca@shop.example", created_at=utc(3, 1, 9))
        session.add_all([customer, maria, luca])
        session.flush()

        def add(number, created, status, *, subject="Order", responded=None, closed=None, agent=None, category=None):
            ticket = add_ticket(session, contact, customer, number, created, responded, closed, status)
            ticket.subject, ticket.category = subject, category
            ticket.assigned_agent, ticket.assigned_agent_id = (agent.email, agent.id) if agent else (None, None)
            return ticket

        returns = "Orders > Returns"
        # Monday 09:00 local, answered after 2 h, closed on Tuesday; rated 2 with a comment.
        one = add(
            "10000000001",
            utc(3, 23, 8),
            "closed",
            responded=utc(3, 23, 10),
            closed=utc(3, 24, 9),
            agent=maria,
            category=returns,
        )
        # Monday 15:00 local, first answered on Tuesday 15:00 (8 business hours: breached), now waiting.
        add("10000000002", utc(3, 23, 14), "waiting", subject=SCRIPT, responded=utc(3, 24, 14), agent=luca)
        # Sunday 00:30 local (still UTC+1) and Monday 00:30 local (UTC+2): unanswered, overdue since Monday 13:00.
        add("10000000003", utc(3, 28, 23, 30), "open")
        add("10000000004", utc(3, 29, 22, 30), "new")
        # Before the period and still waiting: the oldest.
        add("10000000005", utc(3, 10, 9), "waiting", responded=utc(3, 10, 10), agent=maria, category=returns)
        # Monday 10:00 local, answered in 1 h, closed on Tuesday; rated 5 with a comment.
        six = add(
            "10000000006",
            utc(3, 30, 8),
            "closed",
            responded=utc(3, 30, 9),
            closed=utc(3, 31, 7),
            agent=maria,
            category="Shipping",
        )
        for ticket, score, comment, at in (
            (one, 2, "Too slow, <b>really</b>", utc(3, 25, 10)),
            (six, 5, "Great help, thanks!", utc(3, 31, 8)),
        ):
            message = Message(
                ticket_id=ticket.id,
                direction="in",
                raw=b"r",
                raw_sha256=f"r{ticket.number}",
                kind="survey_answer",
                stored_at=at,
            )
            session.add(message)
            session.flush()
            session.add(
                Rating(
                    ticket_id=ticket.id,
                    message_id=message.id,
                    score=score,
                    comment=comment,
                    contact_id=contact.id,
                    agent_id=maria.id,
                    created_at=at,
                )
            )


class Page(HTMLParser):
    """The report as a tree of (tag, attributes, children, text) for structure checks."""

    VOID = frozenset({"meta", "br", "hr", "img", "link", "input"})

    def __init__(self, text: str) -> None:
        super().__init__()
        self.root: dict = {"tag": "", "attrs": {}, "children": [], "text": ""}
        self.stack = [self.root]
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        node = {"tag": tag, "attrs": dict(attrs), "children": [], "text": ""}
        self.stack[-1]["children"].append(node)
        if tag not in self.VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag, attrs):
        self.stack[-1]["children"].append({"tag": tag, "attrs": dict(attrs), "children": [], "text": ""})

    def handle_endtag(self, tag):
        while len(self.stack) > 1 and self.stack.pop()["tag"] != tag:
            pass

    def handle_data(self, data):
        for node in self.stack:
            node["text"] += data

    def find(self, tag=None, node=None, **attrs) -> list[dict]:
        found = []
        for child in (node or self.root)["children"]:
            if (tag is None or child["tag"] == tag) and all(child["attrs"].get(k) == v for k, v in attrs.items()):
                found.append(child)
            found += self.find(tag, child, **attrs)
        return found

    def one(self, tag=None, node=None, **attrs) -> dict:
        (found,) = self.find(tag, node, **attrs)
        return found

    def cells(self, table: dict, row_class: str) -> list[list[str]]:
        rows = self.find("tr", table, **{"class": row_class})
        return [[cell["text"].strip() for cell in self.find("td", row)] for row in rows]


def test_lead_report_names_period_zone_and_shows_every_section(make_app, config_file, tmp_path):
    app = make_app(extra=ROME_SLA)
    write_lead_history(app)
    report = tmp_path / "report.html"
    args = ("stats", "--since", "2026-03-23", "--until", "2026-04-01", "--html", str(report))
    result = run_cli(*args, config=config_file(extra=ROME_SLA), env=ROME_NOW)
    assert result.returncode == 0, result.stderr
    text = report.read_text(encoding="utf-8")
    page = Page(text)

    # Self-contained and fit for a phone.
    assert page.one("meta", name="viewport")["attrs"]["content"].startswith("width=device-width")
    assert not page.find("script") and not page.find("link") and not page.find("img")
    assert "http://" not in text and "https://" not in text and " src=" not in text
    assert "flex-wrap" in text and "overflow-x:auto" in text

    # The period in local dates (until is exclusive) and the time zone.
    heading = page.one("h1")["text"]
    assert heading == "Support report, 2026-03-23 to 2026-03-31 (Europe/Rome)"
    assert page.find("title")[0]["text"] == heading  # the first; each chart point has its own

    # Trends: nine local days; Sunday 00:30 and Monday 00:30 land on the 29th and the 30th.
    volume = page.one("section", id="trend-volume")
    opened = page.find("circle", volume, **{"data-series": "opened"})
    closed = page.find("circle", volume, **{"data-series": "closed"})
    assert len(opened) == len(closed) == 9
    trend = page.cells(page.one("table", id="trend-table"), "bucket")
    assert [row[:3] for row in trend] == [
        ["2026-03-23", "2", "0"],
        ["2026-03-24", "0", "1"],
        ["2026-03-25", "0", "0"],
        ["2026-03-26", "0", "0"],
        ["2026-03-27", "0", "0"],
        ["2026-03-28", "0", "0"],
        ["2026-03-29", "1", "0"],
        ["2026-03-30", "2", "0"],
        ["2026-03-31", "0", "1"],
    ]
    times = page.one("section", id="trend-times")
    # First response medians on the 23rd (2 h and 8 h: 5 h) and the 30th (1 h); resolutions on the 24th and 31st.
    assert len(page.find("circle", times, **{"data-series": "first response"})) == 2
    assert len(page.find("circle", times, **{"data-series": "resolution"})) == 2
    assert trend[0][3:] == ["5.0 h", "-"] and trend[7][3] == "1.0 h"
    assert (trend[1][4], trend[8][4]) == ("9.0 h", "7.0 h")

    # Backlog now by status and age: two waiting for more than 7 days, the open and the new one 1-3 days old.
    backlog = page.cells(page.one("table", id="backlog-table"), "status")
    assert backlog == [
        ["new", "0", "1", "0", "0", "1"],
        ["open", "0", "1", "0", "0", "1"],
        ["waiting", "0", "0", "0", "2", "2"],
        ["pending1", "0", "0", "0", "0", "0"],
        ["pending2", "0", "0", "0", "0", "0"],
    ]
    assert page.cells(page.one("table", id="backlog-table"), "total") == [["total", "0", "2", "0", "2", "4"]]

    # Agents by name, never by address; Maria's two ratings.
    agents = page.cells(page.one("table", id="agents-table"), "group")
    assert [row[:4] for row in agents] == [
        ["Maria Rossi", "2", "2", "1"],
        ["Luca Bianchi", "1", "0", "1"],
        ["(unassigned)", "2", "0", "2"],
    ]
    assert agents[0][6] == "3.50 (50% happy, 2)"
    assert "@shop.example" not in text and "anna@example.org" not in text
    categories = page.cells(page.one("table", id="categories-table"), "group")
    assert [row[0] for row in categories] == ["Orders > Returns", "Shipping", "(no category)"]

    # SLA breaches with the tickets, the latest due first; the subject is text, not markup.
    breaches = page.cells(page.one("table", id="breaches-table"), "breach")
    assert [(row[0], row[3], row[1], row[2]) for row in breaches] == [
        ("10000000004", "Order", "2026-03-30 13:00", "none yet"),
        ("10000000003", "Order", "2026-03-30 13:00", "none yet"),
        ("10000000002", SCRIPT, "2026-03-24 11:00", "2026-03-24 15:00"),
    ]
    assert SCRIPT not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text

    # The oldest waiting tickets, oldest first, with their age.
    oldest = page.cells(page.one("table", id="oldest-table"), "ticket")
    assert [(row[0], row[1]) for row in oldest] == [
        ("10000000005", "21 d 1 h"),
        ("10000000002", "7 d 20 h"),
        ("10000000003", "2 d 10 h"),
        ("10000000004", "1 d 11 h"),
    ]

    # Rating comments, the latest first, escaped.
    comments = [item["text"] for item in page.find("li", **{"class": "comment"})]
    comments += [item["text"] for item in page.find("li", **{"class": "comment low"})]
    assert page.find("ul", **{"class": "comments"})[0]["children"][0]["text"].startswith("5/5 · ticket 10000000006")
    assert any("Too slow, <b>really</b>" in c and "2/5 · ticket 10000000001 · Maria Rossi" in c for c in comments)
    assert "&lt;b&gt;really&lt;/b&gt;" in text


def test_stats_for_an_unknown_contact_is_one_line_and_exit_1(make_app, config_file):
    make_app(extra=SLA)
    result = run_cli("stats", "--contact", "Nobody", config=config_file(extra=SLA), env=NOW)
    assert result.returncode == 1 and "no Contact named 'Nobody'" in result.stderr


def test_stats_with_an_unknown_time_zone_or_bucket_is_one_line_and_exit_1(make_app, config_file):
    make_app(extra=SLA)
    zone = run_cli("stats", "--timezone", "Mars/Olympus", config=config_file(extra=SLA), env=NOW)
    assert zone.returncode == 1 and "--timezone: expected a time zone name like Europe/Rome" in zone.stderr
    bucket = run_cli("stats", "--by", "hour", config=config_file(extra=SLA), env=NOW)
    assert bucket.returncode == 1 and "--by: expected one of day, week, month, got 'hour'" in bucket.stderr


def test_stats_json_has_the_trend_per_week_in_the_zone_asked(make_app, config_file):
    app = make_app(extra=SLA)
    write_history(app)
    args = ("stats", "--since", "2026-03-01", "--timezone", "America/New_York", "--by", "week", "--json")
    figures = json.loads(run_cli(*args, config=config_file(extra=SLA), env=NOW).stdout)
    assert (figures["timezone"], figures["bucket"]) == ("America/New_York", "week")
    # --since is midnight in New York (05:00 UTC); weeks start on Monday 23 February and 2 and 9 March.
    assert figures["period_start"] == "2026-03-01T00:00:00-05:00"
    assert [(p["bucket"], p["opened"], p["closed"]) for p in figures["trend"]] == [
        ("2026-02-23", 0, 0),
        ("2026-03-02", 2, 1),
        ("2026-03-09", 0, 0),
    ]
