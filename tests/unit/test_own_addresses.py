"""Our addresses, one definition (decisions.own_addresses): which addresses are ours, which one a new Contact takes,
which Contacts no mailbox receives; and the `[[mailboxes]] addresses` key that feeds them."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailbridge.base.config.settings import ConnectionSettings, MailboxSettings, load_settings
from mailbridge.base.errors import ConfigError
from mailbridge.decisions.agent_reply import find_reply_token
from mailbridge.decisions.inbound.classify import classify
from mailbridge.decisions.kinds import MessageKind
from mailbridge.decisions.matching.reply_tokens import reply_address, tokens_in
from mailbridge.decisions.outgoing.context import mail_context
from mailbridge.decisions.outgoing.templates import make_environment
from mailbridge.decisions.own_addresses import (
    addressed_contact,
    contact_address,
    contact_of,
    is_address,
    is_ours,
    mailbox_addresses,
    our_addresses,
    undelivered_contacts,
)
from mailbridge.decisions.survey import find_rate_address, rate_address
from tests.unit.helpers import parsed

SUPPORT = "support@shop.example"


def mailbox(username: str | None, addresses: tuple[str, ...] = ()) -> MailboxSettings:
    connection = ConnectionSettings("imap.shop.example", 993, "ssl", True, None, username, None, 30.0)
    return MailboxSettings("m", connection, ("INBOX",), "Customer service", "new-only", addresses=addresses)


def test_ours_are_from_address_contacts_address_logins_and_listed_addresses():
    own = our_addresses(
        SUPPORT,
        [mailbox("support"), mailbox("Sales@Shop.example"), mailbox(None, ("info@shop.example",))],
        ["webmaster@shop.example", "Desk@Shop.Example", None, ""],
    )
    assert own == {
        SUPPORT,
        "sales@shop.example",
        "info@shop.example",
        "webmaster@shop.example",
        "desk@shop.example",
    }
    assert "support" not in own  # a login that is not an address is no address of ours


@pytest.mark.parametrize(
    "address,ours",
    [
        ("support@shop.example", True),
        ("SUPPORT@shop.example", True),
        ("<support@shop.example>", True),
        ("support+a.x.y.z@shop.example", True),  # a sub-address of ours
        ("support+sales+a.x.y.z@shop.example", True),  # a sub-address of a Contact's sub-address
        ("webmaster+c.tok@shop.example", True),
        ("support@other.example", False),
        ("supporter@shop.example", False),
        ("support-x@shop.example", False),
        ("anna+support@shop.example", False),
        ("support+@shop.example", False),  # an empty tag is no sub-address
        ("support++x@shop.example", False),  # stripping `+x` leaves `support+`, whose tag is empty
        ("support+a+a+a+a+a+a@shop.example", True),  # as many tags as it likes
        ("support+a+a+a+" + "a" * 200 + "@shop.example", True),
        ("", False),
        (None, False),
    ],
)
def test_is_ours_takes_sub_addresses_of_ours(address, ours):
    assert is_ours(address, frozenset({SUPPORT, "webmaster@shop.example"})) is ours


def test_tokens_are_recognised_on_every_address_of_ours_and_only_there():
    own = frozenset({SUPPORT, "webmaster@shop.example", "support+sales@shop.example"})
    found = tokens_in(
        (
            "webmaster+a.tok1@shop.example",
            "support+sales+a.tok2@shop.example",
            "Support+C.Tok3@Shop.Example",
            "mallory+a.tok4@evil.example",
            "webmaster@shop.example",
        ),
        own,
    )
    assert found == ("a.tok1", "a.tok2", "c.tok3")


def test_agent_reply_token_on_a_contacts_own_address_is_found():
    own = frozenset({SUPPORT, "webmaster@shop.example"})
    message = parsed(to_addrs=(reply_address("webmaster@shop.example", "a.b.c.d.e"),), from_addr="luca@shop.example")
    assert find_reply_token(message, own, "a") == "a.b.c.d.e"
    assert find_reply_token(message, frozenset({SUPPORT}), "a") is None  # what went wrong before issue 14


def test_rating_address_of_a_contact_whose_address_is_a_sub_address_is_read():
    address = rate_address("support+sales@shop.example", "r.b.c.d", 4)
    assert address == "support+sales+rate-r.b.c.d-4@shop.example"
    found = find_rate_address((address,))
    assert found is not None and (found.token, found.score) == ("r.b.c.d", 4)


def test_mail_from_a_contacts_address_is_our_own_echo():
    own = our_addresses(SUPPORT, [], ["webmaster@shop.example"])
    assert classify(parsed(from_addr="webmaster@shop.example"), own) is MessageKind.ECHO
    assert classify(parsed(from_addr="anna@example.org"), own) is MessageKind.CUSTOMER


def test_mailbox_addresses_are_its_address_login_then_its_addresses():
    assert mailbox_addresses(mailbox("Support@Shop.example", ("info@shop.example",))) == (
        SUPPORT,
        "info@shop.example",
    )
    assert mailbox_addresses(mailbox("support", ("info@shop.example",))) == ("info@shop.example",)
    assert mailbox_addresses(mailbox("support@shop.example", (SUPPORT,))) == (SUPPORT,)
    assert mailbox_addresses(mailbox(None)) == ()


@pytest.mark.parametrize(
    "candidates,taken,expected",
    [
        ((SUPPORT,), (), SUPPORT),  # the login that is an address
        ((), (), SUPPORT),  # a login without "@" and no `addresses`: from_address, never an invented one
        (("webmaster@shop.example",), (SUPPORT,), "webmaster@shop.example"),  # its first `addresses` entry
        (("info@shop.example", "web@shop.example"), ("info@shop.example",), "web@shop.example"),
        (("info@shop.example",), ("info@shop.example",), SUPPORT),  # from_address when free
        ((SUPPORT,), (SUPPORT,), "support+web-master@shop.example"),  # a sub-address of from_address: ours
        ((), (SUPPORT, "support+web-master@shop.example"), "support+web-master-2@shop.example"),
    ],
)
def test_a_new_contact_takes_a_free_address_of_its_mailbox_else_from_address_else_a_sub_address(
    candidates, taken, expected
):
    assert contact_address("Web Master", candidates, SUPPORT, taken) == expected


def test_a_contact_address_chosen_by_the_decision_is_always_ours_and_delivered():
    mailboxes = [mailbox("support", (SUPPORT,))]
    taken: list[str] = []
    for name in ("Customer service", "Sales", "Webmaster"):
        taken.append(contact_address(name, mailbox_addresses(mailboxes[0]), SUPPORT, taken))
    assert taken == [SUPPORT, "support+sales@shop.example", "support+webmaster@shop.example"]
    own = our_addresses(SUPPORT, mailboxes, taken)
    assert all(is_ours(address, own) for address in taken)
    assert undelivered_contacts(zip(("a", "b", "c"), taken, strict=True), mailboxes) == []


def test_contacts_whose_address_no_mailbox_receives_are_reported():
    mailboxes = [mailbox("support"), mailbox("sales@shop.example", ("info@shop.example",))]
    found = undelivered_contacts(
        [
            ("Customer service", SUPPORT),  # the login "support" says nothing about its address
            ("Sales", "sales@shop.example"),
            ("Info", "info@shop.example"),
            ("Sales desk", "sales+desk@shop.example"),
            ("Webmaster", "webmaster@shop.example"),
        ],
        mailboxes,
    )
    assert found == [("Customer service", SUPPORT), ("Webmaster", "webmaster@shop.example")]


def test_mail_context_holds_the_contacts_addresses(tmp_path, monkeypatch):
    monkeypatch.setenv("MB_PW", "pw")
    settings = load_settings(write(tmp_path, BASE + 'addresses = ["Info@Shop.example"]\n'))
    context = mail_context(settings, make_environment(None), ["webmaster@shop.example"])
    assert context.own_addresses == {SUPPORT, "info@shop.example", "webmaster@shop.example"}


@pytest.mark.parametrize("value", ["support", "a@b@c", "Anna <a@shop.example>", "", None])
def test_is_address_refuses_what_is_not_an_address(value):
    assert not is_address(value)


BASE = """
[support]
from_address = "support@shop.example"
[smtp]
host = "127.0.0.1"
[[mailboxes]]
name = "support"
host = "imap.shop.example"
username = "support"
password_env = "MB_PW"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mailbridge.toml"
    path.write_text(text)
    return path


def test_mailbox_addresses_key_is_read_lower_cased(tmp_path, monkeypatch):
    monkeypatch.setenv("MB_PW", "pw")
    settings = load_settings(write(tmp_path, BASE + 'addresses = ["Support@Shop.example", " info@shop.example "]\n'))
    assert settings.mailboxes[0].addresses == (SUPPORT, "info@shop.example")
    assert load_settings(write(tmp_path, BASE)).mailboxes[0].addresses == ()


@pytest.mark.parametrize(
    "value",
    ['"support@shop.example"', '["support"]', "[1]", '["a@shop.example", "A@shop.example"]', '["a b@shop.example"]'],
)
def test_bad_mailbox_addresses_is_an_error_naming_the_key(tmp_path, monkeypatch, value):
    monkeypatch.setenv("MB_PW", "pw")
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, BASE + f"addresses = {value}\n"))
    assert str(caught.value).startswith(
        f"{tmp_path}/mailbridge.toml: [mailboxes.0] addresses: expected a list of distinct email addresses like"
    )


# Which Contact a message belongs to when one folder receives several Contacts' addresses.

C_SUPPORT, C_WEB, C_SALES = 1, 2, 3
CONTACTS = {"support@shop.example": C_SUPPORT, "support+webmaster@shop.example": C_WEB, "sales@shop.example": C_SALES}


@pytest.mark.parametrize(
    ("address", "contact"),
    [
        ("support@shop.example", C_SUPPORT),
        ("<Support@Shop.Example>", C_SUPPORT),
        ("support+returns@shop.example", C_SUPPORT),  # a topic's sub-address of support
        ("support+webmaster@shop.example", C_WEB),  # the longest match: a Contact's own sub-address
        ("support+webmaster+a.abc123@shop.example", C_WEB),  # a reply token on it
        ("sales+c.xyz@shop.example", C_SALES),
        ("anna@example.org", None),
        ("support@other.example", None),
        ("", None),
    ],
)
def test_contact_of_an_address_is_the_contact_it_or_the_address_it_is_a_sub_address_of_belongs_to(address, contact):
    assert contact_of(address, CONTACTS) == contact


SALES_ADDRESS, SUPPORT_ADDRESS = "sales@shop.example", "support@shop.example"


@pytest.mark.parametrize(
    ("original", "visible", "delivered", "home", "chosen"),
    [
        ([], [SUPPORT_ADDRESS], [], C_SUPPORT, C_SUPPORT),
        ([], [SALES_ADDRESS], [], C_SUPPORT, C_SALES),  # one folder gets the sales address too: Sales
        ([], [SALES_ADDRESS], [SUPPORT_ADDRESS], C_SUPPORT, C_SALES),  # an alias: Delivered-To is the folder's login
        ([], [SALES_ADDRESS, SUPPORT_ADDRESS], [], C_SUPPORT, C_SUPPORT),  # home named too: stays home
        ([], [SALES_ADDRESS, SUPPORT_ADDRESS], [], C_SALES, C_SALES),  # ... in each Contact's own folder
        ([], ["anna@example.org", SALES_ADDRESS], [], C_SUPPORT, C_SALES),
        ([], [SALES_ADDRESS, "support+webmaster@shop.example"], [], C_SUPPORT, C_SALES),  # the first one named
        ([SALES_ADDRESS], [SUPPORT_ADDRESS], [], C_SALES, C_SALES),  # To support, Bcc sales: Sales' copy
        ([SALES_ADDRESS], [SUPPORT_ADDRESS], [], C_SUPPORT, C_SALES),  # ... and in a shared folder, the Bcc's copy
        ([SUPPORT_ADDRESS], [SALES_ADDRESS], [], C_SUPPORT, C_SUPPORT),  # the envelope said support
        (["list@lists.example"], ["undisclosed-recipients:;"], [SALES_ADDRESS], C_SUPPORT, C_SALES),
        ([], ["list@lists.example"], [SUPPORT_ADDRESS], C_SUPPORT, C_SUPPORT),
        ([], ["list@lists.example"], [], C_SUPPORT, C_SUPPORT),  # none of ours: home
        ([], [], [], C_SALES, C_SALES),
    ],
)
def test_addressed_contact_is_home_unless_the_mail_was_written_to_another_contact(
    original, visible, delivered, home, chosen
):
    chosen_now = addressed_contact(
        original=original, visible=visible, delivered=delivered, home=home, contacts=CONTACTS
    )
    assert chosen_now == chosen


def test_addressed_contact_without_contact_addresses_is_home():
    nothing: dict[str, int] = {}
    found = addressed_contact(
        original=[SALES_ADDRESS], visible=[SALES_ADDRESS], delivered=[SALES_ADDRESS], home=C_SUPPORT, contacts=nothing
    )
    assert found == C_SUPPORT
