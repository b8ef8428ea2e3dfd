from mailbridge.ticket_match import MatchReason, NumberedTicket, ThreadEvidence, match_ticket
from tests.unit.helpers import parsed


def test_unknown_message_opens_a_new_ticket():
    assert match_ticket(parsed(), ThreadEvidence()).reason is MatchReason.NEW


def test_in_reply_to_a_stored_message_joins_its_ticket():
    evidence = ThreadEvidence(tickets_by_message_id={"<r@shop.example>": 4})
    match = match_ticket(parsed(in_reply_to="<r@shop.example>"), evidence)
    assert (match.ticket_id, match.reason) == (4, MatchReason.IN_REPLY_TO)


def test_in_reply_to_beats_references():
    evidence = ThreadEvidence(tickets_by_message_id={"<a@x>": 1, "<b@x>": 2})
    match = match_ticket(parsed(in_reply_to="<b@x>", references=("<a@x>",)), evidence)
    assert match.ticket_id == 2


def test_newest_reference_wins():
    evidence = ThreadEvidence(tickets_by_message_id={"<a@x>": 1, "<b@x>": 2})
    match = match_ticket(parsed(references=("<a@x>", "<b@x>")), evidence)
    assert (match.ticket_id, match.reason) == (2, MatchReason.REFERENCES)


def test_references_beat_subject_number():
    evidence = ThreadEvidence(tickets_by_message_id={"<a@x>": 1},
                              numbered_tickets=(NumberedTicket(9, frozenset({"anna@example.org"})),))
    assert match_ticket(parsed(references=("<a@x>",)), evidence).ticket_id == 1


def test_subject_number_counts_for_a_participant():
    evidence = ThreadEvidence(numbered_tickets=(NumberedTicket(9, frozenset({"anna@example.org"})),))
    match = match_ticket(parsed(), evidence)
    assert (match.ticket_id, match.reason) == (9, MatchReason.SUBJECT_NUMBER)


def test_subject_number_from_a_stranger_opens_a_new_ticket():
    evidence = ThreadEvidence(numbered_tickets=(NumberedTicket(9, frozenset({"bob@example.org"})),))
    assert match_ticket(parsed(), evidence).reason is MatchReason.NEW
