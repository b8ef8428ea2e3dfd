"""Issue 19 gaps end to end on Dovecot + the SMTP sink: a merge brings the merged ticket's people in Cc along
(`tickets merge A B`, `#merge`); a `#merge` reply's `#cc` commands act on the ticket it merges into and a named action
beside `#merge` is refused; a named action's mail goes to the people in Cc as an answer does.
"""

from __future__ import annotations

from sqlmodel import Session, select

from mailbridge.store import agents, db, participants
from mailbridge.store.models import Ticket, TicketParticipant
from tests.conftest import customer_mail, run_cli, run_once
from tests.integration.test_actions_topics import ACTIONS
from tests.integration.test_agents import MARIA, agent_mail, deliver, reply_to_of, text_of, to

ANNA = "anna@example.org"
BOB = "bob@example.net"
CAROL = "carol@example.com"
DORA = "dora@example.com"
EVE = "eve@example.com"


def open_desk(make_app, clock, extra: str = ""):
    app = make_app(extra=extra)
    with db.transaction(app.engine) as session:
        agents.add_agent(
            session=session,
            email=MARIA,
            name="Maria Rossi",
            locale=None,
            contacts=["Customer service"],
            now=clock.now(),
        )
    return app


def ticket_of(app, subject: str) -> Ticket:
    with Session(app.engine) as session:
        return session.exec(select(Ticket).where(Ticket.subject == subject)).one()


def cc_rows(app, ticket: Ticket) -> dict[str, bool]:
    """The ticket's participants: address -> removed."""
    with Session(app.engine) as session:
        rows = session.exec(select(TicketParticipant).where(TicketParticipant.ticket_id == ticket.id))
        return {row.email: row.removed for row in rows}


def two_tickets(app, dovecot, mailbox, *, b_sender: str = ANNA) -> tuple[Ticket, Ticket]:
    """A: Anna's "Order 1234 not arrived", Cc Bob; B: "Parcel 1234 is late", Cc Bob, Carol and Eve."""
    deliver(app, dovecot, mailbox, customer_mail(sender=ANNA, headers={"Cc": BOB}))
    b_cc = f"{BOB}, {CAROL}, {EVE}"
    deliver(app, dovecot, mailbox, customer_mail(sender=b_sender, subject="Parcel 1234 is late", headers={"Cc": b_cc}))
    return ticket_of(app, "Order 1234 not arrived"), ticket_of(app, "Parcel 1234 is late")


def notification_of(sink, ticket: Ticket):
    return [m for m in to(sink, MARIA) if ticket.number in m["Subject"] and m["Reply-To"] is not None][-1]


def reply_on(app, dovecot, mailbox, sink, ticket: Ticket, body: str) -> None:
    notification = notification_of(sink, ticket)
    raw = agent_mail(sender=MARIA, to_address=reply_to_of(notification), body=body, notification=notification)
    deliver(app, dovecot, mailbox, raw)


def cc_of(mail) -> list[str]:
    return sorted(a.addr_spec for a in mail["Cc"].addresses) if mail["Cc"] else []


def test_tickets_merge_brings_the_people_in_cc_once_keeping_removals(make_app, clock, dovecot, mailbox, sink, tmp_path):
    app = open_desk(make_app, clock)
    a, b = two_tickets(app, dovecot, mailbox)
    now = clock.now()
    with db.transaction(app.engine) as session:  # an agent took Eve out of B's Cc
        participants.remove(session=session, ticket=session.get(Ticket, b.id), address=EVE, actor="agent:x", now=now)
    result = run_cli("tickets", "merge", a.number, b.number, config=app.settings.path, clock=clock)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{b.number} merged into {a.number} (1 message moved)"
    # Bob once, Carol joins, Eve stays removed: Anna's reply-all to A does not bring her back.
    assert cc_rows(app, a) == {BOB: False, CAROL: False, EVE: True}
    reply = customer_mail(sender=ANNA, subject=f"Re: [#{a.number}] Order 1234", body="Any news?")
    deliver(app, dovecot, mailbox, reply.replace(b"Subject:", f"Cc: {EVE}, {CAROL}\r\nSubject:".encode(), 1))
    assert cc_rows(app, a) == {BOB: False, CAROL: False, EVE: True}
    text = tmp_path / "answer.txt"
    text.write_text("Both parcels are on their way.\n", encoding="utf-8")
    result = run_cli(
        "tickets", "reply", a.number, "--from", MARIA, "--file", str(text), config=app.settings.path, clock=clock
    )
    assert result.returncode == 0, result.stderr
    run_once(app)
    [answer] = [m for m in to(sink, ANNA) if "Both parcels" in text_of(m)]
    assert cc_of(answer) == sorted([BOB, CAROL])


def test_merge_of_another_customers_ticket_brings_nobody_into_cc(make_app, clock, dovecot, mailbox, sink):
    app = open_desk(make_app, clock)
    a, b = two_tickets(app, dovecot, mailbox, b_sender="dan@example.org")
    result = run_cli("tickets", "merge", a.number, b.number, config=app.settings.path, clock=clock)
    assert result.returncode == 0, result.stderr
    assert cc_rows(app, a) == {BOB: False}
    shown = run_cli("tickets", "show", a.number, config=app.settings.path, clock=clock).stdout
    assert "was another customer's" in shown and CAROL in shown


def test_merge_reply_applies_its_cc_commands_to_the_target(make_app, clock, dovecot, mailbox, sink):
    app = open_desk(make_app, clock)
    a, b = two_tickets(app, dovecot, mailbox)
    # Carol comes along from B and is removed at once; Dora is added; both on A, where the commands act.
    reply_on(app, dovecot, mailbox, sink, b, f"#merge {a.number}\n#cc remove {CAROL}\n#cc add {DORA}\nSame parcel.")
    assert ticket_of(app, "Parcel 1234 is late").status == "merged"
    assert cc_rows(app, a) == {BOB: False, CAROL: True, DORA: False, EVE: False}
    assert cc_rows(app, b) == {BOB: False, CAROL: False, EVE: False}  # B's own rows are its history


def test_merge_reply_refuses_a_cc_command_the_target_cannot_take(make_app, clock, dovecot, mailbox, sink):
    app = open_desk(make_app, clock)
    a, b = two_tickets(app, dovecot, mailbox)
    reply_on(app, dovecot, mailbox, sink, b, f"#merge {a.number}\n#cc remove {DORA}\nSame parcel.")
    [refusal] = [m for m in to(sink, MARIA) if f"#cc remove: {DORA} is not in Cc of this ticket" in text_of(m)]
    assert "#merge:" not in text_of(refusal)  # the merge itself was fine
    assert ticket_of(app, "Parcel 1234 is late").status == "new"


def test_merge_reply_with_a_named_action_is_refused_with_one_line(make_app, clock, dovecot, mailbox, sink):
    app = open_desk(make_app, clock, extra=ACTIONS)
    a, b = two_tickets(app, dovecot, mailbox)
    before = len(to(sink, ANNA))
    reply_on(app, dovecot, mailbox, sink, b, f"#merge {a.number}\n#return\nPlease send it back.")
    [refusal] = [m for m in to(sink, MARIA) if "cannot go together" in text_of(m)]
    assert "#merge and #return cannot go together: run #return on the merged ticket afterwards" in text_of(refusal)
    assert ticket_of(app, "Parcel 1234 is late").status == "new" and len(to(sink, ANNA)) == before


def test_named_action_mail_goes_to_the_people_in_cc(make_app, clock, dovecot, mailbox, sink):
    app = open_desk(make_app, clock, extra=ACTIONS)
    deliver(app, dovecot, mailbox, customer_mail(sender=ANNA, headers={"Cc": f"Bob Colleague <{BOB}>"}))
    ticket = ticket_of(app, "Order 1234 not arrived")
    reply_on(app, dovecot, mailbox, sink, ticket, "#return\nPlease add the power cable to the parcel.")
    [returned] = [m for m in to(sink, ANNA) if "return for inspection" in text_of(m)]
    assert cc_of(returned) == [BOB]
    envelope = next(m.rcpt_tos for m in sink.messages if m.message["Message-ID"] == returned["Message-ID"])
    assert sorted(envelope) == sorted([ANNA, BOB])
