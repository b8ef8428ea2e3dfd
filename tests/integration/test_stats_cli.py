"""`mailbridge stats` on a history written straight into the database with known timestamps
(calendar Mon-Fri 09:00-17:00 UTC, first response due in 4 business hours; 2026-03-02 is a Monday).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlmodel import select

from mailbridge.store import db
from mailbridge.store.models import Contact, Customer, Message, Rating, Ticket, TicketEvent
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
    assert "CSAT per Contact" in result.stdout and "█" in result.stdout
    page = report.read_text(encoding="utf-8")
    assert page.count("<svg") == 3 and "Customer service" in page
    assert "http" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")  # no external assets


def test_stats_for_an_unknown_contact_is_one_line_and_exit_1(make_app, config_file):
    make_app(extra=SLA)
    result = run_cli("stats", "--contact", "Nobody", config=config_file(extra=SLA), env=NOW)
    assert result.returncode == 1 and "no Contact named 'Nobody'" in result.stderr
