"""A server's limit of connections per user and address (Dovecot's `mail_max_userip_connections`, 10 by default)
reached by other clients of the account: the poll is refused, `status` says why in one line, and the mail is stored
once the limit has room again: late, not lost (docs/install-and-operate.md, "IMAP connections")."""

from __future__ import annotations

import contextlib

from sqlalchemy import text

from mailbridge.store import db
from tests.conftest import SUPPORT_USER, customer_mail, run_cli, run_cli_process


def test_a_poll_refused_by_the_servers_connection_limit_shows_in_status_and_stores_the_mail_later(
    config_file, dovecot, mailbox, tmp_path
):
    url = f"sqlite:///{tmp_path}/limit.db"
    config = config_file(db_url=url)
    dovecot.append(SUPPORT_USER, mailbox, customer_mail(subject="Limit order 7"))
    with contextlib.ExitStack() as others:
        clients = []
        for _ in range(20):  # another client of the account (a phone, a desktop) holds every connection it may
            try:
                clients.append(others.enter_context(dovecot.client(SUPPORT_USER)))
            except Exception:  # noqa: BLE001 - the server refused the next one: the limit is reached
                break
        assert 1 < len(clients) < 20, f"the test server allowed {len(clients)} connections"
        refused = run_cli_process("run", "--once", config=config)
        shown = run_cli("status", config=config).stdout
        assert "Maximum number of connections" in shown and "FAILING since" in shown, shown
        print(f"{len(clients)} other connections; status: {next(ln for ln in shown.splitlines() if 'FAILING' in ln)}")
    engine = db.make_engine(url)
    assert stored_subjects(engine) == [], refused.stderr
    again = run_cli_process("run", "--once", config=config)
    assert again.returncode == 0, again.stderr
    assert stored_subjects(engine) == ["Limit order 7"]
    assert "FAILING" not in run_cli("status", config=config).stdout


def stored_subjects(engine) -> list[str]:
    with engine.connect() as connection:
        return list(connection.execute(text("SELECT subject FROM message WHERE direction = 'in'")).scalars())
