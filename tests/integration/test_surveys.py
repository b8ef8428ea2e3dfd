"""Issue 8 end to end on Dovecot + the SMTP sink: a closed ticket sends one survey, a "clicked" rating
(a mail to its mailto address) is stored and thanked, plain replies with a digit, a word or garbage,
tampered and expired tokens, and a rating never reopening the ticket.
"""

from __future__ import annotations

import email
import re
from email import policy

from sqlmodel import Session, select

from mailbridge.decisions.kinds import TicketStatus
from mailbridge.runtime.desk import change_status
from mailbridge.store import db
from mailbridge.store.models import Contact, Message, OutboxMail, Rating, Ticket
from tests.conftest import SUPPORT_USER, customer_mail, run_once

AGENT = "agent:maria@shop.example"
RATE = re.compile(r'href="mailto:(support\+rate-[a-z2-7.]+-(\d)@shop\.example)\?subject=([^"]+)"')


def mails(sink) -> list[email.message.EmailMessage]:
    return [email.message_from_bytes(m.data, policy=policy.default) for m in sink.messages]


def deliver(app, dovecot, mailbox, raw: bytes) -> None:
    dovecot.append(SUPPORT_USER, mailbox, raw)
    run_once(app)


def to(raw: bytes, address: str) -> bytes:
    return raw.replace(f"To: {SUPPORT_USER}".encode(), f"To: {address}".encode())


def survey_app(make_app, *, send_survey: bool = True, extra: str = ""):
    app = make_app(extra=extra)
    with db.transaction(app.engine) as session:
        for contact in session.exec(select(Contact)):
            contact.send_survey = send_survey
    return app


def closed_ticket(app, dovecot, mailbox, final: TicketStatus = TicketStatus.CLOSED) -> Ticket:
    """A ticket answered by an agent and then closed (or flagged), with every mail it caused sent."""
    deliver(app, dovecot, mailbox, customer_mail())
    with Session(app.engine) as session:
        ticket = session.exec(select(Ticket)).one()
    change_status(app, ticket.number, TicketStatus.WAITING, AGENT)
    change_status(app, ticket.number, final, AGENT)
    run_once(app)
    return ticket


def survey_of(sink) -> email.message.EmailMessage:
    [survey] = [m for m in mails(sink) if m.get_body(("html",)).get_content().count("mailto:") == 5]
    return survey


def rate_addresses(survey) -> dict[int, str]:
    return {int(score): address for address, score, _ in RATE.findall(survey.get_body(("html",)).get_content())}


def ratings(app) -> list[Rating]:
    with Session(app.engine) as session:
        return list(session.exec(select(Rating).order_by(Rating.id)))


def ticket_status(app) -> str:
    with Session(app.engine) as session:
        return session.exec(select(Ticket)).one().status


def last_message_kind(app) -> str:
    with Session(app.engine) as session:
        return session.exec(select(Message).order_by(Message.id.desc())).first().kind


def test_close_sends_one_survey_and_a_clicked_rating_is_stored_and_thanked(make_app, dovecot, sink, mailbox):
    app = survey_app(make_app)
    ticket = closed_ticket(app, dovecot, mailbox)
    survey = survey_of(sink)
    assert survey["Auto-Submitted"] == "auto-generated" and f"[#{ticket.number}]" in survey["Subject"]
    links = rate_addresses(survey)
    assert sorted(links) == [1, 2, 3, 4, 5]
    assert links[4] in survey.get_body(("plain",)).get_content()
    sent_before = len(sink.messages)
    deliver(app, dovecot, mailbox, to(customer_mail(subject=f"My rating [#{ticket.number}] 4/5", body=""), links[4]))
    [rating] = ratings(app)
    assert (rating.score, rating.source, rating.replaced_at) == (4, "link", None)
    assert ticket_status(app) == "closed" and last_message_kind(app) == "survey_answer"
    thanks = mails(sink)[sent_before:]
    assert len(thanks) == 1 and thanks[0]["Auto-Submitted"] == "auto-replied"
    assert "4 out of 5" in thanks[0].get_body(("plain",)).get_content()


def test_reply_with_a_digit_then_a_word_replaces_the_rating_and_keeps_history(make_app, dovecot, sink, mailbox):
    app = survey_app(make_app)
    closed_ticket(app, dovecot, mailbox)
    survey = survey_of(sink)
    deliver(
        app,
        dovecot,
        mailbox,
        customer_mail(subject="Re: " + survey["Subject"], body="2\nslow answer", in_reply_to=survey["Message-ID"]),
    )
    deliver(
        app,
        dovecot,
        mailbox,
        customer_mail(
            subject="Re: " + survey["Subject"], body="Ottimo! problem solved", in_reply_to=survey["Message-ID"]
        ),
    )
    first, second = ratings(app)
    assert (first.score, first.comment, first.replaced_at is not None) == (2, "slow answer", True)
    assert (second.score, second.comment, second.replaced_at, second.source) == (5, "problem solved", None, "reply")
    assert ticket_status(app) == "closed"
    from mailbridge.reports.tickets import ticket_detail
    from mailbridge.store.reader import reader_of

    with Session(app.engine) as session:
        number = session.exec(select(Ticket.number)).one()
        assert ticket_detail(reader=reader_of(session), number=number)["rating"]["score"] == 5
    assert "replaces" in mails(sink)[-1].get_body(("plain",)).get_content()


def test_garbage_reply_to_the_survey_is_an_ordinary_message_that_reopens(make_app, dovecot, sink, mailbox):
    app = survey_app(make_app)
    closed_ticket(app, dovecot, mailbox)
    survey = survey_of(sink)
    sent_before = len(sink.messages)
    deliver(
        app,
        dovecot,
        mailbox,
        customer_mail(
            subject="Re: " + survey["Subject"], body="Where is my refund??", in_reply_to=survey["Message-ID"]
        ),
    )
    assert ratings(app) == [] and ticket_status(app) == "open" and last_message_kind(app) == "customer"
    assert len(sink.messages) == sent_before  # no receipt for a reopened ticket


def test_tampered_token_is_stored_but_gives_no_rating(make_app, dovecot, sink, mailbox):
    app = survey_app(make_app)
    closed_ticket(app, dovecot, mailbox)
    address = rate_addresses(survey_of(sink))[5]
    mac_start = address.index("-5@") - 1
    tampered = address[:mac_start] + ("a" if address[mac_start] != "a" else "b") + address[mac_start + 1 :]
    sent_before = len(sink.messages)
    deliver(app, dovecot, mailbox, to(customer_mail(sender="mallory@evil.example", subject="5/5"), tampered))
    deliver(
        app, dovecot, mailbox, to(customer_mail(subject="5/5"), "support+rate-r.b.a.aaaaaaaaaaaaaaaa-5@shop.example")
    )
    assert ratings(app) == [] and last_message_kind(app) == "survey_rejected"
    with Session(app.engine) as session:
        assert len(session.exec(select(Ticket)).all()) == 1
    assert len(sink.messages) == sent_before and ticket_status(app) == "closed"


def test_expired_token_gives_no_rating(make_app, clock, dovecot, sink, mailbox):
    app = survey_app(make_app, extra="[survey]\nwindow_days = 3\n")
    closed_ticket(app, dovecot, mailbox)
    address = rate_addresses(survey_of(sink))[1]
    clock.advance(days=4)
    deliver(app, dovecot, mailbox, to(customer_mail(subject="1/5"), address))
    assert ratings(app) == [] and last_message_kind(app) == "survey_rejected" and ticket_status(app) == "closed"


def test_rating_a_reopened_ticket_does_not_close_or_reopen_it(make_app, dovecot, sink, mailbox):
    app = survey_app(make_app)
    ticket = closed_ticket(app, dovecot, mailbox)
    address = rate_addresses(survey_of(sink))[3]
    change_status(app, ticket.number, TicketStatus.OPEN, AGENT)
    deliver(app, dovecot, mailbox, to(customer_mail(subject="3/5", body="fine"), address))
    assert [r.score for r in ratings(app)] == [3] and ticket_status(app) == "open"


def test_survey_waits_for_the_delay(make_app, clock, dovecot, sink, mailbox):
    app = survey_app(make_app, extra="[survey]\ndelay_minutes = 30\n")
    closed_ticket(app, dovecot, mailbox)
    assert not any("mailto:" in m.get_body(("html",)).get_content() for m in mails(sink))
    clock.advance(minutes=30)
    run_once(app)
    assert survey_of(sink) is not None


def test_no_survey_for_spam_or_a_contact_without_surveys(make_app, dovecot, sink, mailbox):
    app = survey_app(make_app)
    closed_ticket(app, dovecot, mailbox, final=TicketStatus.SPAM)
    with Session(app.engine) as session:
        number = session.exec(select(Ticket)).one().number
    change_status(app, number, TicketStatus.CLOSED, AGENT)
    quiet = survey_app(make_app, send_survey=False)
    deliver(quiet, dovecot, mailbox, customer_mail(sender="bob@example.org", subject="Invoice"))
    with Session(quiet.engine) as session:
        bob = session.exec(select(Ticket).order_by(Ticket.id.desc())).first()
    change_status(quiet, bob.number, TicketStatus.OPEN, AGENT)
    change_status(quiet, bob.number, TicketStatus.CLOSED, AGENT)
    run_once(quiet)
    with Session(app.engine) as session:
        assert session.exec(select(OutboxMail).where(OutboxMail.kind == "survey")).all() == []


def test_auto_close_sends_the_survey_too(make_app, clock, dovecot, sink, mailbox):
    app = survey_app(make_app)
    deliver(app, dovecot, mailbox, customer_mail())
    with Session(app.engine) as session:
        ticket = session.exec(select(Ticket)).one()
    change_status(app, ticket.number, TicketStatus.WAITING, AGENT)
    clock.advance(days=5)
    run_once(app)
    run_once(app)
    assert ticket_status(app) == "closed" and sorted(rate_addresses(survey_of(sink))) == [1, 2, 3, 4, 5]
