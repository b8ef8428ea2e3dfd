from mailbridge.decisions.kinds import MatchReason
from mailbridge.decisions.matching.ticket_match import NumberedTicket, RelatedTicket, ThreadEvidence, match_ticket
from tests.unit.helpers import parsed


def by_anna(ticket_id: int) -> RelatedTicket:
    """Stored mail on a ticket the sender of `parsed()` (anna@example.org) is on."""
    return RelatedTicket(ticket_id, frozenset({"anna@example.org"}))


def test_unknown_message_opens_a_new_ticket():
    assert match_ticket(parsed(), ThreadEvidence()).reason is MatchReason.NEW


def test_in_reply_to_a_stored_message_joins_its_ticket():
    evidence = ThreadEvidence(tickets_by_message_id={"<r@shop.example>": by_anna(4)})
    match = match_ticket(parsed(in_reply_to="<r@shop.example>"), evidence)
    assert (match.ticket_id, match.reason) == (4, MatchReason.IN_REPLY_TO)


def test_in_reply_to_or_references_from_a_stranger_open_a_new_ticket():
    """A stranger who copies a thread's ids into a mail of their own never joins another customer's ticket."""
    bob_only = {"<r@shop.example>": RelatedTicket(4, frozenset({"bob@example.org"}))}
    for message in (parsed(in_reply_to="<r@shop.example>"), parsed(references=("<r@shop.example>",))):
        assert match_ticket(message, ThreadEvidence(tickets_by_message_id=bob_only)).reason is MatchReason.NEW


def test_a_colleague_the_parent_was_written_to_joins_by_in_reply_to():
    evidence = ThreadEvidence(tickets_by_message_id={"<r@x>": RelatedTicket(4, frozenset({"bob@example.org"}))})
    match = match_ticket(parsed(in_reply_to="<r@x>", from_addr="Bob@Example.org".lower()), evidence)
    assert (match.ticket_id, match.reason) == (4, MatchReason.IN_REPLY_TO)


def test_in_reply_to_beats_references():
    evidence = ThreadEvidence(tickets_by_message_id={"<a@x>": by_anna(1), "<b@x>": by_anna(2)})
    match = match_ticket(parsed(in_reply_to="<b@x>", references=("<a@x>",)), evidence)
    assert match.ticket_id == 2


def test_newest_reference_wins():
    evidence = ThreadEvidence(tickets_by_message_id={"<a@x>": by_anna(1), "<b@x>": by_anna(2)})
    match = match_ticket(parsed(references=("<a@x>", "<b@x>")), evidence)
    assert (match.ticket_id, match.reason) == (2, MatchReason.REFERENCES)


def test_references_beat_subject_number():
    evidence = ThreadEvidence(
        tickets_by_message_id={"<a@x>": by_anna(1)},
        numbered_tickets=(NumberedTicket(9, frozenset({"anna@example.org"})),),
    )
    assert match_ticket(parsed(references=("<a@x>",)), evidence).ticket_id == 1


def test_subject_number_counts_for_a_participant():
    evidence = ThreadEvidence(numbered_tickets=(NumberedTicket(9, frozenset({"anna@example.org"})),))
    match = match_ticket(parsed(), evidence)
    assert (match.ticket_id, match.reason) == (9, MatchReason.SUBJECT_NUMBER)


def test_subject_number_from_a_stranger_opens_a_new_ticket():
    evidence = ThreadEvidence(numbered_tickets=(NumberedTicket(9, frozenset({"bob@example.org"})),))
    assert match_ticket(parsed(), evidence).reason is MatchReason.NEW


# --- issue 4: tokens, body references, contact rule, reopen window, subject normalising ---

from datetime import UTC, datetime, timedelta  # noqa: E402

import pytest  # noqa: E402

from mailbridge.decisions.matching.ticket_match import TicketState, normalise_subject  # noqa: E402

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ANNA = frozenset({"anna@example.org"})


def test_reply_token_beats_in_reply_to():
    evidence = ThreadEvidence(token_ticket_ids=(3,), tickets_by_message_id={"<a@x>": by_anna(1)})
    match = match_ticket(parsed(in_reply_to="<a@x>"), evidence)
    assert (match.ticket_id, match.reason) == (3, MatchReason.REPLY_TOKEN)


def test_reply_token_works_from_another_address():
    match = match_ticket(parsed(from_addr="anna.work@corp.example"), ThreadEvidence(token_ticket_ids=(3,)))
    assert match.ticket_id == 3


def test_subject_number_beats_body_reference():
    evidence = ThreadEvidence(
        numbered_tickets=(NumberedTicket(9, ANNA),), body_referenced_tickets=(NumberedTicket(8, ANNA),)
    )
    assert match_ticket(parsed(), evidence).reason is MatchReason.SUBJECT_NUMBER


def test_body_reference_counts_for_a_participant():
    match = match_ticket(parsed(), ThreadEvidence(body_referenced_tickets=(NumberedTicket(8, ANNA),)))
    assert (match.ticket_id, match.reason) == (8, MatchReason.BODY_REFERENCE)


def test_body_reference_from_a_stranger_opens_a_new_ticket():
    evidence = ThreadEvidence(body_referenced_tickets=(NumberedTicket(8, frozenset({"bob@example.org"})),))
    assert match_ticket(parsed(), evidence).reason is MatchReason.NEW


def test_agent_on_the_ticket_counts_as_participant():
    evidence = ThreadEvidence(numbered_tickets=(NumberedTicket(9, frozenset({"maria@shop.example"})),))
    assert match_ticket(parsed(from_addr="maria@shop.example"), evidence).ticket_id == 9


def test_body_reference_beats_contact_rule():
    evidence = ThreadEvidence(body_referenced_tickets=(NumberedTicket(8, ANNA),), contact_ticket_ids=(5,))
    assert match_ticket(parsed(), evidence).ticket_id == 8


def test_contact_rule_joins_an_open_ticket():
    evidence = ThreadEvidence(contact_ticket_ids=(5,), states={5: TicketState("open", None)}, now=NOW)
    match = match_ticket(parsed(), evidence)
    assert (match.ticket_id, match.reason) == (5, MatchReason.CONTACT)


def closed(days_ago: float) -> TicketState:
    return TicketState("closed", NOW - timedelta(days=days_ago))


@pytest.mark.parametrize("days_ago, joins", [(1, True), (29.9, True), (30, True), (30.01, False), (90, False)])
def test_contact_rule_respects_the_reopen_window(days_ago, joins):
    evidence = ThreadEvidence(contact_ticket_ids=(5,), states={5: closed(days_ago)}, now=NOW, reopen_window_days=30)
    match = match_ticket(parsed(), evidence)
    assert (match.ticket_id == 5) is joins
    if not joins:
        assert match.reason is MatchReason.NEW and match.linked_ticket_id is None


def test_contact_rule_skips_an_old_ticket_for_a_newer_one():
    evidence = ThreadEvidence(
        contact_ticket_ids=(5, 4), states={5: closed(60), 4: TicketState("waiting", None)}, now=NOW
    )
    assert match_ticket(parsed(), evidence).ticket_id == 4


@pytest.mark.parametrize("days_ago, reopens", [(0, True), (30, True), (30.01, False), (400, False)])
def test_reply_to_closed_ticket_reopens_within_window_else_links(days_ago, reopens):
    evidence = ThreadEvidence(tickets_by_message_id={"<r@x>": by_anna(7)}, states={7: closed(days_ago)}, now=NOW)
    match = match_ticket(parsed(in_reply_to="<r@x>"), evidence)
    if reopens:
        assert (match.ticket_id, match.reason) == (7, MatchReason.IN_REPLY_TO)
    else:
        assert (match.ticket_id, match.reason, match.linked_ticket_id) == (None, MatchReason.NEW_LINKED, 7)


def test_token_to_long_closed_ticket_links_it():
    evidence = ThreadEvidence(token_ticket_ids=(7,), states={7: closed(45)}, now=NOW)
    assert match_ticket(parsed(), evidence).linked_ticket_id == 7


def test_reopen_window_of_zero_days_links_any_closed_ticket():
    evidence = ThreadEvidence(
        tickets_by_message_id={"<r@x>": by_anna(7)}, states={7: closed(0.5)}, now=NOW, reopen_window_days=0
    )
    assert match_ticket(parsed(in_reply_to="<r@x>"), evidence).reason is MatchReason.NEW_LINKED


@pytest.mark.parametrize(
    "subject",
    [
        "Re: Order 1234",
        "RE: Order 1234",
        "re: order 1234",
        "Fwd: Order 1234",
        "FW: Order 1234",
        "Fw: Order 1234",
        "AW: Order 1234",
        "WG: Order 1234",
        "SV: Order 1234",
        "VS: Order 1234",
        "R: Order 1234",
        "RIF: Order 1234",
        "I: Order 1234",
        "TR: Order 1234",
        "Odp: Order 1234",
        "Απ: Order 1234",
        "ΑΠ: Order 1234",
        "ΣΧΕΤ: Order 1234",
        "Σχετ: Order 1234",
        "Ynt: Order 1234",
        "Antw: Order 1234",
        "RV: Order 1234",
        "Re[2]: Order 1234",
        "Re (3): Order 1234",
        "RE : Order 1234",
        "Re: Fwd: AW: Order 1234",
        "Re: [#48213907751] Order 1234",
        "[#48213907751] Re: Order 1234",
        "  Order   1234 ",
        "[shop-list] Re: Order 1234",
    ],
)
def test_normalise_subject_strips_prefixes_of_every_language(subject):
    assert normalise_subject(subject) == "order 1234"


@pytest.mark.parametrize(
    "subject, expected",
    [
        ("Rechnung fehlt", "rechnung fehlt"),  # "Re" inside a word is not a prefix
        ("Iphone broken", "iphone broken"),
        ("Re:", ""),
        ("", ""),
        ("Return: wrong size", "return: wrong size"),
    ],
)
def test_normalise_subject_keeps_words_that_only_look_like_prefixes(subject, expected):
    assert normalise_subject(subject) == expected


def test_twin_in_this_contact_is_found_and_one_in_another_contact_is_not():
    from mailbridge.decisions.matching.ticket_match import StoredCopy, copy_in_contact

    copy = StoredCopy(message_row_id=7, ticket_id=3, contact_id=1)
    assert copy_in_contact((copy,), 1) == copy
    assert copy_in_contact((copy,), 2) is None


def test_mail_stored_in_another_contact_opens_a_linked_ticket_here():
    from mailbridge.decisions.matching.ticket_match import StoredCopy, TicketMatch, place_copy

    copy = StoredCopy(message_row_id=7, ticket_id=3, contact_id=2)
    placed = place_copy(TicketMatch(3, MatchReason.IN_REPLY_TO), (copy,), 1, 2)
    assert (placed.ticket_id, placed.reason, placed.linked_ticket_id) == (None, MatchReason.OTHER_CONTACT, 3)


def test_copy_elsewhere_does_not_move_a_reply_threaded_in_this_contact():
    from mailbridge.decisions.matching.ticket_match import StoredCopy, TicketMatch, place_copy

    copy = StoredCopy(message_row_id=7, ticket_id=3, contact_id=2)
    match = TicketMatch(5, MatchReason.IN_REPLY_TO)
    assert place_copy(match, (copy,), 1, 1) == match


# --- issue 15, part D: threading across arrival order (copies, late parents, unseen parents) ---

from mailbridge.decisions.matching.ticket_match import (  # noqa: E402
    MAX_THREAD_LINKS,
    RelatedTicket,
    thread_links,
)

BOB = "bob@example.org"


def related(ticket_id: int, *people: str, customer_copy: bool = False) -> RelatedTicket:
    return RelatedTicket(ticket_id, frozenset(people or ("anna@example.org",)), has_customer_copy=customer_copy)


def test_copy_with_the_same_message_id_joins_the_ticket_of_the_first_copy():
    match = match_ticket(parsed(subject="[list-b] Order 1234"), ThreadEvidence(same_id_tickets=(related(3),)))
    assert (match.ticket_id, match.reason) == (3, MatchReason.SAME_MESSAGE_ID)


def test_copy_of_customer_mail_is_a_repeat():
    evidence = ThreadEvidence(same_id_tickets=(related(3, customer_copy=True),))
    assert match_ticket(parsed(), evidence).is_repeat


def test_copy_of_mail_stored_only_as_list_mail_is_no_repeat():
    # The first copy came through a list (automatic mail: no receipt); the direct copy still gets one.
    assert not match_ticket(parsed(), ThreadEvidence(same_id_tickets=(related(3),))).is_repeat


def test_other_rules_are_never_a_repeat():
    evidence = ThreadEvidence(tickets_by_message_id={"<a@x>": by_anna(4)})
    assert not match_ticket(parsed(in_reply_to="<a@x>"), evidence).is_repeat


def test_copy_from_a_stranger_reusing_the_message_id_opens_a_new_ticket():
    evidence = ThreadEvidence(same_id_tickets=(related(3, customer_copy=True),))
    match = match_ticket(parsed(from_addr="mallory@evil.example"), evidence)
    assert (match.ticket_id, match.reason, match.is_repeat) == (None, MatchReason.NEW, False)


def test_copy_beats_in_reply_to():
    evidence = ThreadEvidence(same_id_tickets=(related(3),), tickets_by_message_id={"<a@x>": by_anna(4)})
    assert match_ticket(parsed(in_reply_to="<a@x>"), evidence).ticket_id == 3


def test_reply_token_beats_copy():
    evidence = ThreadEvidence(token_ticket_ids=(8,), same_id_tickets=(related(3),))
    assert match_ticket(parsed(), evidence).reason is MatchReason.REPLY_TOKEN


def test_copy_on_a_ticket_closed_long_ago_opens_a_linked_ticket_that_is_no_repeat():
    evidence = ThreadEvidence(
        same_id_tickets=(related(3, customer_copy=True),), states={3: closed(45)}, now=NOW, reopen_window_days=30
    )
    match = match_ticket(parsed(), evidence)
    assert (match.ticket_id, match.reason, match.linked_ticket_id, match.is_repeat) == (
        None,
        MatchReason.NEW_LINKED,
        3,
        False,
    )


def test_parent_arriving_after_its_replies_joins_their_ticket():
    match = match_ticket(parsed(message_id="<p@x>"), ThreadEvidence(referencing_tickets=(related(5),)))
    assert (match.ticket_id, match.reason) == (5, MatchReason.REFERENCED_BY)


def test_parent_from_an_agent_of_the_ticket_joins():
    evidence = ThreadEvidence(referencing_tickets=(related(5, "anna@example.org", "maria@shop.example"),))
    assert match_ticket(parsed(from_addr="maria@shop.example"), evidence).ticket_id == 5


def test_parent_from_a_stranger_opens_a_new_ticket():
    evidence = ThreadEvidence(referencing_tickets=(related(5, BOB),))
    assert match_ticket(parsed(), evidence).reason is MatchReason.NEW


def test_parent_skips_a_ticket_its_sender_is_not_on_for_one_they_are_on():
    evidence = ThreadEvidence(referencing_tickets=(related(6, BOB), related(5)))
    assert match_ticket(parsed(), evidence).ticket_id == 5


def test_own_references_beat_replies_naming_the_message():
    evidence = ThreadEvidence(tickets_by_message_id={"<old@x>": by_anna(2)}, referencing_tickets=(related(5),))
    match = match_ticket(parsed(references=("<old@x>",)), evidence)
    assert (match.ticket_id, match.reason) == (2, MatchReason.REFERENCES)


def test_subject_number_beats_replies_naming_the_message():
    evidence = ThreadEvidence(numbered_tickets=(NumberedTicket(9, ANNA),), referencing_tickets=(related(5),))
    assert match_ticket(parsed(), evidence).reason is MatchReason.SUBJECT_NUMBER


def test_replies_naming_the_message_beat_a_shared_reference():
    evidence = ThreadEvidence(referencing_tickets=(related(5),), sharing_tickets=(related(6),))
    assert match_ticket(parsed(), evidence).ticket_id == 5


def test_replies_to_an_unseen_parent_share_one_ticket():
    # The second reply names <p@x>, which is not stored, but the first reply (on ticket 6) names it too.
    evidence = ThreadEvidence(sharing_tickets=(related(6),))
    match = match_ticket(parsed(in_reply_to="<p@x>", references=("<p@x>",)), evidence)
    assert (match.ticket_id, match.reason) == (6, MatchReason.SHARED_REFERENCE)


def test_shared_reference_from_a_stranger_opens_a_new_ticket():
    evidence = ThreadEvidence(sharing_tickets=(related(6, BOB),), contact_ticket_ids=())
    assert match_ticket(parsed(references=("<p@x>",)), evidence).reason is MatchReason.NEW


def test_shared_reference_beats_the_contact_rule():
    evidence = ThreadEvidence(sharing_tickets=(related(6),), contact_ticket_ids=(2,))
    assert match_ticket(parsed(), evidence).ticket_id == 6


def test_thread_links_join_nothing_for_mail_without_a_sender():
    evidence = ThreadEvidence(same_id_tickets=(related(3),), referencing_tickets=(related(5),))
    assert match_ticket(parsed(from_addr=None), evidence).reason is MatchReason.NEW


def test_shared_reference_to_a_ticket_closed_long_ago_opens_a_linked_ticket():
    evidence = ThreadEvidence(sharing_tickets=(related(6),), states={6: closed(90)}, now=NOW)
    match = match_ticket(parsed(), evidence)
    assert (match.reason, match.linked_ticket_id) == (MatchReason.NEW_LINKED, 6)


def test_sender_is_compared_without_case():
    evidence = ThreadEvidence(referencing_tickets=(related(5),))
    assert match_ticket(parsed(from_addr="Anna@Example.org"), evidence).ticket_id == 5


def test_thread_links_are_in_reply_to_then_references_newest_first():
    message = parsed(in_reply_to="<c@x>", references=("<a@x>", "<b@x>", "<c@x>"))
    assert thread_links(message) == ("<c@x>", "<b@x>", "<a@x>")


def test_thread_links_leave_out_the_message_itself():
    assert thread_links(parsed(message_id="<m@x>", references=("<a@x>", "<m@x>"))) == ("<a@x>",)


def test_thread_links_of_a_message_that_answers_nothing_are_empty():
    assert thread_links(parsed()) == ()


def test_thread_links_keep_the_newest_fifty_of_a_hostile_references_header():
    references = tuple(f"<r{i}@x>" for i in range(5000))
    links = thread_links(parsed(references=references))
    assert len(links) == MAX_THREAD_LINKS and links[0] == "<r4999@x>" and links[-1] == "<r4950@x>"


def test_thread_links_skip_ids_too_long_to_index():
    long_id = "<" + "a" * 600 + "@x>"
    assert thread_links(parsed(references=("<a@x>", long_id))) == ("<a@x>",)
