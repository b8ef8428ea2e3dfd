from datetime import date

from mailbridge.decisions.matching.reply_tokens import AGENT, make_token, reply_address, tokens_in, verify_token

SECRET = "s3cret"


def test_token_round_trip_gives_the_ticket():
    claims = verify_token(make_token(42, SECRET, issued_day=date(2026, 1, 5)), SECRET)
    assert (claims.ticket_id, claims.purpose, claims.agent_id, claims.issued_day) == (42, "c", None, date(2026, 1, 5))


def test_token_is_short_and_fits_a_local_part():
    token = make_token(123456, SECRET, issued_day=date(2026, 1, 5))
    assert len(token) <= 32 and all(c.isalnum() or c == "." for c in token)


def test_altered_ticket_id_is_refused():
    token = make_token(42, SECRET)
    fields = token.split(".")
    fields[1] = "b" if fields[1] != "b" else "c"
    assert verify_token(".".join(fields), SECRET) is None


def test_wrong_secret_is_refused():
    assert verify_token(make_token(42, SECRET), "other") is None


def test_guessed_token_is_refused():
    assert verify_token("c.bk.a.aaaaaaaaaaaaaaaa", SECRET) is None


def test_garbage_is_refused():
    for token in ("", "c", "c.b.a", "x.y.z.w.v.u", "c.!!.a.aaaa"):
        assert verify_token(token, SECRET) is None


def test_upper_cased_token_still_verifies():
    assert verify_token(make_token(7, SECRET).upper(), SECRET).ticket_id == 7


def test_customer_token_is_not_an_agent_token():
    token = make_token(7, SECRET)
    assert verify_token(token, SECRET, purpose=AGENT) is None


def test_agent_token_carries_the_agent():
    claims = verify_token(make_token(7, SECRET, purpose=AGENT, agent_id=3), SECRET, purpose=AGENT)
    assert (claims.ticket_id, claims.agent_id) == (7, 3)


def test_token_expires_after_max_age():
    token = make_token(7, SECRET, issued_day=date(2026, 1, 1))
    assert verify_token(token, SECRET, today=date(2026, 1, 31), max_age_days=30) is not None
    assert verify_token(token, SECRET, today=date(2026, 2, 1), max_age_days=30) is None


def test_undated_token_fails_an_age_check():
    assert verify_token(make_token(7, SECRET), SECRET, today=date(2026, 1, 1), max_age_days=30) is None


def test_reply_address_uses_sub_addressing():
    assert reply_address("support@shop.example", "c.b.a.xyz") == "support+c.b.a.xyz@shop.example"


def test_tokens_only_come_from_our_own_addresses():
    found = tokens_in(
        ("Support+Tok1@shop.example", "bob+tok2@example.org", "support@shop.example"),
        frozenset({"support@shop.example"}),
    )
    assert found == ("tok1",)
