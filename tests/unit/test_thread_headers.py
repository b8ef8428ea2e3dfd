"""thread_headers: In-Reply-To and References of the next mail to a customer or to an agent, from values only."""

from __future__ import annotations

from mailbridge.decisions.outgoing.compose import MAX_REFERENCES, thread_ids
from mailbridge.decisions.outgoing.thread_headers import SeenMail, thread_for_agent, thread_for_customer

FIRST = "<first@example.org>"
SECOND = "<second@example.org>"
RECEIPT = "<mb.0123456789abcdef0123.0123456789ab@shop.example>"
ANSWER = "<mb.aaaaaaaaaaaaaaaaaaaa.bbbbbbbbbbbb@shop.example>"
NOTIFICATION = "<mb.cccccccccccccccccccc.dddddddddddd@shop.example>"
AGENT_OWN = "<agent-client-1@shop.example>"


def customer(message_id: str | None, *references: str) -> SeenMail:
    return SeenMail(message_id, True, references)


def ours(message_id: str) -> SeenMail:
    return SeenMail(message_id, False)


def test_no_messages_give_no_headers():
    thread = thread_for_customer([])
    assert thread.in_reply_to is None and thread.references == ()


def test_first_message_alone_answers_it():
    thread = thread_for_customer([customer(FIRST)])
    assert thread.in_reply_to == FIRST and thread.references == (FIRST,)


def test_in_reply_to_is_the_customers_latest_message_not_our_last_mail():
    thread = thread_for_customer(
        [customer(FIRST), ours(RECEIPT), ours(ANSWER), customer(SECOND, ANSWER), ours("<x@y>")]
    )
    assert thread.in_reply_to == SECOND


def test_references_list_the_chain_as_the_customer_saw_it_in_order():
    thread = thread_for_customer([customer(FIRST), ours(RECEIPT), ours(ANSWER), customer(SECOND, FIRST, ANSWER)])
    assert thread.references == (FIRST, RECEIPT, ANSWER, SECOND)


def test_our_mails_only_still_chain_without_in_reply_to():
    thread = thread_for_customer([ours(RECEIPT), ours(ANSWER)])
    assert thread.in_reply_to is None and thread.references == (RECEIPT, ANSWER)


def test_agents_own_message_id_is_never_used():
    mails = [customer(FIRST), ours(RECEIPT), customer(SECOND, AGENT_OWN, RECEIPT)]
    thread = thread_for_customer(mails, hidden=[AGENT_OWN])
    assert AGENT_OWN not in thread.references and thread.in_reply_to == SECOND


def test_hidden_customer_row_is_not_the_parent():
    # A `#requester` forward is stored as the customer's message but carries the agent's Message-ID.
    thread = thread_for_customer([customer(AGENT_OWN), ours(RECEIPT)], hidden=[AGENT_OWN])
    assert thread.in_reply_to is None and thread.references == (RECEIPT,)


def test_customer_reference_to_a_notification_is_dropped():
    thread = thread_for_customer([customer(FIRST), ours(RECEIPT), customer(SECOND, NOTIFICATION, RECEIPT)])
    assert NOTIFICATION not in thread.references


def test_forged_id_that_looks_like_ours_is_dropped_but_ours_kept():
    forged = "<mb.ffffffffffffffffffff.eeeeeeeeeeee@shop.example>"
    thread = thread_for_customer([customer(FIRST), ours(RECEIPT), customer(SECOND, forged, RECEIPT)])
    assert forged not in thread.references and RECEIPT in thread.references


def test_customers_own_earlier_references_are_kept_first():
    earlier = "<their-earlier-thread@example.org>"
    thread = thread_for_customer([customer(FIRST, earlier), ours(RECEIPT)])
    assert thread.references == (earlier, FIRST, RECEIPT)


def test_malformed_ids_are_dropped():
    thread = thread_for_customer([customer("not-an-id", "<no-at-sign>", "<two@@x>", "<a b@c>", FIRST), ours(RECEIPT)])
    assert thread.in_reply_to is None and thread.references == (FIRST, RECEIPT)


def test_malformed_latest_message_leaves_the_previous_one_as_parent():
    thread = thread_for_customer([customer(FIRST), ours(RECEIPT), customer("broken")])
    assert thread.in_reply_to == FIRST


def test_customer_message_without_id_is_skipped():
    thread = thread_for_customer([customer(FIRST), customer(None)])
    assert thread.in_reply_to == FIRST and thread.references == (FIRST,)


def test_repeated_ids_appear_once():
    thread = thread_for_customer([customer(FIRST), ours(RECEIPT), customer(SECOND, FIRST, RECEIPT, FIRST)])
    assert thread.references == (FIRST, RECEIPT, SECOND)


def test_long_thread_is_capped_keeping_the_root_and_the_newest():
    mails = [customer(FIRST)] + [ours(f"<n{i}@shop.example>") for i in range(40)] + [customer(SECOND)]
    thread = thread_for_customer(mails)
    assert len(thread.references) == MAX_REFERENCES
    assert thread.references[0] == FIRST and thread.references[-1] == SECOND
    assert thread.references[-2] == "<n39@shop.example>" and "<n0@shop.example>" not in thread.references


def test_capped_thread_keeps_the_parent_even_when_many_mails_followed_it():
    mails = [customer(FIRST), customer(SECOND)] + [ours(f"<n{i}@shop.example>") for i in range(40)]
    thread = thread_for_customer(mails)
    assert len(thread.references) == MAX_REFERENCES and thread.in_reply_to == SECOND
    assert thread.references[:2] == (FIRST, SECOND)


def test_capped_thread_survives_compose_unchanged():
    mails = [customer(FIRST, "<before@example.org>")] + [ours(f"<n{i}@shop.example>") for i in range(30)]
    mails.append(customer(SECOND))
    thread = thread_for_customer(mails)
    assert thread_ids(thread.in_reply_to, thread.references) == (thread.in_reply_to, thread.references)


def test_agent_first_mail_has_no_thread():
    thread = thread_for_agent([])
    assert thread.in_reply_to is None and thread.references == ()


def test_agent_mail_answers_the_last_one_sent_to_them():
    thread = thread_for_agent([NOTIFICATION, RECEIPT])
    assert thread.in_reply_to == RECEIPT and thread.references == (NOTIFICATION, RECEIPT)


def test_agent_chain_drops_malformed_ids_and_is_capped():
    earlier = ["junk", *(f"<a{i}@shop.example>" for i in range(30))]
    thread = thread_for_agent(earlier)
    assert len(thread.references) == MAX_REFERENCES
    assert thread.references[0] == "<a0@shop.example>" and thread.in_reply_to == "<a29@shop.example>"
    assert thread.references[-1] == thread.in_reply_to
