import re

import pytest

from mailbridge.base.config.rules import DEFAULT_ORDER_NUMBER_REGEX, RoutingRule
from mailbridge.decisions.matching.order_numbers import extract_order_number
from mailbridge.decisions.matching.routing import route_category
from tests.unit.helpers import parsed

RULES = (
    RoutingRule("Orders > Returns", subject_keywords=("return", "reso")),
    RoutingRule("Webmaster", recipients=("webmaster@shop.example",)),
    RoutingRule("Orders", subject_keywords=("order", "ordine")),
)
ORDER = re.compile(DEFAULT_ORDER_NUMBER_REGEX)


def test_subject_keyword_sets_the_category():
    assert route_category(parsed(subject="Return of my shoes"), RULES) == "Orders > Returns"


def test_first_matching_rule_wins():
    assert route_category(parsed(subject="Return for order 55"), RULES) == "Orders > Returns"


def test_recipient_address_sets_the_category():
    assert route_category(parsed(subject="site down", cc_addrs=("Webmaster@shop.example",)), RULES) == "Webmaster"


def test_no_rule_no_category():
    assert route_category(parsed(subject="Hello"), RULES) is None


@pytest.mark.parametrize(
    "subject, body, number",
    [
        ("Order 1234 not arrived", "", "1234"),
        ("Where is it?", "my order no. 558812 was paid", "558812"),
        ("Ordine n. 99881", "", "99881"),
        ("Objednávka č. 2024001", "", "2024001"),
        ("Objednávka 2024001", "", "2024001"),
        ("Bestellung Nr. 77123", "", "77123"),
        ("Question", "nothing here 12345", None),
    ],
)
def test_order_number_is_pulled_out(subject, body, number):
    assert extract_order_number(subject, body, ORDER) == number


def test_custom_regex_without_group_uses_the_whole_match():
    assert extract_order_number("PS-00012 lost", "", re.compile(r"PS-\d{5}")) == "PS-00012"
