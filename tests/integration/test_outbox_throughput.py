"""An outbox that keeps up, against the real SMTP sink: a backlog goes out in one pass over a few reused
connections, the most urgent mail first; a dropped connection or a 4xx loses nothing and doubles nothing."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from email.message import EmailMessage
from email.utils import make_msgid

from sqlalchemy import event
from sqlmodel import Session, select

from mailbridge.base.errors import TemporaryDeliveryError
from mailbridge.decisions.kinds import MailKind
from mailbridge.outbox.smtp import MailSender, SmtpConnection
from mailbridge.runtime.app import App
from mailbridge.runtime.daemon import Daemon
from mailbridge.runtime.jobs import deliver_until_idle
from mailbridge.store import db, outbox_queue
from mailbridge.store import fleet as fleet_store
from mailbridge.store.models import OutboxMail
from tests.conftest import SUPPORT_USER, customer_mail
from tests.servers.util import wait_until


def queue(app: App, count: int, kind: str = MailKind.RECEIPT) -> list[int]:
    """Put `count` mails of `kind` in the outbox, due now; return their row ids."""
    now = app.clock.now()
    ids = []
    with db.transaction(app.engine) as session:
        for n in range(count):
            mail = EmailMessage()
            mail["From"] = SUPPORT_USER
            mail["To"] = f"customer{n}@example.org"
            mail["Subject"] = f"{kind} {n}"
            mail["Message-ID"] = make_msgid(domain="shop.example")
            mail.set_content(f"Mail {n} of kind {kind}.")
            ids.append(
                outbox_queue.enqueue(
                    session=session,
                    mail=mail,
                    sign=app.mail.sign,
                    dedupe_key=f"test:{kind}:{n}",
                    kind=kind,
                    ticket_id=None,
                    now=now,
                )
            )
    return ids


def statuses(app: App) -> Counter:
    with Session(app.engine) as session:
        return Counter(row.status for row in session.exec(select(OutboxMail)))


def deliver(app: App) -> tuple[int, int]:
    return asyncio.run(deliver_until_idle(app))


def one_connection(app: App) -> App:
    app.settings = replace(app.settings, smtp=replace(app.settings.smtp, max_connections=1))
    return app


def received_ids(sink) -> Counter:
    return Counter(str(mail.message["Message-ID"]) for mail in sink.messages)


def test_500_queued_mails_go_out_in_one_pass_over_a_few_connections(any_db_app, sink):
    app = any_db_app
    queue(app, 500)
    assert deliver(app) == (500, 0)
    assert len(sink.messages) == 500 and set(received_ids(sink).values()) == {1}
    assert 1 <= sink.connections <= app.settings.smtp.max_connections == 4
    assert statuses(app) == {"sent": 500}


def plans_of_claims(app: App) -> tuple[list[OutboxMail], list[str]]:
    """Claim once, and return the claimed rows and the database's plan of each claiming SELECT, as it ran."""
    statements: list[tuple[str, object]] = []

    def keep(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().startswith("SELECT outboxmail.id") and "ORDER BY outboxmail.priority" in statement:
            statements.append((statement, parameters))

    if app.engine.dialect.name != "sqlite":
        with app.engine.begin() as connection:
            connection.exec_driver_sql("ANALYZE outboxmail")  # as autovacuum would have by now
    event.listen(app.engine, "before_cursor_execute", keep)
    try:
        with db.transaction(app.engine) as session:
            claimed = outbox_queue.claim_due(session=session, now=app.clock.now())
    finally:
        event.remove(app.engine, "before_cursor_execute", keep)
    sqlite = app.engine.dialect.name == "sqlite"
    plans = []
    with app.engine.connect() as connection:
        raw = connection.connection.dbapi_connection
        cursor = raw.cursor()
        for statement, parameters in statements:
            cursor.execute(("EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN ") + statement, parameters)
            plans.append("\n".join(str(row[-1] if sqlite else row[0]) for row in cursor.fetchall()))
        raw.rollback()
    return claimed, plans


def test_a_claim_walks_the_queued_rows_in_order_instead_of_sorting_the_backlog(any_db_app):
    # 2,000 receipts queued and an alert after them (a first sync's backlog): the claim's SELECT of the queued mail
    # walks ix_outboxmail_claim (migration 0027) and stops at the five it takes; it sorted every queued row before.
    app = any_db_app
    queue(app, 2000)
    [alert] = queue(app, 1, kind=MailKind.MAILBOX_ALERT)
    claimed, plans = plans_of_claims(app)
    assert [row.id for row in claimed][0] == alert and len(claimed) == outbox_queue.CLAIM_BATCH
    assert len(plans) == 2  # mail a dead sender left `sending`, then the queued
    assert "ix_outboxmail_claim" in plans[1], plans[1]
    assert "Sort" not in plans[1] and "TEMP B-TREE" not in plans[1], plans[1]


def test_one_connection_carries_the_whole_backlog(make_app, sink):
    app = one_connection(make_app())
    queue(app, 60)
    assert deliver(app) == (60, 0)
    assert len(sink.messages) == 60 and sink.connections == 1


def test_admin_alert_queued_after_300_receipts_is_sent_among_the_first(make_app, sink):
    app = make_app()
    queue(app, 300)
    queue(app, 1, kind=MailKind.MAILBOX_ALERT)
    assert deliver(app) == (301, 0)
    subjects = [mail.message["Subject"] for mail in sink.messages]
    # Each connection claims a batch of CLAIM_BATCH: the alert heads the first one claimed.
    assert subjects.index("mailbox_alert 0") < app.settings.smtp.max_connections * outbox_queue.CLAIM_BATCH
    assert subjects.index("mailbox_alert 0") < 5


def test_alerts_then_agent_mail_then_receipts_in_the_order_each_was_queued(make_app, sink):
    app = one_connection(make_app())
    queue(app, 12)
    queue(app, 2, kind=MailKind.AGENT_NOTIFICATION)
    queue(app, 1, kind=MailKind.FLOOD_ALERT)
    deliver(app)
    subjects = [mail.message["Subject"] for mail in sink.messages]
    assert subjects[:3] == ["flood_alert 0", "agent_notification 0", "agent_notification 1"]
    assert subjects[3:] == [f"receipt {n}" for n in range(12)]


class BeforeEachSend:
    """The real SmtpSender, with `before(n)` called before the n-th mail (from 1) of the pass is sent."""

    def __init__(self, sender: MailSender, before: Callable[[int], None]):
        self.sender, self.before, self.count = sender, before, 0

    def connection(self) -> _HookedConnection:
        return _HookedConnection(self, self.sender.connection())


class _HookedConnection:
    def __init__(self, owner: BeforeEachSend, inner):
        self.owner, self.inner = owner, inner

    async def __aenter__(self) -> _HookedConnection:
        await self.inner.__aenter__()
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.inner.__aexit__(*exc_info)

    async def send(self, **mail) -> None:
        self.owner.count += 1
        self.owner.before(self.owner.count)
        await self.inner.send(**mail)


def test_connection_dropped_mid_batch_loses_nothing_and_doubles_nothing(make_app, sink, clock):
    app = make_app()
    ids = queue(app, 40)
    # The sink drops the connection at the 8th mail's MAIL, in the middle of a batch.
    app.sender = BeforeEachSend(app.sender, lambda n: sink.drop_next_connection() if n == 8 else None)
    assert deliver(app) == (39, 1)
    assert len(sink.messages) == 39
    # The dropped connection is replaced; the rest of its batch went out over the new one.
    assert sink.connections <= app.settings.smtp.max_connections + 1
    with Session(app.engine) as session:
        [failed] = session.exec(select(OutboxMail).where(OutboxMail.status == "queued")).all()
    assert failed.attempts == 1 and failed.last_error
    clock.advance(minutes=1)
    assert deliver(app) == (1, 0)
    with Session(app.engine) as session:
        sent = {row.id: row.message_id for row in session.exec(select(OutboxMail))}
    assert set(sent) == set(ids) and statuses(app) == {"sent": 40}
    assert received_ids(sink) == Counter({message_id: 1 for message_id in sent.values()})


def test_a_4xx_on_one_mail_leaves_the_others_flowing(make_app, sink, clock):
    app = make_app()
    queue(app, 30)
    sink.fail_next("RCPT", 451, "Try again later")
    assert deliver(app) == (29, 1)
    assert len(sink.messages) == 29 and statuses(app) == {"sent": 29, "queued": 1}
    clock.advance(minutes=1)
    assert deliver(app) == (1, 0)
    assert len(sink.messages) == 30 and set(received_ids(sink).values()) == {1}


def test_a_5xx_is_held_and_the_others_flow_on_the_same_connection(make_app, sink):
    app = one_connection(make_app())
    queue(app, 10)
    sink.fail_next("DATA", 554, "Rejected")
    assert deliver(app) == (9, 1)
    assert statuses(app) == {"sent": 9, "held": 1}
    # The failure closed the connection; the next mail opened a new one.
    assert sink.connections == 2


def test_mail_claimed_before_a_crash_is_sent_once_after_the_short_lease(make_app, sink, clock):
    app = make_app()
    queue(app, 3)
    with db.transaction(app.engine) as session:  # claimed, then the process died before sending
        claimed = [row.id for row in outbox_queue.claim_due(session=session, now=clock.now())]
    assert len(claimed) == 3
    clock.advance(seconds=outbox_queue.SENDING_LEASE.total_seconds() - 1)
    assert deliver(app) == (0, 0)
    clock.advance(seconds=1)
    assert deliver(app) == (3, 0)
    assert len(sink.messages) == 3 and set(received_ids(sink).values()) == {1}
    assert outbox_queue.SENDING_LEASE <= timedelta(minutes=2)


def test_mail_a_killed_daemon_was_sending_is_due_at_once_when_its_host_forgets_it(any_db_app, clock):
    # A daemon that starts removes the rows of its host's daemons whose process is gone (runtime.fleet.join): the
    # mail such a one had claimed is due at once, not after SENDING_LEASE; another's claims keep their lease.
    app = any_db_app
    queue(app, 4)
    with db.transaction(app.engine) as session:
        killed = [row.id for row in outbox_queue.claim_due(session=session, now=clock.now(), limit=3, claimer="dead1")]
        alive = [row.id for row in outbox_queue.claim_due(session=session, now=clock.now(), claimer="alive1")]
    assert len(killed) == 3 and len(alive) == 1
    clock.advance(seconds=1)
    assert fleet_store.forget(app.engine, ["dead1"], clock.now()) == 0  # its row was gone already: the mail is freed
    with db.transaction(app.engine) as session:
        again = outbox_queue.claim_due(session=session, now=clock.now(), claimer="new1")
    assert sorted(row.id for row in again) == sorted(killed) and {row.attempts for row in again} == {2}


def hung_before_its_second_mail(app: App, clock, *, then_fails: bool = False) -> tuple[int, int]:
    """Send a batch of CLAIM_BATCH on one connection, hanging past the lease before the second mail while another
    sender takes the batch up and delivers it (its count checked); the hung sender then goes on, its second send
    failing with a 421 when `then_fails`. Return the hung sender's (sent, failed)."""
    queue(app, outbox_queue.CLAIM_BATCH)
    other = replace(app, sender=app.sender)

    def hang_while_another_daemon_sends(n: int) -> None:
        if n == 2:
            clock.advance(seconds=outbox_queue.SENDING_LEASE.total_seconds() + 1)
            sent = []
            thread = threading.Thread(target=lambda: sent.append(asyncio.run(deliver_until_idle(other))))
            thread.start()
            thread.join()
            assert sent == [(outbox_queue.CLAIM_BATCH - 1, 0)]
            if then_fails:
                raise TemporaryDeliveryError("421 4.4.2 connection timed out")

    app.sender = BeforeEachSend(app.sender, hang_while_another_daemon_sends)
    return deliver(app)


def test_a_sender_hung_past_its_lease_sends_nothing_more_of_what_another_took_up(make_app, sink, clock):
    # SIGSTOP, a VM paused: the lease of its batch runs out, another sender takes the mails up and sends them. When
    # it wakes, the mail already in its SMTP conversation goes once more (delivery is at least once), none of the rest.
    app = one_connection(make_app())
    assert hung_before_its_second_mail(app, clock) == (2, 0)
    copies = received_ids(sink)
    assert len(copies) == outbox_queue.CLAIM_BATCH and sorted(copies.values()) == [1, 1, 1, 1, 2]
    assert statuses(app) == {"sent": outbox_queue.CLAIM_BATCH}


def test_a_sender_hung_past_its_lease_whose_connection_then_fails_records_nothing(make_app, sink, clock):
    # It wakes to a dead connection after another sender delivered its batch: the error is not written over the
    # other's `sent` (which would queue the mail again, or hold it and alert the agents about mail that arrived).
    app = one_connection(make_app())
    assert hung_before_its_second_mail(app, clock, then_fails=True) == (1, 1)
    assert statuses(app) == {"sent": outbox_queue.CLAIM_BATCH}
    clock.advance(hours=3)
    assert deliver(app) == (0, 0)  # nothing was queued again
    assert sorted(received_ids(sink).values()) == [1] * outbox_queue.CLAIM_BATCH


def test_a_slow_batch_renews_its_lease_so_no_other_sender_takes_its_rest(make_app, sink, clock):
    app = one_connection(make_app())
    queue(app, outbox_queue.CLAIM_BATCH)
    taken_by_another_daemon: list[int] = []

    def a_minute_per_mail_and_another_daemon_claims(n: int) -> None:
        clock.advance(minutes=1)
        with db.transaction(app.engine) as session:
            taken_by_another_daemon.extend(row.id for row in outbox_queue.claim_due(session=session, now=clock.now()))

    app.sender = BeforeEachSend(app.sender, a_minute_per_mail_and_another_daemon_claims)
    # Five minutes for one batch, more than twice the lease: without renewal the other daemon would take the rest.
    assert deliver(app) == (outbox_queue.CLAIM_BATCH, 0)
    assert taken_by_another_daemon == []
    assert len(sink.messages) == outbox_queue.CLAIM_BATCH and set(received_ids(sink).values()) == {1}


def test_a_stop_request_leaves_the_mail_not_yet_claimed_queued(make_app, sink):
    app = one_connection(make_app())
    queue(app, 3 * outbox_queue.CLAIM_BATCH)
    # SIGTERM arrives while the first mail is sent: its batch is finished, no other is claimed.
    app.sender = BeforeEachSend(app.sender, lambda n: app.stop_requested.set())
    assert deliver(app) == (outbox_queue.CLAIM_BATCH, 0)
    assert statuses(app) == {"sent": outbox_queue.CLAIM_BATCH, "queued": 2 * outbox_queue.CLAIM_BATCH}


def test_a_renewed_lease_keeps_the_rest_of_a_slow_batch_from_other_senders(make_app, clock):
    app = make_app()
    queue(app, 2)
    with db.transaction(app.engine) as session:
        ids = [row.id for row in outbox_queue.claim_due(session=session, now=clock.now())]
    clock.advance(minutes=1.5)
    with db.transaction(app.engine) as session:
        outbox_queue.renew_lease(session=session, outbox_ids=ids, now=clock.now())
    clock.advance(minutes=1)  # 2.5 minutes after the claim, 1 after the renewal
    with db.transaction(app.engine) as session:
        assert outbox_queue.claim_due(session=session, now=clock.now()) == []
    clock.advance(minutes=1)
    with db.transaction(app.engine) as session:
        assert sorted(row.id for row in outbox_queue.claim_due(session=session, now=clock.now())) == sorted(ids)


def test_the_daemon_sends_a_backlog_at_once_and_new_receipts_without_waiting_for_the_interval(
    make_app, dovecot, sink, mailbox
):
    app = make_app(extra="[schedule]\npoll_interval_seconds = 3600\noutbox_interval_seconds = 3600\n")
    queue(app, 300)
    daemon = Daemon(app)
    thread = threading.Thread(target=lambda: asyncio.run(daemon.run()), name="daemon")
    thread.start()
    try:
        # The interval is an hour: the whole backlog goes out in the first pass.
        sink.wait_for(300, timeout=30)
        assert wait_until(lambda: daemon.watchers and all(w.is_idling.is_set() for w in daemon.watchers), timeout=10)
        dovecot.append(SUPPORT_USER, mailbox, customer_mail(subject="Where is my parcel?"))
        # IDLE wakes the poll, and the poll that stored the mail wakes the delivery loop.
        receipts = sink.wait_for(301, timeout=10)
        assert "Where is my parcel?" in str(receipts[-1].message["Subject"])
    finally:
        daemon.stop()
        thread.join(timeout=15)
    assert not thread.is_alive()
    assert statuses(app) == {"sent": 301}
    assert set(received_ids(sink).values()) == {1}


def test_smtp_connection_reconnects_after_the_server_closed_it(make_app, sink):
    app = make_app()

    async def send_twice_with_a_close_between() -> None:
        async with app.sender.connection() as connection:
            assert isinstance(connection, SmtpConnection)
            await connection.send(mail_from=SUPPORT_USER, recipients=["a@example.org"], raw=customer_mail())
            assert connection.client is not None
            await connection.client.quit()  # as a server that ends an idle session would
            await connection.send(mail_from=SUPPORT_USER, recipients=["b@example.org"], raw=customer_mail())

    asyncio.run(send_twice_with_a_close_between())
    assert [mail.rcpt_tos for mail in sink.messages] == [("a@example.org",), ("b@example.org",)]
    assert sink.connections == 2
