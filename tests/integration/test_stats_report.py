"""Issue 20's lead report end to end on Dovecot + the SMTP sink: customers write in, an agent answers from the
desk and closes, the customer rates with a comment by mail, a second ticket waits unanswered; `mailbridge stats
--html` then shows the period in Europe/Rome, the agent by name, the breach, the oldest waiting ticket and the
comment, with the customer's text escaped. The structure checks in detail are in test_stats_cli.py.
"""

from __future__ import annotations

import email
from email import policy

from sqlmodel import Session, select

from mailbridge.decisions.kinds import TicketStatus
from mailbridge.runtime.desk import act_as_agent, assign, change_status
from mailbridge.store import agents, db
from mailbridge.store.models import Contact, Rating, Ticket
from tests.conftest import SUPPORT_USER, customer_mail, run_cli, run_once
from tests.integration.test_stats_cli import Page

SLA = "[sla]\nfirst_response_hours = 4\n"  # [sla] timezone: Europe/Rome, the default
MARIA = "maria@shop.example"
SCRIPT = "<script>alert(1)</script>"


def deliver(app, dovecot, mailbox, raw: bytes) -> None:
    dovecot.append(SUPPORT_USER, mailbox, raw)
    run_once(app)


def number_of(app, subject: str) -> str:
    with Session(app.engine) as session:
        return session.exec(select(Ticket.number).where(Ticket.subject == subject)).one()


def test_report_after_a_week_of_mail_shows_agent_names_breaches_and_comments(
    make_app, config_file, clock, dovecot, sink, mailbox, tmp_path
):
    app = make_app(extra=SLA)
    with db.transaction(app.engine) as session:
        for contact in session.exec(select(Contact)):
            contact.send_survey = True
        agents.add_agent(
            session=session,
            email=MARIA,
            name="Maria Rossi",
            locale=None,
            contacts=["Customer service"],
            now=clock.now(),
        )
    # Monday 5 January 10:00 in Rome: Anna writes; Maria answers two hours later and closes.
    deliver(app, dovecot, mailbox, customer_mail(subject="Parcel not arrived"))
    first = number_of(app, "Parcel not arrived")
    assign(app, number=first, agent_email=MARIA, actor=f"agent:{MARIA}")
    clock.advance(hours=2)
    act_as_agent(app, number=first, agent_email=MARIA, text="It left today: TR-5581.", is_note=False)
    change_status(app, first, TicketStatus.CLOSED, f"agent:{MARIA}")
    run_once(app)
    [survey] = [
        m
        for m in (email.message_from_bytes(s.data, policy=policy.default) for s in sink.messages)
        if m.get_body(("html",)) and m.get_body(("html",)).get_content().count("mailto:") == 5
    ]
    deliver(
        app,
        dovecot,
        mailbox,
        customer_mail(
            subject="Re: " + survey["Subject"], body="2\nToo slow <b>really</b>", in_reply_to=survey["Message-ID"]
        ),
    )
    with Session(app.engine) as session:
        assert [(r.score, r.comment) for r in session.exec(select(Rating))] == [(2, "Too slow <b>really</b>")]
    # Tuesday: Ben writes a subject that is markup; nobody answers until Thursday.
    clock.advance(days=1)
    deliver(app, dovecot, mailbox, customer_mail(sender="ben@example.org", name="Ben", subject=SCRIPT))
    second = number_of(app, SCRIPT)
    clock.advance(days=2)

    report = tmp_path / "report.html"
    result = run_cli("stats", "--html", str(report), config=config_file(extra=SLA), clock=clock)
    assert result.returncode == 0, result.stderr
    assert "Maria Rossi" in result.stdout and "(Europe/Rome)" in result.stdout
    text = report.read_text(encoding="utf-8")
    page = Page(text)
    assert page.one("h1")["text"] == "Support report, 2026-01-05 to now (Europe/Rome)"
    volume = page.one("section", id="trend-volume")
    assert len(page.find("circle", volume, **{"data-series": "opened"})) == 4  # Monday to Thursday
    trend = page.cells(page.one("table", id="trend-table"), "bucket")
    assert [row[:3] for row in trend] == [
        ["2026-01-05", "1", "1"],
        ["2026-01-06", "1", "0"],
        ["2026-01-07", "0", "0"],
        ["2026-01-08", "0", "0"],
    ]
    assert trend[0][3] == "2.0 h"  # business hours from Anna's mail to Maria's answer
    agents_rows = page.cells(page.one("table", id="agents-table"), "group")
    assert [row[0] for row in agents_rows] == ["Maria Rossi", "(unassigned)"]
    assert agents_rows[0][6] == "2.00 (0% happy, 1)" and MARIA not in text
    [breach] = page.cells(page.one("table", id="breaches-table"), "breach")
    assert (breach[0], breach[2], breach[3]) == (second, "none yet", SCRIPT)
    assert [row[0] for row in page.cells(page.one("table", id="oldest-table"), "ticket")] == [second]
    assert SCRIPT not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    [comment] = page.find("li", **{"class": "comment low"})
    assert f"2/5 · ticket {first} · Maria Rossi" in comment["text"] and "Too slow <b>really</b>" in comment["text"]
    assert "&lt;b&gt;really&lt;/b&gt;" in text and "http://" not in text and "https://" not in text
