"""Issue 19 (merge and split): the pure decisions. Which merges are refused, where mail for a merged ticket lands,
which messages a split takes, and `#merge NUMBER` in an agent's reply."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mailbridge.base.errors import CommandError
from mailbridge.decisions.agent_commands import AgentCommand, parse_agent_reply
from mailbridge.decisions.kinds import MatchReason, TicketStatus
from mailbridge.decisions.lifecycle import plan_status_change
from mailbridge.decisions.matching.ticket_match import NumberedTicket, ThreadEvidence, TicketState, match_ticket
from mailbridge.decisions.matching.ticket_numbers import new_ticket_number
from mailbridge.decisions.merge import MergeSide, SplitCandidate, follow_merges, plan_merge, plan_split
from tests.unit.helpers import parsed

A = MergeSide(1, "11111111111", TicketStatus.OPEN, customer_id=10, contact_id=1)
B = MergeSide(2, "22222222222", TicketStatus.NEW, customer_id=10, contact_id=1)


def test_merge_of_two_tickets_of_one_customer_is_planned():
    plan = plan_merge(B, A)
    assert (plan.source_id, plan.target_id, plan.other_customer) == (2, 1, False)
    assert plan.source_reason == "merged into ticket 11111111111"
    assert plan.target_reason == "ticket 22222222222 merged into this one"


def test_merge_of_another_customers_ticket_says_whom_answers_go_to():
    plan = plan_merge(MergeSide(3, "33333333333", TicketStatus.OPEN, 99, 1), A)
    assert plan.other_customer
    assert "answers here go to this ticket's customer" in plan.target_reason


def test_merge_into_itself_is_refused():
    with pytest.raises(CommandError, match="^ticket 11111111111 cannot be merged into itself$"):
        plan_merge(A, A)


def test_merge_back_into_a_ticket_that_joined_this_one_is_refused_as_a_loop():
    merged_b = MergeSide(2, "22222222222", TicketStatus.MERGED, 10, 1, merged_into_number="11111111111")
    with pytest.raises(
        CommandError, match="was merged into 11111111111: merging 11111111111 into it would make a loop"
    ):
        plan_merge(A, merged_b)


def test_a_merged_ticket_cannot_be_merged_again_nor_receive_a_merge():
    merged_b = MergeSide(2, "22222222222", TicketStatus.MERGED, 10, 1, merged_into_number="11111111111")
    with pytest.raises(CommandError, match="was merged into 11111111111 already"):
        plan_merge(merged_b, A)
    c = MergeSide(3, "33333333333", TicketStatus.OPEN, 10, 1)
    with pytest.raises(CommandError, match="merge into 11111111111 instead"):
        plan_merge(c, merged_b)


@pytest.mark.parametrize("spam_side", ["source", "target"])
def test_a_spam_ticket_is_never_merged(spam_side):
    spam = MergeSide(3, "33333333333", TicketStatus.SPAM, 10, 1)
    source, target = (spam, A) if spam_side == "source" else (B, spam)
    with pytest.raises(CommandError, match="is spam"):
        plan_merge(source, target)


def test_mail_for_a_merged_ticket_follows_the_chain_to_its_end():
    assert follow_merges(2, {2: 1, 1: 5}) == 5
    assert follow_merges(7, {2: 1}) == 7
    assert follow_merges(2, {2: None}) == 2


def test_a_cycle_or_a_very_long_chain_ends_the_walk():
    assert follow_merges(1, {1: 2, 2: 1}) == 2
    chain = {i: i + 1 for i in range(100)}
    assert follow_merges(0, chain, limit=20) == 20


def test_a_reply_to_a_merged_ticket_lands_in_the_ticket_it_joined():
    evidence = ThreadEvidence(
        numbered_tickets=(NumberedTicket(2, frozenset({"anna@example.org"})),),
        merged_into={2: 1},
        states={1: TicketState("open", None), 2: TicketState("merged", None)},
    )
    match = match_ticket(parsed(subject="Re: [#22222222222] Order"), evidence)
    assert (match.ticket_id, match.reason) == (1, MatchReason.SUBJECT_NUMBER)


def test_a_merged_ticket_found_by_its_subject_lands_in_the_ticket_it_joined():
    match = match_ticket(parsed(), ThreadEvidence(contact_ticket_ids=(2,), merged_into={2: 1}))
    assert (match.ticket_id, match.reason) == (1, MatchReason.CONTACT)


def test_the_reopen_window_of_the_ticket_joined_decides():
    now = datetime(2026, 6, 1, tzinfo=UTC)
    evidence = ThreadEvidence(
        token_ticket_ids=(2,),
        merged_into={2: 1},
        states={1: TicketState("closed", now - timedelta(days=90)), 2: TicketState("merged", now)},
        now=now,
    )
    match = match_ticket(parsed(), evidence)
    assert (match.ticket_id, match.reason, match.linked_ticket_id) == (None, MatchReason.NEW_LINKED, 1)


def test_nothing_moves_a_merged_ticket_again():
    with pytest.raises(CommandError, match="a merged ticket cannot become open"):
        plan_status_change(TicketStatus.MERGED, TicketStatus.OPEN)
    with pytest.raises(CommandError, match="cannot become merged"):
        plan_status_change(TicketStatus.OPEN, TicketStatus.MERGED)


def message(id: int, kind: str = "customer", direction: str = "in", mid: str | None = None, *answers: str):
    return SplitCandidate(id, kind, direction, mid or f"<m{id}@x>", answers[0] if answers else None, tuple(answers))


def test_split_takes_the_message_and_the_later_mail_that_answers_it():
    thread = [
        message(1),  # the original topic
        message(2, "customer", "in", None, "<m1@x>"),  # the new topic, sent as a reply
        message(3, "agent_reply", "out", None, "<m2@x>"),  # our answer to the new topic
        message(4, "customer", "in", None, "<m1@x>"),  # more on the original topic
        message(5, "customer", "in", None, "<m3@x>", "<m2@x>"),  # the customer answers our answer on the new one
    ]
    assert plan_split("11111111111", thread, 2) == (2, 3, 5)


def test_split_refuses_a_message_of_another_ticket_an_agents_or_the_first():
    thread = [message(1), message(2, "agent_note"), message(3)]
    with pytest.raises(CommandError, match="message 9 is not on ticket 11111111111"):
        plan_split("11111111111", thread, 9)
    with pytest.raises(CommandError, match="not a customer's message"):
        plan_split("11111111111", thread, 2)
    with pytest.raises(CommandError, match="opened ticket 11111111111"):
        plan_split("11111111111", thread, 1)


def test_merge_command_takes_a_ticket_number():
    number = new_ticket_number()
    reply = parse_agent_reply(f"#merge #{number}\nSame parcel as the other ticket.")
    assert reply.commands == (AgentCommand("merge", f"#{number}"),)
    assert reply.body == "Same parcel as the other ticket."
    assert parse_agent_reply("#merge 12345").problems == ("line 1: #merge needs a ticket number, got '12345'",)
