"""Who besides the customer is on a ticket and gets its answers in Cc (decisions.participants), and `#cc`."""

from __future__ import annotations

import pytest

from mailbridge.decisions.agent_commands import AgentCommand, cc_argument, parse_agent_reply
from mailbridge.decisions.participants import MAX_PARTICIPANTS, People, answer_cc, cc_command_problem, cc_from_mail

OWN = frozenset({"support@shop.example", "sales@shop.example"})
PEOPLE = People(own=OWN, agents=frozenset({"maria@shop.example"}), customer="anna@example.org")


def plan(recipients, *, sender="anna@example.org", current=(), removed=(), suppressed=(), limit=MAX_PARTICIPANTS):
    return cc_from_mail(
        recipients, PEOPLE, sender=sender, current=current, removed=removed, suppressed=suppressed, limit=limit
    )


def test_colleague_in_cc_of_customer_mail_is_added():
    assert plan(["support@shop.example", "bob@example.net"]).added == ("bob@example.net",)


def test_extra_to_address_is_added_like_cc():
    assert plan(["support@shop.example", "Carol@Example.COM"]).added == ("carol@example.com",)


def test_our_addresses_and_their_sub_addresses_are_never_added():
    assert plan(["sales@shop.example", "support+a.token@shop.example"]).added == ()


def test_agent_and_customer_are_never_added():
    assert plan(["maria@shop.example", "anna@example.org"], sender="bob@example.net").added == ()


def test_sender_is_not_added_to_their_own_ticket():
    assert plan(["bob@example.net"], sender="bob@example.net").added == ()


def test_participant_already_on_ticket_is_not_added_twice():
    assert plan(["bob@example.net", "bob@example.net"], current=["bob@example.net"]).added == ()
    assert plan(["bob@example.net", "BOB@example.net"]).added == ("bob@example.net",)


def test_address_an_agent_removed_is_not_brought_back_by_reply_all():
    assert plan(["bob@example.net"], removed=["bob@example.net"]).added == ()


def test_suppressed_address_is_not_added():
    assert plan(["bob@example.net", "carol@example.com"], suppressed=["bob@example.net"]).added == (
        "carol@example.com",
    )


def test_cc_past_the_limit_is_left_out_and_reported():
    many = [f"p{n}@example.net" for n in range(MAX_PARTICIPANTS + 3)]
    found = plan(many, current=["bob@example.net"])
    assert len(found.added) == MAX_PARTICIPANTS - 1 and found.added == tuple(many[: MAX_PARTICIPANTS - 1])
    assert found.over_limit == tuple(many[MAX_PARTICIPANTS - 1 :])


def test_answer_cc_drops_suppressed_and_keeps_order():
    cc = answer_cc(
        ["bob@example.net", "carol@example.com", "dan@example.com"], PEOPLE, suppressed={"carol@example.com"}
    )
    assert cc == ("bob@example.net", "dan@example.com")


def test_answer_cc_never_holds_our_agent_or_customer_address():
    cc = answer_cc(["support@shop.example", "maria@shop.example", "anna@example.org"], PEOPLE, suppressed=())
    assert cc == ()


def test_cc_add_of_our_or_an_agents_address_is_a_problem():
    assert "our own" in cc_command_problem("add", "support@shop.example", PEOPLE, current=())
    assert "agent" in cc_command_problem("add", "maria@shop.example", PEOPLE, current=())
    assert "customer" in cc_command_problem("add", "anna@example.org", PEOPLE, current=())


def test_cc_add_on_a_full_ticket_is_a_problem_unless_already_there():
    full = [f"p{n}@example.net" for n in range(MAX_PARTICIPANTS)]
    assert "most" in cc_command_problem("add", "new@example.net", PEOPLE, current=full)
    assert cc_command_problem("add", "p0@example.net", PEOPLE, current=full) is None


def test_cc_remove_of_someone_not_in_cc_is_a_problem():
    assert "not in Cc" in cc_command_problem("remove", "bob@example.net", PEOPLE, current=())
    assert cc_command_problem("remove", "bob@example.net", PEOPLE, current=["bob@example.net"]) is None


def test_cc_argument_reads_action_and_address():
    assert cc_argument("add Bob@Example.net") == ("add", "bob@example.net")
    assert cc_argument("REMOVE <bob@example.net>") == ("remove", "bob@example.net")
    assert cc_argument("bob@example.net") is None
    assert cc_argument("add not-an-address") is None
    assert cc_argument("add a@b.example c@d.example") is None


@pytest.mark.parametrize(
    "pasted",
    [
        "Lisa Maier <lisa@example.de>",
        "Lisa Maier <Lisa@Example.DE>",
        '"Maier, Lisa" <lisa@example.de>',
        "Lisa Maier (Shop GmbH) <lisa@example.de>",
        '"lisa@example.de" <lisa@example.de>',
        "lisa@example.de (Lisa Maier)",
    ],
)
def test_cc_argument_takes_the_address_out_of_a_pasted_name_and_address(pasted):
    assert cc_argument(f"add {pasted}") == ("add", "lisa@example.de")
    assert cc_argument(f"remove {pasted}") == ("remove", "lisa@example.de")


@pytest.mark.parametrize(
    "ambiguous",
    [
        "Maier, Lisa <lisa@example.de>",  # unquoted comma: two entries
        "Lisa <lisa@example.de>, Bob <bob@example.net>",
        "Lisa <lisa@example.de> <bob@example.net>",
        '"bob@example.net" <lisa@example.de>',  # which one is meant?
        "Lisa <lisa@example.de> and Bob",
        "Lisa <lisa@example.de>@example.net",
        "Lisa Maier <lisa@example.de",  # unclosed
        "Lisa Maier lisa@example.de",  # no brackets: name and address run together
        "Lisa Maier <lisa@localhost>",
        "Lisa Maier",
        "Lisa (((((x))))) <lisa@example.de>",
        "(" * 5000 + "<lisa@example.de>",
        "x" * 400 + " <lisa@example.de>",
    ],
)
def test_cc_argument_refuses_anything_that_is_not_exactly_one_address(ambiguous):
    assert cc_argument(f"add {ambiguous}") is None


def test_cc_command_with_a_pasted_name_and_address_is_no_problem():
    reply = parse_agent_reply("#cc add Lisa Maier <lisa@example.de>\nHello")
    assert reply.commands == (AgentCommand("cc", "add Lisa Maier <lisa@example.de>"),) and not reply.problems
    assert "#cc needs add or remove" in parse_agent_reply("#cc add Maier, Lisa <lisa@example.de>\nHi").problems[0]


def test_cc_commands_at_top_and_end_are_read_and_bad_ones_are_problems():
    reply = parse_agent_reply("#cc add bob@example.net\nHello\n\n#cc remove carol@example.com")
    assert reply.commands == (
        AgentCommand("cc", "add bob@example.net"),
        AgentCommand("cc", "remove carol@example.com"),
    )
    assert reply.body == "Hello" and not reply.problems
    bad = parse_agent_reply("#cc bob@example.net\nHello")
    assert bad.problems and "#cc needs add or remove" in bad.problems[0]
