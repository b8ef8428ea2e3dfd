"""`mailbridge secret rotate` on Dovecot + the SMTP sink: mail sent before a rotation is still answered and
threaded by its token, and everything sent after it is signed with the new secret only."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from sqlmodel import Session, select

from mailbridge.base.config.settings import load_settings
from mailbridge.decisions.matching.reply_tokens import AGENT, CUSTOMER, verify_token
from mailbridge.decisions.outgoing.compose import is_own_message_id
from mailbridge.runtime.app import App, build_app
from mailbridge.store import agents, db
from mailbridge.store.models import Message, Ticket
from tests.conftest import SECRET_ENV, SUPPORT_USER, customer_mail, run_cli, run_once
from tests.integration.test_agents import NEW_TEXT, agent_mail, notification_for, reply_to_of, text_of, to

OLD_SECRET = "the-secret-before-the-rotation"
MARIA = "maria@shop.example"
CUSTOMER_ADDRESS = "anna@example.org"


@pytest.fixture
def config(config_file, tmp_path) -> Path:
    """mailbridge.toml with the secret in a file and a (not yet existing) previous-secrets file beside it."""
    path = config_file()
    text = path.read_text().replace(
        f'secret_env = "{SECRET_ENV}"',
        'secret_file = "mailbridge.secret"\nprevious_secrets_file = "mailbridge.previous-secrets"',
    )
    path.write_text(text)
    (tmp_path / "mailbridge.secret").write_text(OLD_SECRET + "\n")
    return path


def app_of(config: Path, clock) -> App:
    """The app as the daemon builds it at start, or after a SIGHUP."""
    return build_app(load_settings(config), clock=clock)


def deliver(app: App, dovecot, mailbox, raw: bytes) -> None:
    dovecot.append(SUPPORT_USER, mailbox, raw)
    run_once(app)


def rotate(config: Path, clock, *args: str) -> str:
    result = run_cli("secret", "rotate", *args, config=config, clock=clock)
    assert result.returncode == 0, result.stderr
    return (config.parent / "mailbridge.secret").read_text().strip()


def token_of(address: str) -> str:
    return address.partition("@")[0].partition("+")[2]


def test_rotate_writes_a_new_private_secret_and_keeps_the_old_one(config, clock, tmp_path):
    new = rotate(config, clock)
    assert new != OLD_SECRET and len(new) >= 40
    previous = tmp_path / "mailbridge.previous-secrets"
    assert OLD_SECRET in previous.read_text().splitlines()
    for path in (tmp_path / "mailbridge.secret", previous):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    support = load_settings(config).support
    assert support.secret is not None and support.secret.value == new
    assert [s.value for s in support.previous_secrets] == [OLD_SECRET]
    # A second rotation keeps both earlier secrets.
    rotate(config, clock)
    assert [s.value for s in load_settings(config).support.previous_secrets] == [OLD_SECRET, new]


def test_customer_reply_to_mail_sent_before_rotation_is_threaded_by_its_token(config, clock, dovecot, mailbox, sink):
    app = app_of(config, clock)
    deliver(app, dovecot, mailbox, customer_mail(subject="Order 1234 not arrived"))
    [receipt] = to(sink, CUSTOMER_ADDRESS)
    reply_address = receipt["Reply-To"].addresses[0].addr_spec
    rotate(config, clock)

    app = app_of(config, clock)
    # No In-Reply-To, no ticket number, another subject: only the signed address names the ticket.
    reply = customer_mail(subject="One more thing", body="I would also like to change the colour.")
    reply = reply.replace(f"To: {SUPPORT_USER}".encode(), f"To: {reply_address}".encode())
    deliver(app, dovecot, mailbox, reply)
    with Session(app.engine) as session:
        [ticket] = session.exec(select(Ticket)).all()
        stored = session.exec(select(Message).where(Message.subject == "One more thing")).one()
        assert stored.ticket_id == ticket.id and stored.match_reason == "reply_token"


def test_agent_answer_to_notification_sent_before_rotation_is_relayed(config, clock, dovecot, mailbox, sink):
    app = app_of(config, clock)
    with db.transaction(app.engine) as session:
        agents.add_agent(
            session=session,
            email=MARIA,
            name="Maria Rossi",
            locale=None,
            contacts=["Customer service"],
            now=clock.now(),
        )
    deliver(app, dovecot, mailbox, customer_mail())
    notification = notification_for(sink, MARIA)
    assert verify_token(token_of(reply_to_of(notification)), OLD_SECRET, purpose=AGENT) is not None
    rotate(config, clock)

    app = app_of(config, clock)
    answer = agent_mail(sender=MARIA, to_address=reply_to_of(notification), body=NEW_TEXT, notification=notification)
    deliver(app, dovecot, mailbox, answer)
    relayed = [m for m in to(sink, CUSTOMER_ADDRESS) if NEW_TEXT in text_of(m)]
    assert len(relayed) == 1
    with Session(app.engine) as session:
        assert session.exec(select(Message).where(Message.kind == "forged_agent_reply")).all() == []


def test_mail_after_rotation_carries_tokens_that_verify_only_with_the_new_secret(config, clock, dovecot, mailbox, sink):
    new = rotate(config, clock)
    app = app_of(config, clock)
    with db.transaction(app.engine) as session:
        agents.add_agent(
            session=session,
            email=MARIA,
            name="Maria Rossi",
            locale=None,
            contacts=["Customer service"],
            now=clock.now(),
        )
    deliver(app, dovecot, mailbox, customer_mail())
    [receipt] = to(sink, CUSTOMER_ADDRESS)
    notification = notification_for(sink, MARIA)
    customer_token = token_of(receipt["Reply-To"].addresses[0].addr_spec)
    agent_token = token_of(reply_to_of(notification))
    assert verify_token(customer_token, new, purpose=CUSTOMER) is not None
    assert verify_token(customer_token, OLD_SECRET, purpose=CUSTOMER) is None
    assert verify_token(agent_token, new, purpose=AGENT) is not None
    assert verify_token(agent_token, OLD_SECRET, purpose=AGENT) is None
    for mail in (receipt, notification):
        assert is_own_message_id(mail["Message-ID"], new)
        assert not is_own_message_id(mail["Message-ID"], OLD_SECRET)


def test_forget_old_keeps_nothing_and_an_old_token_no_longer_threads(config, clock, dovecot, mailbox, sink, tmp_path):
    app = app_of(config, clock)
    deliver(app, dovecot, mailbox, customer_mail(subject="Order 1234 not arrived"))
    [receipt] = to(sink, CUSTOMER_ADDRESS)
    rotate(config, clock, "--forget-old")
    assert not (tmp_path / "mailbridge.previous-secrets").exists()

    app = app_of(config, clock)
    reply = customer_mail(sender="someone@example.net", subject="Hello", body="Not about any order.")
    reply = reply.replace(f"To: {SUPPORT_USER}".encode(), f"To: {receipt['Reply-To'].addresses[0].addr_spec}".encode())
    deliver(app, dovecot, mailbox, reply)
    with Session(app.engine) as session:
        assert len(session.exec(select(Ticket)).all()) == 2
        stored = session.exec(select(Message).where(Message.subject == "Hello")).one()
        assert stored.match_reason != "reply_token"


def test_rotate_with_the_secret_in_a_variable_prints_the_steps_and_exits_1(config_file, clock):
    config = config_file()
    result = run_cli("secret", "rotate", config=config, clock=clock)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0] == "mailbridge: secret rotate cannot do this itself; the steps:"
    assert lines[1].startswith('  1. add previous_secrets_env = "MAILBRIDGE_PREVIOUS_SECRETS" to [support] in ')
    assert (
        lines[2]
        == f"  2. keep the old secret: add the value of {SECRET_ENV} to MAILBRIDGE_PREVIOUS_SECRETS (comma-separated)"
    )
    assert lines[3].startswith(f"  3. set {SECRET_ENV} to a new random secret, for example: ")
    assert lines[4].startswith("  4. restart mailbridge, or reload it (SIGHUP)")
