"""IMAP connection options, folders, after-sync steps, unknown mail and mailbox health, against the real Dovecot."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace

import pytest
from sqlmodel import Session, select

from mailbridge.base.config.settings import load_settings
from mailbridge.ingest.sources.imap import ImapSource
from mailbridge.runtime.app import build_app
from mailbridge.runtime.jobs import poll_mailboxes
from mailbridge.store.models import MailboxHealth, MailboxState, Message, OutboxMail, Ticket
from tests.conftest import SUPPORT_USER, customer_mail, run_cli, run_once

BROKEN = (
    '[[mailboxes]]\nname = "broken"\nhost = "127.0.0.1"\nport = 1\nsecurity = "plain"\n'
    'username = "x"\npassword_env = "MAILBRIDGE_TEST_IMAP_PASSWORD"\ntimeout_seconds = 2\n'
)


def rows(app, model) -> list:
    with Session(app.engine) as session:
        return list(session.exec(select(model).order_by(model.id)))


def poll(app) -> list[str]:
    return asyncio.run(poll_mailboxes(app))[1]


@pytest.mark.parametrize("security", ["ssl", "starttls", "plain"])
def test_each_security_mode_reads_and_flags_mail(make_app, dovecot, sink, mailbox, security):
    port = dovecot.imaps_port if security == "ssl" else dovecot.imap_port
    app = make_app(security=security, imap_port=port)
    uid = dovecot.append(SUPPORT_USER, mailbox, customer_mail())
    assert poll(app) == []
    assert len(rows(app, Ticket)) == 1
    assert "\\Seen" in dovecot.flags(SUPPORT_USER, mailbox)[uid]


def test_starttls_is_refused_when_the_server_does_not_offer_it(make_app, dovecot_plain, sink):
    app = make_app(security="starttls", imap_port=dovecot_plain.imap_port, folder="INBOX")
    uid = dovecot_plain.append(SUPPORT_USER, "INBOX", customer_mail())
    [error] = poll(app)
    assert "does not offer STARTTLS; refusing plaintext" in error
    assert rows(app, Message) == []
    assert dovecot_plain.flags(SUPPORT_USER, "INBOX")[uid] == ()


def test_plain_on_loopback_works_without_any_tls(make_app, dovecot_plain, sink):
    dovecot_plain.create_folder(SUPPORT_USER, "Plain")
    app = make_app(security="plain", imap_port=dovecot_plain.imap_port, folder="Plain", ca_file=None)
    dovecot_plain.append(SUPPORT_USER, "Plain", customer_mail())
    assert poll(app) == []
    assert len(rows(app, Ticket)) == 1


def test_wrong_ca_fails_with_a_certificate_error(make_app, dovecot, sink, mailbox):
    app = make_app(ca_file=dovecot.other_ca_file)
    [error] = poll(app)
    assert "certificate not trusted" in error and f"{dovecot.imaps_port}, ssl" in error


def test_validate_cert_false_connects_to_the_self_signed_server(make_app, dovecot, sink, mailbox):
    app = make_app(ca_file=None, extra_mailbox="validate_cert = false")
    dovecot.append(SUPPORT_USER, mailbox, customer_mail())
    assert poll(app) == []
    assert len(rows(app, Ticket)) == 1


@pytest.mark.parametrize("version, expected", [("1.2", {"TLSv1.2", "TLSv1.3"}), ("1.3", {"TLSv1.3"})])
def test_tls_min_version_is_negotiated(make_app, dovecot, sink, mailbox, version, expected):
    app = make_app(extra_mailbox=f'tls_min_version = "{version}"')
    with ImapSource(app.settings.mailboxes[0]) as source:
        assert source.client.socket().version() in expected


def test_every_folder_is_tracked_separately(config_file, clock, dovecot, sink, mailbox):
    other = f"{mailbox}-orders"
    dovecot.create_folder(SUPPORT_USER, other)
    path = config_file()
    path.write_text(path.read_text().replace(f'folder = "{mailbox}"', f'folders = ["{mailbox}", "{other}"]'))
    app = build_app(load_settings(path), clock=clock)
    first = dovecot.append(SUPPORT_USER, mailbox, customer_mail(subject="in inbox"))
    second = dovecot.append(SUPPORT_USER, other, customer_mail(sender="bob@example.org", subject="in orders"))
    run_once(app)
    assert {(s.folder, s.last_uid) for s in rows(app, MailboxState)} == {(mailbox, first), (other, second)}
    assert sorted(m.folder for m in rows(app, Message)) == sorted([mailbox, other])
    assert "\\Seen" in dovecot.flags(SUPPORT_USER, other)[second]


def test_failing_mailbox_never_stops_the_others(make_app, dovecot, sink, mailbox):
    app = make_app(extra=BROKEN)
    dovecot.append(SUPPORT_USER, mailbox, customer_mail())
    [error] = poll(app)
    assert "mailbox 'broken'" in error and len(rows(app, Ticket)) == 1
    health = {h.mailbox: h for h in rows(app, MailboxHealth)}
    assert health["support"].consecutive_failures == 0 and health["support"].last_success_at
    assert health["broken"].consecutive_failures == 1 and health["broken"].retry_at > health["broken"].failing_since


@pytest.mark.parametrize("after_sync", ["seen", "keep", "delete", "move:Done"])
def test_after_sync_step_runs_on_the_server(make_app, dovecot, sink, mailbox, after_sync):
    target = f"{mailbox}-done"
    app = make_app(extra_mailbox=f'after_sync = "{after_sync.replace("Done", target)}"')
    uid = dovecot.append(SUPPORT_USER, mailbox, customer_mail())
    run_once(app)
    flags = dovecot.flags(SUPPORT_USER, mailbox)
    assert len(rows(app, Message)) == 1
    if after_sync == "seen":
        assert flags[uid] == ("\\Seen",)
    elif after_sync == "keep":
        assert flags[uid] == ()
    else:
        assert uid not in flags
    if after_sync.startswith("move:"):
        assert len(dovecot.messages(SUPPORT_USER, target)) == 1


def test_move_without_the_move_extension_copies_and_expunges(make_app, dovecot, sink, mailbox):
    app = make_app()
    uid = dovecot.append(SUPPORT_USER, mailbox, customer_mail())
    kept = dovecot.append(SUPPORT_USER, mailbox, customer_mail(subject="stays"))
    with ImapSource(app.settings.mailboxes[0]) as source:
        source.select(mailbox)
        source.move_by_copy([uid], f"{mailbox}-copied")
    assert list(dovecot.flags(SUPPORT_USER, mailbox)) == [kept]
    assert len(dovecot.messages(SUPPORT_USER, f"{mailbox}-copied")) == 1


def _ticket_then_unknown(make_app, dovecot, mailbox, extra_mailbox: str):
    dovecot.append(SUPPORT_USER, mailbox, customer_mail(subject="first"))
    first_app = make_app()
    run_once(first_app)
    app = make_app(extra_mailbox="create_tickets_for_unknown = false\n" + extra_mailbox)
    [ticket] = rows(app, Ticket)
    reply = dovecot.append(SUPPORT_USER, mailbox, customer_mail(subject=f"Re: [#{ticket.number}] first"))
    unknown = dovecot.append(SUPPORT_USER, mailbox, customer_mail(sender="new@example.org", subject="new topic"))
    run_once(app)
    return app, reply, unknown


def test_unknown_mail_is_left_untouched_when_tickets_are_not_created(make_app, dovecot, sink, mailbox):
    app, reply, unknown = _ticket_then_unknown(make_app, dovecot, mailbox, "")
    assert len(rows(app, Ticket)) == 1
    assert [m.subject for m in rows(app, Message)] == ["first", f"Re: [#{rows(app, Ticket)[0].number}] first"]
    flags = dovecot.flags(SUPPORT_USER, mailbox)
    assert "\\Seen" in flags[reply] and flags[unknown] == ()
    run_once(app)
    assert dovecot.flags(SUPPORT_USER, mailbox)[unknown] == () and len(rows(app, Message)) == 2


def test_unknown_mail_is_moved_to_unknown_folder_when_set(make_app, dovecot, sink, mailbox):
    aside = f"{mailbox}-unknown"
    app, reply, unknown = _ticket_then_unknown(make_app, dovecot, mailbox, f'unknown_folder = "{aside}"')
    assert len(rows(app, Message)) == 2
    assert unknown not in dovecot.flags(SUPPORT_USER, mailbox)
    [moved] = dovecot.messages(SUPPORT_USER, aside)
    assert b"new topic" in moved
    assert dovecot.flags(SUPPORT_USER, aside) == {1: ()}


def test_silent_mailbox_is_reported_once_to_the_admin(config_file, clock, dovecot, sink, mailbox):
    path = config_file(ca_file=dovecot.other_ca_file)
    path.write_text(
        path.read_text().replace(
            'from_address = "support@shop.example"',
            'from_address = "support@shop.example"\nadmin_address = "admin@shop.example"',
        )
    )
    app = build_app(load_settings(path), clock=clock)
    poll(app)
    clock.advance(minutes=31)
    poll(app)
    poll(app)
    [alert] = [o for o in rows(app, OutboxMail) if o.kind == "mailbox_alert"]
    assert alert.rcpt_to == "admin@shop.example" and b"Auto-Submitted: auto-generated" in alert.raw
    app.settings = replace(
        app.settings,
        mailboxes=(
            replace(
                app.settings.mailboxes[0],
                connection=replace(app.settings.mailboxes[0].connection, ca_file=dovecot.ca_file),
            ),
        ),
    )
    assert poll(app) == []
    [health] = rows(app, MailboxHealth)
    assert health.failing_since is None and health.consecutive_failures == 0


def test_status_shows_each_mailbox_and_the_outbox(config_file, dovecot, sink, mailbox):
    path = config_file(extra=BROKEN)
    dovecot.append(SUPPORT_USER, mailbox, customer_mail())
    sink.fail_next("RCPT", 451)
    assert run_cli("run", "--once", config=path, env={"MAILBRIDGE_NOW": "2026-11-24T09:00:00Z"}).returncode == 1
    result = run_cli("status", "--json", config=path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    support, broken = report["mailboxes"]
    assert support["last_success_at"].startswith("2026-11-24T09:00") and support["last_error"] == ""
    assert list(support["folders"]) == [mailbox]
    assert broken["last_success_at"] is None and "mailbox 'broken'" in broken["last_error"]
    assert report["outbox_depth"] == 1 and report["oldest_unsent_at"].startswith("2026-11-24T09:00")
    text = run_cli("status", config=path).stdout
    assert "mailbox broken: FAILING since 2026-11-24 10:00:00 +01:00" in text and "outbox: 1 unsent" in text
