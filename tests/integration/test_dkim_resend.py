"""Issue 21, item 5: with DKIM on, a mail is signed once, when it is queued; every send of it, a resend after a crash
between the send and its record or after `outbox retry` included, is byte for byte the same and verifies."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager

import dkim
import pytest
from sqlmodel import Session, select

from mailbridge.runtime.jobs import deliver_until_idle, poll_mailboxes
from mailbridge.store import outbox_queue
from mailbridge.store.models import OutboxMail
from tests.conftest import SUPPORT_USER, customer_mail, run_cli
from tests.unit.test_dkim_sign import key_pair

DKIM = '[[dkim]]\ndomain = "shop.example"\nselector = "mb1"\nprivate_key_file = "dkim.pem"\n'


@pytest.fixture
def dkim_app(make_app, tmp_path):
    """An App that signs mail from shop.example, and the DNS answer that publishes its key."""
    pem, record = key_pair()
    (tmp_path / "dkim.pem").write_bytes(pem)
    return make_app(extra=DKIM), {b"mb1._domainkey.shop.example.": record}


def verifies(raw: bytes, dns: dict) -> bool:
    return bool(dkim.verify(raw, dnsfunc=lambda name, timeout=5: dns.get(name)))


def outbox_row(app) -> OutboxMail:
    with Session(app.engine) as session:
        [row] = session.exec(select(OutboxMail))
        return row


class PowerCutAfterSend:
    """Wraps the real sender: the mail really goes to the relay, then the process dies before recording it."""

    def __init__(self, sender):
        self.sender = sender

    @asynccontextmanager
    async def connection(self):
        async with self.sender.connection() as real:
            yield self.Connection(real)

    class Connection:
        def __init__(self, real):
            self.real = real

        async def send(self, **kwargs) -> None:
            await self.real.send(**kwargs)
            raise SystemExit("power cut")


def test_queued_mail_is_stored_signed_before_any_send(dkim_app, dovecot, sink, mailbox):
    app, dns = dkim_app
    dovecot.append(SUPPORT_USER, mailbox, customer_mail())
    asyncio.run(poll_mailboxes(app))
    row = outbox_row(app)
    assert row.status == "queued" and sink.messages == []
    assert row.raw.startswith(b"DKIM-Signature:") and verifies(row.raw, dns)


def test_resend_after_a_crash_between_send_and_record_is_byte_identical(dkim_app, dovecot, sink, mailbox, clock):
    app, dns = dkim_app
    dovecot.append(SUPPORT_USER, mailbox, customer_mail())
    asyncio.run(poll_mailboxes(app))
    queued = outbox_row(app).raw
    real = app.sender
    app.sender = PowerCutAfterSend(real)
    with pytest.raises(SystemExit):
        asyncio.run(deliver_until_idle(app))
    assert outbox_row(app).status == "sending" and len(sink.messages) == 1
    app.sender = real  # the next start
    clock.advance(seconds=outbox_queue.SENDING_LEASE.total_seconds() + 1)
    asyncio.run(deliver_until_idle(app))
    first, second = sink.messages
    assert second.data == first.data == queued
    assert first.data.count(b"DKIM-Signature:") == 1 and verifies(second.data, dns)
    assert outbox_row(app).status == "sent"


def test_outbox_retry_resends_the_same_signed_bytes(dkim_app, dovecot, sink, mailbox, clock):
    app, dns = dkim_app
    dovecot.append(SUPPORT_USER, mailbox, customer_mail())
    sink.fail_next("DATA", 554)
    asyncio.run(poll_mailboxes(app))
    asyncio.run(deliver_until_idle(app))
    row = outbox_row(app)
    assert row.status == "held" and sink.messages == []
    clock.advance(hours=3)
    result = run_cli("outbox", "retry", str(row.id), config=app.settings.path, clock=clock)
    assert result.returncode == 0, result.stderr
    asyncio.run(deliver_until_idle(app))
    # A retry of the delivered mail is refused; a forced second send (--resend) is the same bytes again.
    refused = run_cli("outbox", "retry", str(row.id), config=app.settings.path, clock=clock)
    assert refused.returncode == 1 and "is sent already" in refused.stderr and "--resend" in refused.stderr
    assert run_cli("outbox", "retry", str(row.id), "--resend", config=app.settings.path, clock=clock).returncode == 0
    asyncio.run(deliver_until_idle(app))
    first, second = sink.messages
    assert first.data == second.data == row.raw
    assert verifies(second.data, dns)
