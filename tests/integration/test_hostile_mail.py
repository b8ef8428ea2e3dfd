"""Mail made to be slow to parse: stored raw and quarantined at once when its parse outruns the time budget,
while the rest of the batch is stored, answered and marked on the server as usual.
"""

from __future__ import annotations

from sqlmodel import Session, select

from mailbridge.store.models import IntakeFailure, Message, OutboxMail, Ticket
from mailbridge.store.raw_files import raw_bytes
from tests.conftest import SUPPORT_USER, customer_mail, run_once
from tests.unit.test_prepare import slow_mail


def rows(app, model) -> list:
    with Session(app.engine) as session:
        return list(session.exec(select(model).order_by(model.id)))


def test_message_over_the_parse_time_budget_is_quarantined_and_the_batch_goes_on(make_app, dovecot, sink, mailbox):
    app = make_app(extra="[ingest]\nparse_timeout_seconds = 1\n")
    hostile = slow_mail()
    uids = [
        dovecot.append(SUPPORT_USER, mailbox, customer_mail(sender="anna@example.org", subject="Order 1 late")),
        dovecot.append(SUPPORT_USER, mailbox, hostile),
        dovecot.append(SUPPORT_USER, mailbox, customer_mail(sender="bob@example.org", subject="Order 2 late")),
    ]
    try:
        run_once(app)
        first, quarantined, last = rows(app, Message)
        assert [first.uid, quarantined.uid, last.uid] == uids
        assert quarantined.kind == "quarantined" and quarantined.is_malformed and raw_bytes(quarantined) == hostile
        assert quarantined.defects == "over the parse time budget of 1 s" and quarantined.ticket_id is None
        tickets = rows(app, Ticket)
        assert [t.subject for t in tickets] == ["Order 1 late", "Order 2 late"]
        assert [(m.kind, m.ticket_id) for m in (first, last)] == [("customer", t.id) for t in tickets]
        assert [(o.kind, o.ticket_id) for o in rows(app, OutboxMail)] == [("receipt", t.id) for t in tickets]
        assert sorted(m.rcpt_tos for m in sink.messages) == [("anna@example.org",), ("bob@example.org",)]
        assert rows(app, IntakeFailure) == []  # quarantined at once, not after three failing polls
        flags = dovecot.flags(SUPPORT_USER, mailbox)
        assert all("\\Seen" in flags[uid] for uid in uids)

        run_once(app)
        assert len(rows(app, Message)) == 3 and len(rows(app, Ticket)) == 2
        assert len(rows(app, OutboxMail)) == 2 and len(sink.messages) == 2
    finally:
        app.preparer.close()
