"""Retention and erasure decisions (decisions/retention.py) and the `[retention]` table: what goes when."""

from __future__ import annotations

from datetime import timedelta

import pytest

from mailbridge.base.clock import FixedClock
from mailbridge.base.config.settings import load_settings
from mailbridge.base.errors import ConfigError
from mailbridge.decisions.retention import (
    ErasureCounts,
    RetentionPolicy,
    TicketAge,
    is_pseudonym,
    plan_retention,
    pseudonym_of,
    redact,
)
from tests.unit.test_config import BASE, write

NOW = FixedClock().now()


def age(ticket_id: int, days: float, *, status: str = "closed", has_raw: bool = True, anonymised: bool = False):
    return TicketAge(ticket_id, status, NOW - timedelta(days=days), has_raw, anonymised)


def test_retention_off_plans_nothing():
    assert plan_retention(RetentionPolicy(), [age(1, 5000)], NOW).purge_raw == ()
    assert plan_retention(RetentionPolicy(), [age(1, 5000)], NOW).anonymise == ()


def test_closed_ticket_older_than_purge_days_loses_its_raw_mail():
    plan = plan_retention(RetentionPolicy(purge_raw_after_days=30), [age(1, 31), age(2, 29)], NOW)
    assert plan.purge_raw == (1,) and plan.anonymise == ()


def test_ticket_closed_exactly_n_days_ago_is_due():
    assert plan_retention(RetentionPolicy(purge_raw_after_days=30), [age(1, 30)], NOW).purge_raw == (1,)


def test_ticket_without_raw_left_is_not_purged_again():
    assert plan_retention(RetentionPolicy(purge_raw_after_days=30), [age(1, 90, has_raw=False)], NOW).purge_raw == ()


def test_open_ticket_is_never_touched_however_old():
    policy = RetentionPolicy(purge_raw_after_days=1, anonymise_after_days=2)
    plan = plan_retention(policy, [age(1, 900, status="open"), age(2, 900, status="waiting")], NOW)
    assert plan.purge_raw == () and plan.anonymise == ()


def test_spam_and_merged_tickets_count_as_finished():
    plan = plan_retention(
        RetentionPolicy(purge_raw_after_days=10), [age(1, 11, status="spam"), age(2, 11, status="merged")], NOW
    )
    assert plan.purge_raw == (1, 2)


def test_older_ticket_is_anonymised_instead_of_purged():
    policy = RetentionPolicy(purge_raw_after_days=30, anonymise_after_days=365)
    plan = plan_retention(policy, [age(1, 400), age(2, 100), age(3, 10)], NOW)
    assert plan.anonymise == (1,) and plan.purge_raw == (2,)


def test_anonymised_ticket_is_not_anonymised_twice_nor_purged():
    policy = RetentionPolicy(purge_raw_after_days=30, anonymise_after_days=365)
    plan = plan_retention(policy, [age(1, 400, anonymised=True, has_raw=False)], NOW)
    assert plan.anonymise == () and plan.purge_raw == ()


def test_anonymise_alone_works_without_purge():
    plan = plan_retention(RetentionPolicy(anonymise_after_days=90), [age(1, 91), age(2, 89)], NOW)
    assert plan.anonymise == (1,) and plan.purge_raw == ()


def test_pseudonym_is_stable_keyed_and_undeliverable():
    first = pseudonym_of("Anna@Example.org", b"k1")
    assert first == pseudonym_of(" anna@example.org", b"k1")
    assert first != pseudonym_of("anna@example.org", b"k2")
    assert first.endswith("@invalid") and is_pseudonym(first) and "anna" not in first


def test_redact_replaces_every_spelling_of_the_address():
    assert (
        redact("customer:Anna@Example.org wrote to anna@example.org", "anna@example.org", "X")
        == "customer:X wrote to X"
    )
    assert redact("nothing here", "anna@example.org", "X") == "nothing here"


def test_redact_takes_the_address_literally():
    assert redact("a.b@x.org axb@x.org", "a.b@x.org", "X") == "X axb@x.org"


def test_counts_add_up_and_say_when_empty():
    total = ErasureCounts(tickets=1, messages=2).plus(ErasureCounts(messages=3, raw_files=1))
    assert total.as_dict()["messages"] == 5 and total.tickets == 1 and total.raw_files == 1
    assert ErasureCounts().is_empty and not total.is_empty


def test_retention_table_is_read(tmp_path, monkeypatch):
    monkeypatch.setenv("MB_PW", "x")
    settings = load_settings(
        write(tmp_path, BASE + "[retention]\npurge_raw_after_days = 30\nanonymise_after_days = 365\n")
    )
    assert settings.retention.purge_raw_after_days == 30 and settings.retention.anonymise_after_days == 365


def test_retention_defaults_to_off(tmp_path, monkeypatch):
    monkeypatch.setenv("MB_PW", "x")
    retention = load_settings(write(tmp_path, BASE)).retention
    assert retention.purge_raw_after_days == 0 and retention.anonymise_after_days == 0


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ("purge_raw_after_days = -1", "[retention] purge_raw_after_days: expected an integer 0-36500, got -1"),
        ('anonymise_after_days = "a year"', "[retention] anonymise_after_days: expected an integer 0-36500"),
        ("purge_after_days = 3", "[retention] purge_after_days: unknown key"),
        (
            "purge_raw_after_days = 90\nanonymise_after_days = 30",
            "[retention] anonymise_after_days: expected 0 or at least purge_raw_after_days (90)",
        ),
    ],
)
def test_bad_retention_values_name_the_key(tmp_path, monkeypatch, table, expected):
    monkeypatch.setenv("MB_PW", "x")
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, BASE + f"[retention]\n{table}\n"))
    assert expected in str(caught.value) and "mailbridge.toml" in str(caught.value)
