"""Search, customer history and statistics on a real PostgreSQL (the same code the SQLite tests cover)."""

from __future__ import annotations

import json

from sqlmodel import Session

from mailbridge.reports.search import customer_history, search_tickets
from mailbridge.store.reader import reader_of
from tests.conftest import SUPPORT_USER, customer_mail, run_cli, run_once


def test_search_and_history_work_on_postgres(postgres, make_app, dovecot, sink, mailbox):
    app = make_app(db_url=postgres.create_database("pgsearch"))
    dovecot.append(SUPPORT_USER, mailbox, customer_mail(subject="Lampada rotta", body="La lampada è arrivata rotta."))
    dovecot.append(
        SUPPORT_USER,
        mailbox,
        customer_mail(
            sender="bob@example.org", name="Bob Stone", subject="Invoice", body="Please send the invoice again."
        ),
    )
    run_once(app)
    with Session(app.engine) as session:
        reader = reader_of(session)
        by_text = search_tickets(reader, "lampada rotta")
        by_name = search_tickets(reader, "Stone")
        history = customer_history(reader, "anna@example.org")
    assert [(t["subject"], why) for t, why in by_text] == [("Lampada rotta", "text")]
    assert [(t["subject"], why) for t, why in by_name] == [("Invoice", "customer")]
    assert history["ticket_count"] == 1 and history["messages"][0]["threaded_by"] == "new"


def test_stats_json_runs_on_postgres(postgres, config_file, dovecot, sink, mailbox):
    path = config_file(db_url=postgres.create_database("pgstats"))
    dovecot.append(SUPPORT_USER, mailbox, customer_mail())
    assert run_cli("run", "--once", config=path).returncode == 0
    result = run_cli("stats", "--json", config=path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["opened"] == 1
