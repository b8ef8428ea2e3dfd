"""Issue 20, retention and erasure end to end on Dovecot + the SMTP sink: `customers export` writes JSON and .eml
files, `customers erase` counts first (dry run), then removes the person's content, raw files, attachments, full-text
hits and source messages on the server, leaving an audit record without the address; the `[retention]` timer purges
the raw mail of tickets closed N days ago and anonymises older ones."""

from __future__ import annotations

import json
import stat
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import LargeBinary, String, Text, inspect, text
from sqlmodel import Session, select

from mailbridge.decisions.kinds import TicketStatus
from mailbridge.runtime.desk import change_status
from mailbridge.store.models import Attachment, Customer, Erasure, Message, Ticket, TicketEvent
from tests.conftest import SUPPORT_USER, customer_mail, run_cli, run_once

AGENT = "agent:maria@shop.example"
ANNA = "anna@example.org"
RAW_FILES = "[ingest]\nraw_file_threshold_bytes = 2000\n"
PHOTO = ("kettle.png", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 20, "image/png")


def anna_and_bob(app, dovecot, mailbox) -> list[Ticket]:
    """Anna writes twice (one mail with an attachment, so its raw mail is a file), Bob once; the tickets are closed."""
    dovecot.append(
        SUPPORT_USER,
        mailbox,
        customer_mail(subject="Broken kettle", body="The zanzibarquux kettle leaks.", attachment=PHOTO),
    )
    dovecot.append(SUPPORT_USER, mailbox, customer_mail(subject="Invoice question", body="My wombatfrisbee invoice."))
    dovecot.append(
        SUPPORT_USER, mailbox, customer_mail(sender="bob@example.net", name="Bob", body="Bob's quetzalcorn question.")
    )
    run_once(app)
    with Session(app.engine) as session:
        tickets = list(session.exec(select(Ticket).order_by(Ticket.id)))
    assert len(tickets) == 3
    for ticket in tickets:
        change_status(app, ticket.number, TicketStatus.WAITING, AGENT)
        change_status(app, ticket.number, TicketStatus.CLOSED, AGENT)
    run_once(app)
    return tickets


def search(app, word: str) -> str:
    result = run_cli("tickets", "search", word, config=app.settings.path)
    assert result.returncode == 0, result.stderr
    return result.stdout


def rows_naming(app, needle: str) -> list[str]:
    """Every table.column whose value holds `needle` (any case), over text and bytes columns of every table."""
    found = []
    with Session(app.engine) as session:
        for table in inspect(app.engine).get_table_names():
            if table.startswith("message_fts") or table == "alembic_version":
                continue
            columns = [
                c["name"]
                for c in inspect(app.engine).get_columns(table)
                if isinstance(c["type"], (String, Text, LargeBinary))
            ]
            for column in columns:
                for (value,) in session.execute(text(f'SELECT "{column}" FROM "{table}"')):
                    shown = bytes(value).decode("utf-8", "replace") if isinstance(value, (bytes, memoryview)) else value
                    if shown and needle.lower() in str(shown).lower():
                        found.append(f"{table}.{column}")
    return found


def test_export_writes_json_and_their_mail_as_eml_files_privately(make_app, dovecot, sink, mailbox, tmp_path, clock):
    app = make_app(extra=RAW_FILES)
    anna_and_bob(app, dovecot, mailbox)
    target = tmp_path / "anna-export"
    result = run_cli("customers", "export", ANNA, "--to", str(target), config=app.settings.path, clock=clock)
    assert result.returncode == 0, result.stderr
    document = json.loads((target / "customer.json").read_text())
    assert document["customer"]["email"] == ANNA and document["customer"]["name"] == "Anna Rossi"
    assert sorted(t["subject"] for t in document["tickets"]) == ["Broken kettle", "Invoice question"]
    assert [h["to"] for h in document["tickets"][0]["history"] if h["kind"] == "status_changed"][-1] == "closed"
    assert {m["subject"] for m in document["messages"]} == {"Broken kettle", "Invoice question"}
    [kettle] = [m for m in document["messages"] if m["subject"] == "Broken kettle"]
    assert "zanzibarquux" in kettle["text"] and kettle["attachments"][0]["filename"] == "kettle.png"
    assert "quetzalcorn" not in (target / "customer.json").read_text()  # Bob's mail is not theirs
    received = sorted((target / "mail").glob("in-*.eml"))
    on_server = [m for m in dovecot.messages(SUPPORT_USER, mailbox) if b"anna@example.org" in m]
    assert len(received) == 2 and sorted(p.read_bytes() for p in received) == sorted(on_server)
    sent = list((target / "mail").glob("out-*.eml"))
    assert sent and all(b"anna@example.org" in p.read_bytes() for p in sent)  # receipts and notices to them
    assert len(document["mail_sent_to_you"]) == len(sent)
    assert stat.S_IMODE(target.stat().st_mode) == 0o700 and stat.S_IMODE((target / "mail").stat().st_mode) == 0o700
    for path in [target / "customer.json", *received, *sent]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "wrote" in result.stdout and "2 messages" in result.stdout


def test_export_refuses_a_directory_with_files_and_an_unknown_address(make_app, tmp_path):
    app = make_app()
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    result = run_cli("customers", "export", ANNA, "--to", str(tmp_path / "full"), config=app.settings.path)
    assert result.returncode == 1 and "is not an empty directory" in result.stderr
    result = run_cli(
        "customers", "export", "nobody@example.org", "--to", str(tmp_path / "new"), config=app.settings.path
    )
    assert result.returncode == 1 and "nothing stored about nobody@example.org" in result.stderr
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("db_kind", ["sqlite", "postgres"])
def test_erase_counts_first_then_removes_the_person_everywhere(
    request, db_kind, make_app, dovecot, sink, mailbox, clock
):
    url = (
        request.getfixturevalue("postgres").create_database(f"erase{abs(hash(request.node.nodeid)) % 10**6}")
        if db_kind == "postgres"
        else None
    )
    app = make_app(extra=RAW_FILES, **({"db_url": url} if url else {}))
    tickets = anna_and_bob(app, dovecot, mailbox)
    config = app.settings.path
    with Session(app.engine) as session:
        raw_files = [Path(m.raw_path) for m in session.exec(select(Message).where(Message.raw_path.is_not(None)))]
    assert len(raw_files) == 1 and raw_files[0].exists()
    assert len(dovecot.uids(SUPPORT_USER, mailbox)) == 3
    assert tickets[0].number in search(app, "zanzibarquux")

    dry = run_cli("customers", "erase", ANNA, "--dry-run", "--json", config=config, clock=clock)
    assert dry.returncode == 0, dry.stderr
    counts = json.loads(dry.stdout)["counts"]
    assert json.loads(dry.stdout)["dry_run"] is True
    assert counts["tickets"] == 2 and counts["server_messages"] == 2 and counts["raw_files"] == 1
    assert counts["attachments"] == 1 and counts["outbox_mails"] >= 2 and counts["messages"] >= 2
    # The dry run changed nothing: the server, the rows, the file, the index.
    assert len(dovecot.uids(SUPPORT_USER, mailbox)) == 3 and raw_files[0].exists()
    assert tickets[0].number in search(app, "zanzibarquux")
    with Session(app.engine) as session:
        assert session.exec(select(Customer).where(Customer.email == ANNA)).one()
        assert session.exec(select(Erasure)).all() == []

    real = run_cli("customers", "erase", ANNA, "--yes", config=config, clock=clock)
    assert real.returncode == 0, real.stderr
    assert f"erased {ANNA}: its rows now carry erased-" in real.stdout
    assert "     2  messages on the IMAP server" in real.stdout
    assert len(dovecot.uids(SUPPORT_USER, mailbox)) == 1
    assert all(b"anna" not in m for m in dovecot.messages(SUPPORT_USER, mailbox))
    assert not raw_files[0].exists()
    assert tickets[0].number not in search(app, "zanzibarquux")
    if db_kind == "sqlite":  # the FTS5 table itself holds none of their words
        with Session(app.engine) as session:
            hits = session.execute(text("SELECT rowid FROM message_fts WHERE message_fts MATCH 'zanzibarquux'"))
            assert hits.all() == []
    assert tickets[1].number not in search(app, "wombatfrisbee")
    assert tickets[2].number in search(app, "quetzalcorn")  # Bob's ticket is untouched
    assert rows_naming(app, ANNA) == [] and rows_naming(app, "Anna Rossi") == []
    with Session(app.engine) as session:
        kept = [session.get(Ticket, t.id) for t in tickets[:2]]
        assert [t.number for t in kept] == [t.number for t in tickets[:2]]  # numbers and statuses stay
        assert all(t.status == TicketStatus.CLOSED and t.anonymised_at is not None for t in kept)
        assert session.exec(select(Attachment)).all() == []
        [record] = session.exec(select(Erasure)).all()
        assert record.kind == "erase" and record.actor.startswith("admin:") and record.subject.startswith("erased-")
        assert json.loads(record.counts)["server_messages"] == 2
        events = session.exec(select(TicketEvent).where(TicketEvent.kind == "anonymised")).all()
        assert len(events) == 2
    shown = run_cli("customers", "show", ANNA, config=config)
    assert shown.returncode == 1 and "no customer with address" in shown.stderr
    listed = run_cli("customers", "erasures", config=config, clock=clock)
    assert "erase" in listed.stdout and "server_messages=2" in listed.stdout and "anna" not in listed.stdout
    again = run_cli("customers", "erase", ANNA, "--yes", config=config, clock=clock)
    assert again.returncode == 1 and "nothing stored about anna@example.org" in again.stderr


def test_a_mail_after_erasure_makes_a_new_customer(make_app, dovecot, sink, mailbox, clock):
    app = make_app()
    anna_and_bob(app, dovecot, mailbox)
    assert run_cli("customers", "erase", ANNA, "--yes", config=app.settings.path, clock=clock).returncode == 0
    dovecot.append(SUPPORT_USER, mailbox, customer_mail(subject="Hello again", body="New question."))
    run_once(app)
    with Session(app.engine) as session:
        anna = session.exec(select(Customer).where(Customer.email == ANNA)).one()
        assert [t.subject for t in session.exec(select(Ticket).where(Ticket.customer_id == anna.id))] == ["Hello again"]


def test_erase_without_yes_asks_and_a_no_changes_nothing(make_app, dovecot, sink, mailbox, clock):
    app = make_app()
    anna_and_bob(app, dovecot, mailbox)
    result = run_cli("customers", "erase", ANNA, config=app.settings.path, clock=clock, input="n\n")
    assert result.returncode == 1 and "dry run, nothing changed" in result.stdout
    assert "nothing erased" in result.stderr
    assert len(dovecot.uids(SUPPORT_USER, mailbox)) == 3


def test_retention_purges_raw_of_closed_tickets_and_anonymises_older_ones(make_app, dovecot, sink, mailbox, clock):
    app = make_app(extra=RAW_FILES + "[retention]\npurge_raw_after_days = 30\nanonymise_after_days = 365\n")
    dovecot.append(
        SUPPORT_USER, mailbox, customer_mail(subject="Old kettle", body="The zanzibarquux kettle.", attachment=PHOTO)
    )
    run_once(app)
    with Session(app.engine) as session:
        [old] = session.exec(select(Ticket)).all()
    change_status(app, old.number, TicketStatus.WAITING, AGENT)
    change_status(app, old.number, TicketStatus.CLOSED, AGENT)
    clock.advance(days=300)
    dovecot.append(
        SUPPORT_USER, mailbox, customer_mail(subject="New kettle", body="The wombatfrisbee kettle.", attachment=PHOTO)
    )
    run_once(app)
    with Session(app.engine) as session:
        [recent] = session.exec(select(Ticket).where(Ticket.id != old.id)).all()
        [file_path] = {
            m.raw_path for m in session.exec(select(Message)) if m.raw_path
        }  # the old one was purged at this run
    change_status(app, recent.number, TicketStatus.WAITING, AGENT)
    change_status(app, recent.number, TicketStatus.CLOSED, AGENT)
    clock.advance(days=20)
    run_once(app)  # the old ticket is 320 days closed, the recent one 20: raw purged only for the old one
    with Session(app.engine) as session:
        assert all(m.raw or m.raw_path for m in session.exec(select(Message).where(Message.ticket_id == recent.id)))
        assert not any(m.raw or m.raw_path for m in session.exec(select(Message).where(Message.ticket_id == old.id)))
    clock.advance(days=60)
    run_once(app)  # 380 days: the old one is anonymised; 80 days: the recent one loses its raw mail
    with Session(app.engine) as session:
        old_now, recent_now = session.get(Ticket, old.id), session.get(Ticket, recent.id)
        assert old_now.anonymised_at is not None and old_now.subject == "(erased)"
        assert recent_now.anonymised_at is None and recent_now.subject == "New kettle"
        [recent_mail] = session.exec(select(Message).where(Message.ticket_id == recent.id)).all()
        assert recent_mail.raw == b"" and recent_mail.raw_path is None and "wombatfrisbee" in recent_mail.text_body
        [photo] = session.exec(select(Attachment).where(Attachment.message_id == recent_mail.id)).all()
        assert photo.content == b"" and photo.filename == "kettle.png"
        [old_mail] = session.exec(select(Message).where(Message.ticket_id == old.id)).all()
        assert old_mail.text_body == "" and old_mail.from_addr.startswith("erased-")
        assert session.exec(select(Attachment).where(Attachment.message_id == old_mail.id)).all() == []
        anna = session.exec(select(Customer).where(Customer.email == ANNA)).one()
        assert recent_now.customer_id == anna.id and old_now.customer_id != anna.id
        kinds = [e.kind for e in session.exec(select(TicketEvent).where(TicketEvent.actor == "system"))]
        assert "raw_purged" in kinds and "anonymised" in kinds
        records = session.exec(select(Erasure).order_by(Erasure.id)).all()
        # Mail sent on a purged ticket after the purge (a survey going out when it was queued) is purged at the next run.
        assert {r.kind for r in records} == {"retention"} and len(records) >= 2
        assert json.loads(records[-1].counts)["tickets"] == 1
        assert json.loads(records[-1].counts)["raw_purged_tickets"] == 1
    assert not Path(file_path).exists()
    assert "zanzibarquux" not in search(app, "zanzibarquux") and old.number not in search(app, "zanzibarquux")
    assert recent.number in search(app, "wombatfrisbee")  # the text of a purged ticket stays searchable
    run_once(app)  # nothing is left to do: no new record
    with Session(app.engine) as session:
        assert len(session.exec(select(Erasure)).all()) == len(records)


def test_erase_finds_mail_that_after_sync_moved_by_its_message_id(make_app, dovecot, sink, mailbox, clock):
    done = mailbox + "Done"
    app = make_app(extra_mailbox=f'after_sync = "move:{done}"')
    dovecot.append(SUPPORT_USER, mailbox, customer_mail(body="Moved zanzibarquux mail."))
    dovecot.append(SUPPORT_USER, mailbox, customer_mail(sender="bob@example.net", name="Bob"))
    run_once(app)
    assert dovecot.uids(SUPPORT_USER, mailbox) == [] and len(dovecot.uids(SUPPORT_USER, done)) == 2
    result = run_cli("customers", "erase", ANNA, "--yes", "--json", config=app.settings.path, clock=clock)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["counts"]["server_messages"] == 1
    [left] = dovecot.messages(SUPPORT_USER, done)
    assert b"bob@example.net" in left and b"anna" not in left


def test_the_retention_timer_runs_once_a_day_across_the_daemons(postgres):
    from sqlalchemy import text as sql

    from mailbridge.runtime.daemon import TIMER_INTERVALS, TIMERS
    from tests.integration.test_fleet_races import fleet_of, together

    assert "apply_retention" in [name for _, name in TIMERS]
    day = TIMER_INTERVALS["apply_retention"]
    fleets = fleet_of(postgres, "fleet_retention_timer", 3)
    fleets[0].claim_timer("apply_retention", day)  # seen for the first time: due a day later
    with fleets[0].engine.begin() as connection:
        connection.execute(sql("UPDATE timerdue SET next_due = now() - interval '1 second'"))
    results = together(fleets, lambda fleet: fleet.claim_timer("apply_retention", day))
    assert [ok for ok, _ in results].count(True) == 1
    [next_due] = {due for _, due in results}
    with fleets[0].engine.connect() as connection:
        now = connection.execute(sql("SELECT now()")).scalar_one()
    assert timedelta(hours=23) < next_due - now <= timedelta(days=1)
