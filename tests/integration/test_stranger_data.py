"""A stranger admin tries the shop's data features through the CLI only: history imports from mbox, Maildir, .eml
folders and IMAP folders, the mailbox audit, a person's show/export/erase, odd `[retention]` values and the stats
report (Dovecot + the SMTP sink; each test asserts what the admin sees and what reaches the servers)."""

from __future__ import annotations

import json
import mailbox as mailboxes
import os
import stat
from datetime import UTC, datetime

import pytest
from sqlmodel import Session, select

from mailbridge.store.models import Message, OutboxMail, Ticket
from tests.conftest import SUPPORT_USER, customer_mail, run_cli, run_once
from tests.integration.test_history_import import dated

ANNA = "anna@example.org"


def at(day: int, month: int = 11, hour: int = 10) -> datetime:
    return datetime(2025, month, day, hour, 0, tzinfo=UTC)


def question(sender: str, subject: str, day: int, body: str = "Hello, where is my parcel?") -> bytes:
    name = sender.split("@")[0].title()
    raw = customer_mail(sender=sender, name=name, subject=subject, body=body)
    return dated(raw, at(day), f"<{name.lower()}-{day}@example.org>")


def answer(to: str, subject: str, day: int, in_reply_to: str) -> bytes:
    """Our answer as a Sent folder holds it: From the support address."""
    raw = customer_mail(sender=SUPPORT_USER, name="Shop support", subject=f"Re: {subject}", body="Sent again today.")
    raw = raw.replace(b"To: support@shop.example", f"To: {to}".encode())
    raw = dated(raw, at(day, hour=15), f"<answer-{day}@shop.example>")
    return raw.replace(b"\r\n\r\n", f"\r\nIn-Reply-To: {in_reply_to}\r\n\r\n".encode(), 1)


def counts(app) -> tuple[int, int, int]:
    """(tickets, messages, outbox rows)."""
    with Session(app.engine) as session:
        return (
            len(session.exec(select(Ticket)).all()),
            len(session.exec(select(Message)).all()),
            len(session.exec(select(OutboxMail)).all()),
        )


def statuses(app) -> dict[str, str]:
    with Session(app.engine) as session:
        return {t.subject: t.status for t in session.exec(select(Ticket))}


def one_error_line(result) -> str:
    """The admin sees one readable line and a non-zero exit, never a traceback."""
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip() and not line.startswith("ingesting")]
    assert len(lines) == 1, result.stderr
    return lines[0]


# --- history from files -------------------------------------------------------------------------------------------


def test_mbox_with_from_lines_in_bodies_and_crlf_imports_each_mail_once(make_app, config_file, clock, sink, tmp_path):
    app = make_app()
    body = "Hi,\n\nFrom what I saw, the parcel is lost.\nFrom now on I order elsewhere.\n\nAnna"
    lf, crlf = tmp_path / "lf.mbox", tmp_path / "crlf.mbox"
    for path, people, end in (
        (lf, (ANNA, "bob@example.net"), b"\n"),
        (crlf, ("carla@example.net", "dan@example.net"), b"\r\n"),
    ):
        with path.open("wb") as out:
            for day, sender in enumerate(people, start=3 if path == lf else 5):
                raw = question(sender, f"Parcel {day}", day, body=body).replace(b"\r\n", b"\n")
                out.write((b"From MAILER-DAEMON Mon Nov  3 10:00:00 2025\n" + raw + b"\n").replace(b"\n", end))

    for path in (lf, crlf):
        result = run_cli("ingest", "--status", "closed", str(path), config=config_file(), clock=clock)
        assert result.returncode == 0, result.stderr
        assert result.stdout.splitlines()[0] == "stored 2, duplicate 0, flagged 0, not stored 0, failed 0"
    assert counts(app)[:2] == (4, 4)
    with Session(app.engine) as session:
        for message in session.exec(select(Message)):
            assert "From now on I order elsewhere." in message.text_body, message.from_addr
    again = run_cli("ingest", "--status", "closed", str(lf), str(crlf), config=config_file(), clock=clock)
    assert again.stdout.splitlines()[0] == "stored 0, duplicate 4, flagged 0, not stored 0, failed 0"
    run_once(app)
    assert sink.messages == [] and counts(app)[2] == 0


def test_maildir_eml_folder_and_sent_mbox_thread_answers_and_a_rerun_stores_nothing(
    make_app, config_file, clock, sink, tmp_path
):
    app = make_app()
    maildir = mailboxes.Maildir(tmp_path / "Maildir", create=True)
    maildir.add(question(ANNA, "Parcel lost", 3))
    emls = tmp_path / "eml"
    emls.mkdir()
    (emls / "bob.eml").write_bytes(question("bob@example.net", "Invoice missing", 4))
    (emls / "notes.txt").write_text("not mail")
    sent = mailboxes.mbox(tmp_path / "Sent.mbox", create=True)
    sent.add(answer(ANNA, "Parcel lost", 5, "<anna-3@example.org>").replace(b"\r\n", b"\n"))
    sent.flush()
    args = ("ingest", "--status", "closed", "--closed-before", "2025-11-06", str(tmp_path / "Maildir"), str(emls))
    paths = (*args, str(tmp_path / "Sent.mbox"))

    first = run_cli(*paths, config=config_file(), clock=clock)
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == [
        "stored 3, duplicate 0, flagged 0, not stored 0, failed 0",
        "tickets: opened 2, threaded 1 (answers 1); imported tickets now: closed 2",
    ]
    again = run_cli(*paths, config=config_file(), clock=clock)
    assert again.stdout.splitlines()[0] == "stored 0, duplicate 3, flagged 0, not stored 0, failed 0"
    run_once(app)
    assert counts(app) == (2, 3, 0) and sink.messages == []
    assert statuses(app) == {"Parcel lost": "closed", "Invoice missing": "closed"}


def test_a_file_name_that_is_not_utf8_is_imported(make_app, config_file, clock, tmp_path):
    app = make_app()
    folder = os.fsencode(tmp_path) + b"/archiv-\xe4lt"
    os.mkdir(folder)
    with open(folder + b"/m\xfcller.eml", "wb") as out:
        out.write(question("mueller@example.de", "Rechnung", 6))
    result = run_cli("ingest", "--status", "closed", os.fsdecode(folder), config=config_file(), clock=clock)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].startswith("stored 1,")
    assert counts(app)[:2] == (1, 1)
    missing = run_cli("ingest", os.fsdecode(folder + b"/fehlt\xff.mbox"), config=config_file(), clock=clock)
    assert "no such file or directory" in one_error_line(missing)


@pytest.mark.parametrize("value", ["31.12.2025", "yesterday", "2025-13-01", "2025-11-31", "2025/11/01", "1.5"])
def test_bad_closed_before_is_one_line_naming_the_option(config_file, clock, tmp_path, value):
    path = tmp_path / "a.eml"
    path.write_bytes(question(ANNA, "Parcel lost", 3))
    line = one_error_line(run_cli("ingest", "--closed-before", value, str(path), config=config_file(), clock=clock))
    assert "--closed-before" in line and value in line


def test_bad_status_missing_path_and_empty_mbox_are_one_line_each(make_app, config_file, clock, tmp_path):
    app = make_app()
    path = tmp_path / "a.eml"
    path.write_bytes(question(ANNA, "Parcel lost", 3))
    assert "--status" in one_error_line(run_cli("ingest", "--status", "done", str(path), config=config_file()))
    gone = one_error_line(run_cli("ingest", str(tmp_path / "nope.mbox"), config=config_file(), clock=clock))
    assert "nope.mbox" in gone
    empty = tmp_path / "empty.mbox"
    empty.write_bytes(b"")
    line = one_error_line(run_cli("ingest", "--status", "closed", str(empty), config=config_file(), clock=clock))
    assert "empty.mbox" in line and "no mail" in line
    folder = tmp_path / "nothing"
    folder.mkdir()
    line = one_error_line(run_cli("ingest", str(folder), config=config_file(), clock=clock))
    assert "nothing" in line and "no mail" in line
    assert counts(app) == (0, 0, 0)


# --- a person's data ----------------------------------------------------------------------------------------------


def anna_writes(app, dovecot, mailbox) -> None:
    dovecot.append(SUPPORT_USER, mailbox, customer_mail(subject="Broken kettle", body="The zorblax kettle leaks."))
    run_once(app)


def test_customer_commands_take_the_address_in_any_case(make_app, dovecot, sink, mailbox, clock, tmp_path):
    app = make_app()
    anna_writes(app, dovecot, mailbox)
    config = app.settings.path
    shown = run_cli("customers", "show", "Anna@EXAMPLE.org", config=config, clock=clock)
    assert shown.returncode == 0, shown.stderr
    assert "Broken kettle" in shown.stdout
    export = run_cli("customers", "export", "ANNA@example.org", "--to", str(tmp_path / "x"), config=config)
    assert export.returncode == 0, export.stderr
    assert stat.S_IMODE((tmp_path / "x").stat().st_mode) == 0o700
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in (tmp_path / "x").rglob("*") if p.is_file())
    dry = run_cli("customers", "erase", "ANNA@Example.ORG", "--dry-run", config=config, clock=clock)
    assert dry.returncode == 0, dry.stderr
    assert "dry run, nothing changed" in dry.stdout
    real = run_cli("customers", "erase", "ANNA@Example.ORG", "--yes", config=config, clock=clock)
    assert real.returncode == 0, real.stderr
    assert "ANNA" not in real.stdout.upper().replace("ERASED ANNA@EXAMPLE.ORG", "")
    found = run_cli("tickets", "search", "zorblax", config=config)
    assert found.returncode == 0 and "Broken kettle" not in found.stdout
    assert dovecot.uids(SUPPORT_USER, mailbox) == []
    listed = run_cli("customers", "erasures", "--json", config=config, clock=clock)
    assert listed.returncode == 0 and "anna" not in listed.stdout.lower() and json.loads(listed.stdout)


def test_unknown_our_own_and_an_agents_address_get_one_clear_line(make_app, dovecot, sink, mailbox, clock, tmp_path):
    app = make_app()
    anna_writes(app, dovecot, mailbox)
    config = app.settings.path
    assert run_cli("agents", "add", "maria@shop.example", "--name", "Maria", config=config).returncode == 0
    for address in ("nobody@example.org", SUPPORT_USER, "maria@shop.example", "not-an-address"):
        for args in (("show", address), ("erase", address, "--yes"), ("export", address, "--to", str(tmp_path / "e"))):
            line = one_error_line(run_cli("customers", *args, config=config, clock=clock))
            assert address in line, (args, line)
            if address == SUPPORT_USER:
                assert "our own addresses" in line, line
            if address == "maria@shop.example":
                assert "agent" in line, line
    assert not (tmp_path / "e").exists()
    assert len(dovecot.uids(SUPPORT_USER, mailbox)) == 1


# --- IMAP history and the audit -----------------------------------------------------------------------------------


def test_imap_folders_import_with_their_own_status_then_the_audit_is_clean(
    make_app, config_file, clock, dovecot, mailbox, sink
):
    app = make_app()
    done, pending = f"{mailbox}-Done", f"{mailbox}-Pending"
    for folder in (done, pending):
        dovecot.create_folder(SUPPORT_USER, folder)
    dovecot.append(SUPPORT_USER, done, question(ANNA, "Parcel lost", 3))
    dovecot.append(SUPPORT_USER, pending, question("bob@example.net", "Invoice missing", 4))
    before = {folder: dovecot.flags(SUPPORT_USER, folder) for folder in (done, pending)}
    for folder, status in ((done, "closed"), (pending, "open")):
        result = run_cli(
            "mailboxes", "import", "support", "--folder", folder, "--status", status, config=config_file(), clock=clock
        )
        assert result.returncode == 0, result.stderr
        again = run_cli("mailboxes", "import", "support", "--folder", folder, config=config_file(), clock=clock)
        assert again.stdout.splitlines()[0] == "stored 0, duplicate 1, flagged 0, not stored 0, failed 0"
    run_once(app)
    assert statuses(app) == {"Parcel lost": "closed", "Invoice missing": "open"}
    assert sink.messages == [] and counts(app) == (2, 2, 0)
    assert {folder: dovecot.flags(SUPPORT_USER, folder) for folder in (done, pending)} == before
    audit = run_cli("mailboxes", "audit", "support", config=config_file(), clock=clock)
    assert audit.returncode == 0, audit.stdout + audit.stderr
    gone = run_cli("mailboxes", "import", "support", "--folder", "NoSuchFolder", config=config_file(), clock=clock)
    assert "NoSuchFolder" in one_error_line(gone)
    nobody = run_cli("mailboxes", "import", "nobody", "--folder", done, config=config_file(), clock=clock)
    assert "nobody" in one_error_line(nobody)


def test_mail_appended_while_down_and_seen_taken_off_are_found_and_fixed_once(
    make_app, config_file, clock, dovecot, mailbox, sink
):
    app = make_app()
    dovecot.append(SUPPORT_USER, mailbox, customer_mail(subject="First"))
    run_once(app)
    sink.clear()
    [uid] = dovecot.uids(SUPPORT_USER, mailbox)
    with dovecot.client(SUPPORT_USER) as client:
        client.select_folder(mailbox)
        client.remove_flags([uid], ["\\Seen"])
    dovecot.append(SUPPORT_USER, mailbox, customer_mail(sender="bob@example.net", name="Bob", subject="While down"))
    found = run_cli("mailboxes", "audit", "support", "--json", config=config_file(), clock=clock)
    assert found.returncode != 0 and "Traceback" not in found.stderr
    assert counts(app)[:2] == (1, 1)  # the audit alone changes nothing
    fixed = run_cli("mailboxes", "audit", "support", "--fix", config=config_file(), clock=clock)
    assert "Traceback" not in fixed.stderr, fixed.stderr
    run_once(app)
    assert counts(app)[:2] == (2, 2)
    assert all("\\Seen" in flags for flags in dovecot.flags(SUPPORT_USER, mailbox).values())
    clean = run_cli("mailboxes", "audit", "support", config=config_file(), clock=clock)
    assert clean.returncode == 0, clean.stdout
    # The mail found while down got its receipt once; the first one none again.
    assert [m.rcpt_tos for m in sink.messages if "bob@example.net" in m.rcpt_tos] == [("bob@example.net",)]
    assert not any(ANNA in m.rcpt_tos for m in sink.messages)


# --- [retention] and stats ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "key", "expected"),
    [
        ("purge_raw_after_days = -1", "purge_raw_after_days", "0"),
        ("anonymise_after_days = -30", "anonymise_after_days", "0"),
        ('purge_raw_after_days = "30"', "purge_raw_after_days", "integer"),
        ("purge_raw_after_days = 30.5", "purge_raw_after_days", "integer"),
        ("purge_raw_after_days = true", "purge_raw_after_days", "integer"),
        ("purge_raw_after_days = 99999999", "purge_raw_after_days", "36500"),
        ("purge_raw_days = 30", "purge_raw_days", "purge_raw_after_days"),
        ("purge_raw_after_days = 30\nanonymise_after_days = 10", "anonymise_after_days", "purge_raw_after_days"),
    ],
)
def test_odd_retention_values_are_config_errors_naming_key_and_file(config_file, table, key, expected):
    path = config_file(extra=f"[retention]\n{table}\n")
    line = one_error_line(run_cli("config", "check", config=path))
    assert path.name in line and key in line and expected in line, line
    assert run_cli("run", "--once", config=path).returncode == 2


def test_retention_zero_is_off_and_changes_nothing(make_app, dovecot, sink, mailbox, clock):
    app = make_app(extra="[retention]\npurge_raw_after_days = 0\nanonymise_after_days = 0\n")
    anna_writes(app, dovecot, mailbox)
    clock.advance(days=4000)
    run_once(app)
    assert run_cli("customers", "show", ANNA, config=app.settings.path, clock=clock).returncode == 0
    listed = run_cli("customers", "erasures", config=app.settings.path, clock=clock)
    assert listed.stdout.strip() == "no erasures"


def html_of(config, clock, tmp_path, *args: str) -> str:
    path = tmp_path / "report.html"
    result = run_cli("stats", *args, "--html", str(path), config=config, clock=clock)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    page = path.read_text(encoding="utf-8")
    # One self-contained file: nothing fetched from elsewhere.
    for outside in ('src="http', "src='http", 'href="http', "<link ", "@import", "<script src"):
        assert outside not in page, outside
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.unlink()
    return page


def test_stats_html_on_an_empty_database_and_on_imported_history_names_period_and_zone(
    make_app, config_file, clock, tmp_path
):
    app = make_app()
    config = app.settings.path
    empty = html_of(config, clock, tmp_path)
    assert "UTC" in empty or "Europe/" in empty
    archive = tmp_path / "old.mbox"
    with archive.open("wb") as out:
        for day, who in ((3, ANNA), (4, "bob@example.net"), (20, "carla@example.net")):
            raw = question(who, f"Question {day}", day).replace(b"\r\n", b"\n")
            out.write(b"From MAILER-DAEMON Mon Nov  3 10:00:00 2025\n" + raw + b"\n")
    assert run_cli("ingest", "--status", "closed", str(archive), config=config, clock=clock).returncode == 0
    page = html_of(
        config, clock, tmp_path, "--since", "2025-11-01", "--until", "2025-12-01", "--timezone", "Asia/Tokyo"
    )
    title = page.split("<h1", 1)[1].split("</h1>", 1)[0]
    assert "Asia/Tokyo" in title and "2025-11-01" in title, title
    shown = run_cli("stats", "--since", "2025-11-01", "--until", "2025-11-10", "--json", config=config, clock=clock)
    assert shown.returncode == 0, shown.stderr
    figures = json.loads(shown.stdout)
    assert (figures["opened"], figures["closed"], figures["since"]) == (2, 2, "2025-11-01T00:00:00+01:00")
    for bad in (
        ("--since", "01.11.2025"),
        ("--timezone", "Mars/Olympus"),
        ("--since", "2025-12-01", "--until", "2025-11-01"),
    ):
        line = one_error_line(run_cli("stats", *bad, config=config, clock=clock))
        assert bad[0] in line or "--until" in line, line
    wrong = run_cli("stats", "--from", "2025-11-01", config=config, clock=clock)
    # --from/--to are not aliases: --until is exclusive, and "--to 2025-11-30" would read as inclusive.
    assert "--from" in one_error_line(wrong) and "--help" in one_error_line(wrong)
