"""Issue 16 (no backscatter): spam headers, DMARC and the blocklist decide whether customer mail is spam."""

from __future__ import annotations

import pytest

from mailbridge.base.config.spam import SpamSettings
from mailbridge.decisions.inbound.spam_verdict import (
    NOT_SPAM,
    SpamSignals,
    block_entry,
    block_keys,
    judge_spam,
    plan_spam_message,
    read_spam_signals,
)
from mailbridge.decisions.kinds import TicketStatus

OURS = "mx.shop.example"
DEFAULTS = SpamSettings()


def raw(*headers: str, body: str = "Hello") -> bytes:
    lines = ["From: Anna <anna@example.org>", "To: support@shop.example", "Subject: Hi", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n" + body + "\r\n").encode()


def verdict(*headers: str, settings: SpamSettings = DEFAULTS, authserv_id: str | None = OURS, blocked=None):
    return judge_spam(
        read_spam_signals(raw(*headers)),
        sender="anna@example.org",
        settings=settings,
        authserv_id=authserv_id,
        blocked_by=blocked,
    )


def test_plain_mail_is_not_spam():
    assert verdict() == NOT_SPAM


def test_spam_flag_yes_is_spam():
    found = verdict("X-Spam-Flag: YES")
    assert found.is_spam and found.reason == "spam verdict: X-Spam-Flag: YES"


def test_spam_flag_no_is_not_spam():
    assert not verdict("X-Spam-Flag: NO").is_spam


def test_spamassassin_status_yes_is_spam_whatever_the_score():
    assert verdict("X-Spam-Status: Yes, score=3.1 required=3.0 tests=BAYES_99").is_spam


def test_spamassassin_status_no_with_a_score_over_our_threshold_is_spam():
    found = verdict("X-Spam-Status: No, score=6.2 required=8.0 tests=BAYES_50")
    assert found.is_spam and "6.2 >= 5" in found.reason


def test_spamassassin_status_no_below_the_threshold_is_not_spam():
    assert not verdict("X-Spam-Status: No, score=1.2 required=5.0 tests=NONE").is_spam


def test_folded_spam_status_is_read():
    assert verdict("X-Spam-Status: No, score=9.9 required=5.0\r\n\ttests=BAYES_99,URIBL_BLACK").is_spam


@pytest.mark.parametrize("header", ["X-Spam-Score: 5.0", "X-Spam-Score: 12", "X-Rspamd-Score: 7.25"])
def test_score_at_or_over_the_threshold_is_spam(header):
    assert verdict(header).is_spam


@pytest.mark.parametrize("header", ["X-Spam-Score: 4.9", "X-Spam-Score: -2.0", "X-Rspamd-Score: 0.5"])
def test_score_below_the_threshold_is_not_spam(header):
    assert not verdict(header).is_spam


def test_threshold_is_configurable():
    strict = SpamSettings(score_threshold=2.0)
    assert verdict("X-Spam-Score: 2.5", settings=strict).is_spam
    assert not verdict("X-Spam-Score: 2.5").is_spam


def test_unreadable_score_is_ignored():
    assert not verdict("X-Spam-Score: high").is_spam


def test_rspamd_result_true_is_spam():
    assert verdict("X-Spamd-Result: default: True [3.00 / 15.00]; BAYES_SPAM(3.00)").is_spam


def test_rspamd_result_false_counts_by_its_score():
    assert not verdict("X-Spamd-Result: default: False [1.20 / 15.00]; R_SPF_ALLOW(-0.20)").is_spam
    assert verdict("X-Spamd-Result: default: False [8.40 / 15.00]; BAYES_SPAM(5.1)").is_spam


def test_rspamd_x_spam_yes_is_spam():
    assert verdict("X-Spam: Yes").is_spam


def test_spam_headers_are_ignored_when_switched_off():
    off = SpamSettings(read_spam_headers=False)
    assert not verdict("X-Spam-Flag: YES", "X-Spam-Score: 20", settings=off).is_spam


def test_dmarc_fail_from_our_server_is_spam():
    found = verdict(f"Authentication-Results: {OURS}; dmarc=fail (p=reject) header.from=example.org")
    assert found.is_spam and found.reason == "spam verdict: dmarc=fail for example.org"


def test_dmarc_fail_for_another_domain_is_not_spam():
    assert not verdict(f"Authentication-Results: {OURS}; dmarc=fail header.from=other.example").is_spam


def test_dmarc_fail_from_another_server_is_ignored_when_authserv_id_is_set():
    assert not verdict("Authentication-Results: mx.elsewhere.example; dmarc=fail header.from=example.org").is_spam


def test_dmarc_pass_is_not_spam():
    assert not verdict(f"Authentication-Results: {OURS}; dmarc=pass header.from=example.org").is_spam


def test_spf_or_dkim_fail_alone_is_not_spam():
    # Forwarded customer mail often fails SPF; only DMARC (the From domain) counts.
    header = f"Authentication-Results: {OURS}; spf=fail smtp.mailfrom=example.org; dkim=fail header.d=example.org"
    assert not verdict(header).is_spam


def test_without_authserv_id_the_topmost_dmarc_fail_counts():
    header = "Authentication-Results: mx.any.example; dmarc=fail header.from=example.org"
    assert verdict(header, authserv_id=None).is_spam


def test_without_authserv_id_a_lower_dmarc_fail_does_not_count():
    top = "Authentication-Results: mx.any.example; dmarc=pass header.from=example.org"
    lower = "Authentication-Results: mx.other.example; dmarc=fail header.from=example.org"
    assert not verdict(top, lower, authserv_id=None).is_spam


def test_dmarc_check_can_be_switched_off():
    header = f"Authentication-Results: {OURS}; dmarc=fail header.from=example.org"
    assert not verdict(header, settings=SpamSettings(dmarc_fail_is_spam=False)).is_spam


def test_blocked_sender_is_spam_first():
    found = verdict(blocked="@example.org")
    assert found.is_spam and found.reason == "blocked sender (@example.org)"


def test_spam_headers_in_the_body_are_not_read():
    signals = read_spam_signals(raw(body="X-Spam-Flag: YES\r\nX-Spam-Score: 99"))
    assert signals == SpamSignals()


def test_new_spam_ticket_is_spam_and_sends_nothing():
    found = verdict("X-Spam-Flag: YES")
    transition = plan_spam_message(None, found)
    assert transition.new_status is TicketStatus.SPAM and transition.mails == ()


def test_spam_on_an_existing_ticket_keeps_its_status_and_sends_nothing():
    transition = plan_spam_message(TicketStatus.WAITING, verdict("X-Spam-Flag: YES"))
    assert transition.new_status is None and transition.mails == ()


def test_block_keys_cover_the_address_its_domain_and_parents():
    assert block_keys("Anna@Mail.Example.ORG") == ("anna@mail.example.org", "@mail.example.org", "@example.org")


def test_block_keys_of_no_address_are_empty():
    assert block_keys(None) == () and block_keys("nobody") == () and block_keys("@example.org") == ()


@pytest.mark.parametrize("entry", ["spam@example.com", "@example.com", " @Sub.Example.COM "])
def test_block_entries_are_addresses_or_domains(entry):
    assert block_entry(entry) == entry.strip().lower()


@pytest.mark.parametrize("entry", ["example.com", "@", "@com", "a b@example.com", "@-bad.example", "x@y@z.example"])
def test_bad_block_entries_are_refused(entry):
    with pytest.raises(ValueError, match="expected an address"):
        block_entry(entry)
