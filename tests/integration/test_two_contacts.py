"""One mail to two Contacts (To: sales, Cc: support): once per Contact, as linked tickets, never twice."""

from __future__ import annotations

from sqlmodel import Session, select

from mailbridge.store.models import Contact, Message, Ticket
from tests.conftest import SUPPORT_USER, customer_mail, mailbox_toml, run_once


def second_mailbox(dovecot, folder: str, contact: str) -> str:
    return mailbox_toml(dovecot, folder.lower(), folder, contact)


def tickets_by_contact(app) -> dict[str, list[Ticket]]:
    with Session(app.engine) as session:
        names = {c.id: c.name for c in session.exec(select(Contact))}
        found: dict[str, list[Ticket]] = {}
        for ticket in session.exec(select(Ticket).order_by(Ticket.id)):
            found.setdefault(names[ticket.contact_id], []).append(ticket)
        return found


def test_mail_to_two_contacts_is_stored_once_per_contact_as_linked_tickets(make_app, dovecot, sink, mailbox):
    sales_folder = mailbox + "Sales"
    dovecot.create_folder(SUPPORT_USER, sales_folder)
    app = make_app(extra=second_mailbox(dovecot, sales_folder, "Sales"))
    raw = customer_mail(headers={"Cc": "sales@shop.example"})
    dovecot.append(SUPPORT_USER, mailbox, raw)
    dovecot.append(
        SUPPORT_USER, sales_folder, raw.replace(b"Subject:", b"Delivered-To: sales@shop.example\r\nSubject:", 1)
    )
    run_once(app)
    run_once(app)
    found = tickets_by_contact(app)
    [support_ticket], [sales_ticket] = found["Customer service"], found["Sales"]
    assert sales_ticket.linked_ticket_id == support_ticket.id or support_ticket.linked_ticket_id == sales_ticket.id
    with Session(app.engine) as session:
        assert len(session.exec(select(Message)).all()) == 2


def test_same_mail_in_two_folders_of_one_contact_is_kept_on_one_ticket_and_answered_once(
    make_app, dovecot, sink, mailbox
):
    other_folder = mailbox + "Copy"
    dovecot.create_folder(SUPPORT_USER, other_folder)
    app = make_app(extra=second_mailbox(dovecot, other_folder, "Customer service"))
    raw = customer_mail()
    dovecot.append(SUPPORT_USER, mailbox, raw)
    dovecot.append(SUPPORT_USER, other_folder, raw.replace(b"Subject:", b"X-Copied: yes\r\nSubject:", 1))
    run_once(app)
    [ticket] = tickets_by_contact(app)["Customer service"]
    # Other bytes are never "already stored" (issue 15): the copy is kept, on its twin's ticket.
    with Session(app.engine) as session:
        assert [m.ticket_id for m in session.exec(select(Message))] == [ticket.id, ticket.id]
    assert len(sink.messages) == 1
    assert all("\\Seen" in flags for flags in dovecot.flags(SUPPORT_USER, other_folder).values())


def test_survey_answer_in_two_folders_of_one_contact_is_rated_and_thanked_once(make_app, dovecot, sink, mailbox):
    from tests.integration.test_surveys import closed_ticket, rate_addresses, ratings, survey_of, to

    other_folder = mailbox + "Copy"
    dovecot.create_folder(SUPPORT_USER, other_folder)
    app = make_app(extra=second_mailbox(dovecot, other_folder, "Customer service"))
    ticket = closed_ticket(app, dovecot, mailbox)
    link = rate_addresses(survey_of(sink))[5]
    before = len(sink.messages)
    answer = to(customer_mail(subject=f"My rating [#{ticket.number}] 5/5", body=""), link)
    dovecot.append(SUPPORT_USER, mailbox, answer)
    dovecot.append(SUPPORT_USER, other_folder, answer.replace(b"Subject:", b"X-Copied: yes\r\nSubject:", 1))
    run_once(app)
    assert [r.score for r in ratings(app)] == [5]
    assert len(sink.messages) == before + 1
