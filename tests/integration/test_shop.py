"""Issue 20 end to end on Dovecot + the SMTP sink + a local server answering like the PrestaShop webservice: a
customer's orders, total spent and registration date reach the agent notification, `customers show` and `tickets
show`; a shop that hangs never holds up storing the mail nor the receipt, and `status` shows its failure; an
`order_lookup_command` works the same way."""

from __future__ import annotations

import email
import json
import sys
import time
from email import policy

import pytest

from mailbridge.runtime import jobs
from mailbridge.store import agents, db
from tests.conftest import SUPPORT_USER, customer_mail, run_cli, run_once
from tests.servers.prestashop import KEY, start_prestashop

AGENT = "maria@shop.example"
CUSTOMER = "anna@example.org"
KEY_ENV = "MAILBRIDGE_TEST_SHOP_KEY"


@pytest.fixture
def shop(monkeypatch):
    server = start_prestashop()
    monkeypatch.setenv(KEY_ENV, KEY)
    server.add_customer(7, CUSTOMER, "Anna", "Rossi", "2021-03-04 10:22:33")
    server.add_order(1234, 7, "XKBKNABJK", "61.800000", "2024-01-02 09:00:00", "5")
    server.add_order(1301, 7, "OHSATSERP", "20.150000", "2024-05-06 09:00:00", "4")
    server.add_customer(8, "other@example.org", "Otto", "Muster", "2022-01-01 00:00:00")
    server.add_order(1400, 8, "ZZZZZZZZZ", "999.000000", "2024-05-06 09:00:00", "2")
    yield server
    server.stop()


def prestashop_toml(url: str, timeout: float = 5) -> str:
    return f"""
[shop]
kind = "prestashop"
url = "{url}"
key_env = "{KEY_ENV}"
timeout_seconds = {timeout}
currency = "EUR"
"""


def with_agent(app, clock):
    with db.transaction(app.engine) as session:
        agents.add_agent(
            session=session,
            email=AGENT,
            name="Maria Rossi",
            locale=None,
            contacts=["Customer service"],
            now=clock.now(),
        )
    return app


def sent_to(sink, address: str) -> list[str]:
    found = []
    for m in sink.messages:
        mail = email.message_from_bytes(m.data, policy=policy.default)
        if mail["To"].addresses[0].addr_spec == address:
            found.append(mail.get_body(("plain",)).get_content())
    return found


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
def test_customer_with_two_orders_shows_them_to_the_agent(
    make_app, clock, dovecot, sink, mailbox, shop, request, database
):
    # On PostgreSQL too: the parked notification is claimed with FOR UPDATE SKIP LOCKED (store.shop_cache).
    on_postgres = {}
    if database == "postgres":
        name = f"shop{abs(hash(request.node.nodeid)) % 10**8}"
        on_postgres = {"db_url": request.getfixturevalue("postgres").create_database(name)}
    app = with_agent(make_app(extra=prestashop_toml(shop.url), **on_postgres), clock)
    dovecot.append(SUPPORT_USER, mailbox, customer_mail(subject="Order 1234 not arrived"))
    run_once(app)
    [notification] = sent_to(sink, AGENT)
    assert (
        "Shop: customer since 2021-03-04 | Orders: 2 | Spent: 81.95 EUR | Order XKBKNABJK: state 5, 61.80 EUR, 2024-01-02"
        in notification
    )
    assert len(sent_to(sink, CUSTOMER)) == 1  # the receipt
    assert any("filter%5Bemail%5D=%5Banna%40example.org%5D" in r for r in shop.requests)

    config = app.settings.path
    shown = run_cli("customers", "show", CUSTOMER, config=config, clock=clock)
    assert shown.returncode == 0, shown.stderr
    print(shown.stdout)
    assert "shop: customer 7 since 2021-03-04, 2 orders, 81.95 EUR spent" in shown.stdout
    assert "order OHSATSERP  2024-05-06  20.15 EUR  state 4" in shown.stdout
    as_json = json.loads(run_cli("customers", "show", CUSTOMER, "--json", config=config, clock=clock).stdout)
    assert as_json["shop"]["orders"] == 2 and as_json["shop"]["total_spent"] == "81.95 EUR"

    number = json.loads(run_cli("tickets", "list", "--json", config=config, clock=clock).stdout)[0]["number"]
    ticket = run_cli("tickets", "show", number, config=config, clock=clock)
    print(ticket.stdout)
    assert "order named in the mail: XKBKNABJK, state 5, 61.80 EUR, 2024-01-02" in ticket.stdout

    # A second mail within cache_minutes: notified at once from the cache, the shop is not asked again.
    asked = len(shop.requests)
    dovecot.append(SUPPORT_USER, mailbox, customer_mail(subject="Order 1234 still missing"))
    run_once(app)
    assert len(shop.requests) == asked
    assert "Orders: 2 | Spent: 81.95 EUR" in sent_to(sink, AGENT)[-1]


def test_shop_that_hangs_never_holds_up_mail_and_status_shows_it(make_app, clock, dovecot, sink, mailbox, shop):
    shop.mode = "hang"
    app = with_agent(make_app(extra=prestashop_toml(shop.url, timeout=1)), clock)
    dovecot.append(SUPPORT_USER, mailbox, customer_mail())
    started = time.monotonic()
    run_once(app)
    assert time.monotonic() - started < 15
    assert len(sent_to(sink, CUSTOMER)) == 1  # the receipt
    [notification] = sent_to(sink, AGENT)  # sent after the failed lookup, without the shop's block
    assert "Shop:" not in notification and "Hello, my order has not arrived yet." in notification
    status = run_cli("status", config=app.settings.path, clock=clock)
    print(status.stdout)
    assert "job shop_lookup: FAILING" in status.stdout and "/api/customers: timed out" in status.stdout
    shown = run_cli("customers", "show", CUSTOMER, config=app.settings.path, clock=clock)
    assert "shop: last lookup failed" in shown.stdout


def test_shop_answering_500_leaves_the_receipt_and_notification(make_app, clock, dovecot, sink, mailbox, shop):
    shop.mode = "error"
    app = with_agent(make_app(extra=prestashop_toml(shop.url)), clock)
    dovecot.append(SUPPORT_USER, mailbox, customer_mail())
    run_once(app)
    assert len(sent_to(sink, CUSTOMER)) == 1
    assert "Shop:" not in sent_to(sink, AGENT)[0]
    status = run_cli("status", config=app.settings.path, clock=clock)
    assert "HTTP 500" in status.stdout


def test_order_lookup_command_fills_the_notification(make_app, clock, dovecot, sink, mailbox, tmp_path):
    script = tmp_path / "orders.py"
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, sys\n"
        "address = sys.argv[-1]\n"
        "if address != 'anna@example.org':\n"
        "    print(json.dumps({'customer': None, 'orders': []})); sys.exit(0)\n"
        "print(json.dumps({'customer': {'id': 'C-9', 'firstname': 'Anna', 'registered': '2019-12-01'},\n"
        "  'orders': [{'id': '5550', 'reference': 'R-5550', 'total': '12.5', 'date': '2024-02-02', 'state': 'shipped'}]}))\n",
        encoding="utf-8",
    )
    script.chmod(0o755)
    extra = f'\n[shop]\nkind = "command"\norder_lookup_command = ["{script}", "--by-email"]\ntimeout_seconds = 10\n'
    app = with_agent(make_app(extra=extra), clock)
    dovecot.append(SUPPORT_USER, mailbox, customer_mail(subject="Order 5550 broken"))
    run_once(app)
    [notification] = sent_to(sink, AGENT)
    assert "Shop: customer since 2019-12-01 | Orders: 1 | Spent: 12.50 | Order R-5550: state shipped" in notification


def test_notifications_parked_for_a_lookup_go_out_once_shop_is_taken_out_of_the_config(
    make_app, clock, dovecot, sink, mailbox, shop, monkeypatch
):
    """Stopped between storing a mail (its notification parked for the lookup) and the lookup, then restarted without
    [shop]: the agent is still notified, once, without the history."""

    async def stopped_before_the_lookup(app):
        return None

    look_up_shop = jobs.look_up_shop
    monkeypatch.setattr(jobs, "look_up_shop", stopped_before_the_lookup)
    app = with_agent(make_app(extra=prestashop_toml(shop.url)), clock)
    dovecot.append(SUPPORT_USER, mailbox, customer_mail())
    run_once(app)
    assert len(sent_to(sink, CUSTOMER)) == 1 and sent_to(sink, AGENT) == []  # the receipt; the notification waits
    monkeypatch.setattr(jobs, "look_up_shop", look_up_shop)

    without_shop = make_app()
    assert without_shop.settings.shop is None
    run_once(without_shop)
    run_once(without_shop)
    [notification] = sent_to(sink, AGENT)
    assert "Shop:" not in notification
