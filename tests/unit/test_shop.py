"""Issue 20: the shop history from both sources' answers, its summary, and the `[shop]` configuration."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from mailbridge.base.config.reader import Section
from mailbridge.base.config.shop import SHOP_KEYS, read_shop
from mailbridge.base.errors import ConfigError
from mailbridge.decisions.shop import (
    ShopAnswerError,
    find_order,
    from_payload,
    parse_command_output,
    parse_prestashop,
    parse_prestashop_customers,
    summarise,
    to_payload,
)

CUSTOMER = {"id": 7, "firstname": "Anna", "lastname": "Rossi", "date_add": "2021-03-04 10:22:33", "is_guest": "0"}
ORDERS = {
    "orders": [
        {
            "id": 11,
            "reference": "XKBKNABJK",
            "total_paid": "61.800000",
            "date_add": "2024-01-02 09:00:00",
            "current_state": "5",
        },
        {
            "id": 12,
            "reference": "OHSATSERP",
            "total_paid": "20.150000",
            "date_add": "2024-05-06 09:00:00",
            "current_state": "4",
        },
    ]
}


def test_prestashop_answer_gives_orders_total_and_registration():
    history = parse_prestashop(CUSTOMER, ORDERS)
    assert history.registered == "2021-03-04" and history.name == "Anna Rossi"
    assert [o.reference for o in history.orders] == ["OHSATSERP", "XKBKNABJK"]  # newest first
    assert history.total_spent == Decimal("81.95")


def test_prestashop_empty_list_is_no_customer_and_no_orders():
    assert parse_prestashop_customers([]) is None
    assert parse_prestashop(CUSTOMER, []).orders == ()


def test_prestashop_oldest_account_of_an_address_counts():
    answer = {"customers": [{**CUSTOMER, "id": 9}, CUSTOMER]}
    assert parse_prestashop_customers(answer)["id"] == 7


@pytest.mark.parametrize("answer", [{"errors": [{"code": 3}]}, "<xml/>", {"customers": "x"}])
def test_prestashop_answer_of_another_shape_is_refused(answer):
    with pytest.raises(ShopAnswerError):
        parse_prestashop_customers(answer)


def test_order_total_that_is_not_a_number_is_refused():
    with pytest.raises(ShopAnswerError):
        parse_prestashop(CUSTOMER, {"orders": [{"id": 1, "total_paid": "lots"}]})


def test_command_output_gives_the_history():
    text = (
        '{"customer": {"id": "42", "firstname": "Jan", "lastname": "Novák", "registered": "2020-01-05"},'
        ' "orders": [{"id": "1", "reference": "A-1", "total": "10", "date": "2023-02-01", "state": "shipped"}]}'
    )
    history = parse_command_output(text)
    assert history is not None and history.registered == "2020-01-05" and history.total_spent == Decimal("10.00")
    assert history.orders[0].state == "shipped"


def test_command_output_with_null_customer_is_no_customer():
    assert parse_command_output('{"customer": null, "orders": []}') is None


@pytest.mark.parametrize("text", ["not json", "[]", '{"orders": []}', '{"customer": 5, "orders": []}'])
def test_command_output_of_another_shape_is_refused(text):
    with pytest.raises(ShopAnswerError):
        parse_command_output(text)


def test_payload_round_trip_keeps_the_history():
    history = parse_prestashop(CUSTOMER, ORDERS)
    assert from_payload(to_payload(history)) == history
    assert from_payload(to_payload(None)) is None


def test_summary_shows_counts_total_and_the_named_order():
    history = parse_prestashop(CUSTOMER, ORDERS)
    summary = summarise(history, "EUR", "xkbknabjk")
    assert summary["orders"] == 2 and summary["total_spent"] == "81.95 EUR" and summary["registered"] == "2021-03-04"
    assert summary["named_order"] == {
        "id": "11",
        "reference": "XKBKNABJK",
        "total": "61.80 EUR",
        "date": "2024-01-02",
        "state": "5",
    }


def test_order_is_found_by_its_id_too_and_never_by_nothing():
    history = parse_prestashop(CUSTOMER, ORDERS)
    assert find_order(history, "#12").reference == "OHSATSERP"
    assert find_order(history, "") is None and find_order(history, "99") is None


def test_summary_of_no_customer_says_so():
    assert summarise(None, "") == {"found": False}


def _read(table: dict, tmp_path: Path):
    return read_shop(Section(tmp_path / "mailbridge.toml", "shop", table, SHOP_KEYS))


def test_prestashop_config_reads_key_from_env(tmp_path, monkeypatch):
    monkeypatch.setenv("SHOP_KEY", "k1")
    shop = _read({"kind": "prestashop", "url": "https://shop.example/", "key_env": "SHOP_KEY"}, tmp_path)
    assert shop.url == "https://shop.example" and shop.key.value == "k1" and "k1" not in repr(shop)
    assert shop.cache_minutes == 60


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"kind": "prestashop", "url": "https://s.example", "key_env": "SHOP_KEY", "cache": 5}, "cache: unknown key"),
        (
            {"kind": "prestashop", "url": "http://shop.example", "key_env": "SHOP_KEY"},
            "[shop] url: expected an https://",
        ),
        ({"kind": "prestashop", "url": "https://s.example"}, "[shop] key_env: expected key_env or key_file"),
        ({"kind": "prestashop", "url": "https://s.example", "key": "x"}, "[shop] key: a plain secret is not read"),
        ({"kind": "woo"}, '[shop] kind: expected one of "prestashop" | "command"'),
        ({"kind": "command"}, "[shop] order_lookup_command: expected a list of strings"),
        ({"kind": "command", "order_lookup_command": ["x"], "url": "https://s.example"}, "[shop] url: not used"),
        ({"kind": "command", "order_lookup_command": ["x"], "timeout_seconds": 0}, "[shop] timeout_seconds"),
    ],
)
def test_shop_config_errors_name_the_key(tmp_path, monkeypatch, table, message):
    monkeypatch.setenv("SHOP_KEY", "k1")
    with pytest.raises(ConfigError) as error:
        _read(table, tmp_path)
    assert message in str(error.value)


def test_command_config_and_no_table(tmp_path):
    shop = _read({"kind": "command", "order_lookup_command": ["/usr/bin/orders", "--json"]}, tmp_path)
    assert shop.command == ("/usr/bin/orders", "--json")
    assert _read({}, tmp_path) is None
