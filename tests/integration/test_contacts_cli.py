"""`mailbridge contacts ...` in-process, and what the Contact switches do to intake (attachments, save_messages)."""

from __future__ import annotations

import email
import json
import re
from email import policy

import pytest
from sqlmodel import Session, select

from mailbridge.store.models import Attachment, Message, OutboxMail, Ticket
from tests.conftest import SUPPORT_USER, customer_mail, run_cli, run_once

LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ .*\n?", re.MULTILINE)


def invoke(*args: str) -> tuple[int, str, str]:
    """Run `mailbridge ARGS` in this process through the real entry point; return (exit code, stdout, stderr),
    stderr without the log lines (the schema check's INFO lines) so the tests see only what the command says."""
    result = run_cli(*args)
    return result.returncode, result.stdout, LOG_LINE.sub("", result.stderr)


@pytest.fixture
def cli(config_file):
    path = str(config_file())
    return lambda *args: invoke("--config", path, *args)


def test_contact_add_show_edit_list_remove_round_trip(cli):
    code, out, err = cli(
        "contacts",
        "add",
        "Webmaster",
        "--address",
        "Web@Shop.example",
        "--description",
        "site",
        "--no-accept-attachments",
        "--locale",
        "it",
        "--sla-hours",
        "8",
        "--auto-close-days",
        "3",
        "--escalation-address",
        "boss@shop.example",
        "--survey",
        "--greeting",
        "Ciao",
    )
    assert code == 0, err
    shown = json.loads(cli("contacts", "show", "Webmaster", "--json")[1])
    assert shown["address"] == "web@shop.example" and shown["accept_attachments"] is False
    assert (shown["locale"], shown["sla_hours"], shown["auto_close_days"]) == ("it", 8.0, 3)
    assert shown["send_survey"] is True and shown["greeting"] == "Ciao" and shown["save_messages"] is True
    assert cli("contacts", "edit", "Webmaster", "--no-save-messages", "--locale", "", "--rename", "Web")[0] == 0
    listed = {c["name"]: c for c in json.loads(cli("contacts", "list", "--json")[1])}
    assert listed["Web"]["save_messages"] is False and listed["Web"]["locale"] is None
    assert "Customer service" in listed
    assert cli("contacts", "remove", "Web")[0] == 0
    assert "Web" not in {c["name"] for c in json.loads(cli("contacts", "list", "--json")[1])}


@pytest.mark.parametrize(
    "args, message",
    [
        (["add", "X", "--address", "not-an-address"], "--address: expected an email address"),
        (["add", "X"], "--address: required for a new contact"),
        (["add", "X", "--address", "x@shop.example", "--locale", "fr"], "--locale: expected one of"),
        (["add", "Customer service", "--address", "x@shop.example"], "exists already"),
        (["show", "Nobody"], "no contact named 'Nobody'"),
        (["edit", "Nobody", "--locale", "en"], "no contact named 'Nobody'"),
        (["remove", "Customer service"], "is named by a [[mailboxes]] table"),
    ],
)
def test_contact_errors_are_one_line_and_non_zero(cli, args, message):
    code, _out, err = cli("contacts", *args)
    assert code == 1
    assert len(err.strip().splitlines()) == 1 and message in err


def test_contact_address_taken_by_another_is_refused(cli):
    cli("contacts", "add", "A", "--address", "a@shop.example")
    code, _out, err = cli("contacts", "add", "B", "--address", "a@shop.example")
    assert code == 1 and "already belongs to contact 'A'" in err


def test_no_attachments_contact_keeps_files_only_in_raw_and_says_so(cli, make_app, dovecot, sink, mailbox):
    cli("contacts", "edit", "Customer service", "--no-accept-attachments")
    app = make_app()
    raw = customer_mail(attachment=("invoice.pdf", b"%PDF-1.4 x", "application/pdf"))
    dovecot.append(SUPPORT_USER, mailbox, raw)
    run_once(app)
    with Session(app.engine) as session:
        assert session.exec(select(Attachment)).all() == []
        [stored] = session.exec(select(Message))
    assert stored.raw == raw and stored.ticket_id is not None
    [receipt] = [email.message_from_bytes(m.data, policy=policy.default) for m in sink.messages]
    assert "We do not accept files by email" in receipt.get_body(("plain",)).get_content()


def test_receipt_of_a_contact_accepting_files_has_no_such_line(make_app, dovecot, sink, mailbox):
    app = make_app()
    dovecot.append(SUPPORT_USER, mailbox, customer_mail(attachment=("a.pdf", b"%PDF-1.4 x", "application/pdf")))
    run_once(app)
    [receipt] = [email.message_from_bytes(m.data, policy=policy.default) for m in sink.messages]
    assert "do not accept files" not in receipt.get_body(("plain",)).get_content()


def test_unsaved_contact_forwards_mail_and_stores_no_ticket(cli, make_app, dovecot, sink, mailbox):
    cli("contacts", "edit", "Customer service", "--no-save-messages", "--address", "desk@shop.example")
    app = make_app()
    raw = customer_mail(subject="Private matter")
    uid = dovecot.append(SUPPORT_USER, mailbox, raw)
    run_once(app)
    run_once(app)
    with Session(app.engine) as session:
        assert session.exec(select(Ticket)).all() == [] and session.exec(select(Message)).all() == []
        [row] = session.exec(select(OutboxMail))
    assert row.kind == "forward_unsaved" and row.status == "sent"
    [sent] = sink.messages
    assert sent.rcpt_tos == ("desk@shop.example",)
    forward = email.message_from_bytes(sent.data, policy=policy.default)
    assert (
        forward["Subject"] == "Fwd: Private matter" and forward["Reply-To"].addresses[0].addr_spec == "anna@example.org"
    )
    [attached] = [part for part in forward.iter_attachments() if part.get_content_type() == "message/rfc822"]
    assert attached.get_content()["Subject"] == "Private matter"
    assert "\\Seen" in dovecot.flags(SUPPORT_USER, mailbox)[uid]
