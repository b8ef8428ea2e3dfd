from datetime import UTC, date, datetime, timedelta

import pytest

from mailbridge.decisions.matching.reply_tokens import make_token
from mailbridge.decisions.survey import (
    RATING,
    RatingReply,
    TokenVerdict,
    check_rate_token,
    find_rate_address,
    is_within_window,
    rate_address,
    rating_links,
    read_rating_reply,
    should_send_survey,
)

SECRET = "s3cret"
TODAY = date(2026, 3, 10)


def test_rating_links_are_five_signed_mailto_addresses_with_a_subject():
    links = rating_links("support@shop.example", "r.b.c.mac", "My rating [#123]")
    assert [link.score for link in links] == [1, 2, 3, 4, 5]
    assert links[3].address == "support+rate-r.b.c.mac-4@shop.example"
    assert links[3].href == "mailto:support+rate-r.b.c.mac-4@shop.example?subject=My%20rating%20%5B%23123%5D%204%2F5"


def test_rate_address_is_found_among_recipients_in_any_case():
    found = find_rate_address(("someone@else.example", "Support+RATE-R.B.C.MAC-2@shop.example"))
    assert (found.token, found.score) == ("r.b.c.mac", 2)


@pytest.mark.parametrize(
    "address", ["support+rate-r.b.c.mac-6@shop.example", "support+c.b.c.mac@shop.example", "support@shop.example"]
)
def test_other_addresses_are_no_rating(address):
    assert find_rate_address((address,)) is None


def test_valid_token_is_accepted_within_the_window():
    token = make_token(7, SECRET, purpose=RATING, issued_day=TODAY)
    check = check_rate_token(token, SECRET, TODAY + timedelta(days=14), 14)
    assert check.verdict is TokenVerdict.VALID and check.claims.ticket_id == 7


def test_token_older_than_the_window_is_expired():
    token = make_token(7, SECRET, purpose=RATING, issued_day=TODAY)
    assert check_rate_token(token, SECRET, TODAY + timedelta(days=15), 14).verdict is TokenVerdict.EXPIRED


def test_altered_token_or_other_purpose_is_forged():
    token = make_token(7, SECRET, purpose=RATING, issued_day=TODAY)
    assert (
        check_rate_token(token[:-1] + ("a" if token[-1] != "a" else "b"), SECRET, TODAY, 14).verdict
        is TokenVerdict.FORGED
    )
    customer_token = make_token(7, SECRET, issued_day=TODAY)
    assert check_rate_token(customer_token, SECRET, TODAY, 14).verdict is TokenVerdict.FORGED


@pytest.mark.parametrize(
    "text, score, comment",
    [
        ("5", 5, ""),
        ("4/5 quick and kind", 4, "quick and kind"),
        ("  3 stars. ok-ish", 3, "ok-ish"),
        ("Ottimo, grazie mille", 5, "grazie mille"),
        ("excellent!", 5, ""),
        ("Špatné - nikdo neodpověděl", 2, "nikdo neodpověděl"),
        ("spatne", 2, ""),
        ("Άριστα! Ευχαριστώ", 5, "Ευχαριστώ"),
        ("sehr gut", 5, ""),
        ("Gut, danke", 4, "danke"),
        ("sehr schlecht", 1, ""),
        ("πολύ κακό", 1, ""),
        ("velmi špatné", 1, ""),
        ("pessimo servizio", 1, "servizio"),
    ],
)
def test_rating_reply_is_read_from_its_start(text, score, comment):
    assert read_rating_reply(text) == RatingReply(score, comment)


@pytest.mark.parametrize(
    "text", ["Where is my refund?", "10 items missing", "3.5", "goodbye", "", "6", "gutschein bitte"]
)
def test_garbage_is_no_rating(text):
    assert read_rating_reply(text) is None


def test_rate_address_keeps_the_base_mailbox():
    assert rate_address("help@shop.example", "r.x", 1) == "help+rate-r.x-1@shop.example"


def test_answer_counts_until_the_window_ends():
    issued = datetime(2026, 3, 1, tzinfo=UTC)
    assert is_within_window(issued, issued + timedelta(days=14), 14)
    assert not is_within_window(issued, issued + timedelta(days=14, seconds=1), 14)


@pytest.mark.parametrize(
    "status, send_survey, expected",
    [("closed", True, True), ("closed", False, False), ("open", True, False), ("spam", True, False)],
)
def test_survey_only_for_closed_tickets_of_contacts_that_ask(status, send_survey, expected):
    assert should_send_survey(status=status, send_survey=send_survey) is expected
