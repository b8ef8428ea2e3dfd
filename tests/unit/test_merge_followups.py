"""Pure decisions behind the issue 19 gaps: what a merged ticket's people in Cc become on the ticket it joins
(`participants.cc_from_merge`), answers taken back in collision control (`held_answers.without_recalled`), and how
a merge or split says what it moved (`merge.messages_moved`)."""

from datetime import UTC, datetime

from mailbridge.decisions.held_answers import TicketChange, find_collision, without_recalled
from mailbridge.decisions.merge import messages_moved
from mailbridge.decisions.participants import MergeCcPlan, People, cc_from_merge

PEOPLE = People(
    own=frozenset({"support@shop.example"}), agents=frozenset({"maria@shop.example"}), customer="anna@x.org"
)


def merge(active=(), removed=(), *, current=(), target_removed=(), same_customer=True, limit=10) -> MergeCcPlan:
    return cc_from_merge(
        active, removed, PEOPLE, current=current, removed=target_removed, same_customer=same_customer, limit=limit
    )


def test_people_in_cc_of_the_merged_ticket_join_once():
    plan = merge(["Bob@y.org", "carol@y.org", "bob@y.org"], current=["bob@y.org"])
    assert plan == MergeCcPlan(added=("carol@y.org",))


def test_a_removal_on_the_merged_ticket_is_kept_on_the_target():
    assert merge(["bob@y.org"], ["eve@y.org"]) == MergeCcPlan(added=("bob@y.org",), removed=("eve@y.org",))


def test_the_targets_own_state_of_an_address_stands():
    plan = merge(["eve@y.org"], ["bob@y.org"], current=["bob@y.org"], target_removed=["eve@y.org"])
    assert plan == MergeCcPlan()


def test_who_cannot_be_a_participant_of_the_target_is_left_out():
    plan = merge(["anna@x.org", "maria@shop.example", "support+x@shop.example", "dora@y.org"])
    assert plan.added == ("dora@y.org",)


def test_the_targets_limit_holds():
    plan = merge(["c@y.org", "d@y.org"], current=["a@y.org", "b@y.org"], limit=3)
    assert (plan.added, plan.over_limit) == (("c@y.org",), ("d@y.org",))


def test_another_customers_people_do_not_join():
    plan = merge(["bob@y.org"], ["eve@y.org"], same_customer=False)
    assert plan == MergeCcPlan(other_customer=("bob@y.org",))


def at(minute: int) -> datetime:
    return datetime(2026, 1, 5, 9, minute, tzinfo=UTC)


def test_an_answer_taken_back_and_its_self_assignment_overtake_nobody():
    changes = [
        TicketChange(at(1), "answered", "Luca@shop.example"),
        TicketChange(at(1), "assigned", "luca@shop.example"),
    ]
    left = without_recalled(changes, [("luca@shop.example", at(1))])
    assert left == [] and find_collision(at(0), "maria@shop.example", left) is None


def test_other_answers_still_overtake():
    changes = [
        TicketChange(at(1), "answered", "luca@shop.example"),
        TicketChange(at(2), "answered", "luca@shop.example"),
    ]
    assert without_recalled(changes, [("luca@shop.example", at(1))]) == changes[1:]


def test_messages_moved_counts_in_words():
    assert [messages_moved(n) for n in (0, 1, 2)] == ["0 messages moved", "1 message moved", "2 messages moved"]
