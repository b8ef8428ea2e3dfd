"""A message that breaks our code is retried, quarantined after three failures, listed and retried by the CLI."""

from __future__ import annotations

import json

from sqlmodel import Session, select

from mailbridge.ingest import intake, prepare
from mailbridge.store.models import Message, Ticket
from tests.conftest import SUPPORT_USER, customer_mail, run_cli, run_once


def test_message_breaking_intake_is_quarantined_after_three_polls_then_retried(
    make_app, config_file, dovecot, sink, mailbox, monkeypatch
):
    # No worker: the poller prepares the batch, then intake prepares again what that failed on, inside its guard.
    app = make_app(extra="[ingest]\nparse_processes = 0\n")
    uid = dovecot.append(SUPPORT_USER, mailbox, customer_mail(subject="Poison"))
    real = intake.prepare_mail

    def broken(raw, max_bytes=None, *, digest=None, limits=None):
        raise ValueError("parser bug")

    monkeypatch.setattr(intake, "prepare_mail", broken)
    monkeypatch.setattr(prepare, "prepare_mail", broken)
    for attempt in range(3):
        run_once(app)
        flagged = "\\Seen" in dovecot.flags(SUPPORT_USER, mailbox)[uid]
        assert flagged == (attempt == 2)  # marked on the server only once it is stored (quarantined)
    with Session(app.engine) as session:
        [row] = session.exec(select(Message))
    assert row.kind == "quarantined" and row.defects.startswith("ValueError: parser bug") and row.raw
    monkeypatch.setattr(intake, "prepare_mail", real)
    monkeypatch.setattr(prepare, "prepare_mail", real)

    path = config_file()
    listed = json.loads(run_cli("messages", "list", "--kind", "quarantined", "--json", config=path).stdout)
    assert [m["id"] for m in listed] == [row.id]
    retried = run_cli("messages", "retry", str(row.id), config=path)
    assert retried.returncode == 0, retried.stderr
    with Session(app.engine) as session:
        [ticket] = session.exec(select(Ticket))
        [stored] = session.exec(select(Message))
    assert ticket.subject == "Poison" and stored.kind == "customer"
    again = run_cli("messages", "retry", str(stored.id), config=path)
    assert again.returncode == 1 and "not quarantined" in again.stderr
