"""Decision: the topic a customer chose for a new ticket, and whether the ticket is pre-sale. Pure; intake calls it.

A topic (`[topics.NAME]`) is chosen by writing to a sub-address of ours (`support+returns@shop.example`, in To, Cc,
Delivered-To or X-Original-To) or by a tag in the subject (`[Returns] broken lamp`), both compared case-insensitively.
The first topic in the configuration's order that the mail chose gives the category; intake prefers it to `[[routing]]`.
"""

from __future__ import annotations

import re

from mailbridge.base.config.actions import TopicSettings
from mailbridge.decisions.agent_commands import category_path
from mailbridge.decisions.inbound.parse import ParsedMessage, recipients_of
from mailbridge.decisions.own_addresses import sub_address_tag

# One bracketed tag without brackets inside: each `[` starts at most one short match (linear in the subject).
SUBJECT_TAG = re.compile(r"\[([^\[\]\r\n]{1,64})\]")


def subject_tags(subject: str) -> frozenset[str]:
    """The bracketed tags of a subject, stripped and case-folded (`[Returns]` -> "returns")."""
    return frozenset(m.group(1).strip().casefold() for m in SUBJECT_TAG.finditer(subject or ""))


def choose_topic(parsed: ParsedMessage, topics: tuple[TopicSettings, ...], own: frozenset[str]) -> TopicSettings | None:
    """Return the first topic whose sub-address the mail was sent to or whose tag its subject carries, or None."""
    if not topics:
        return None
    tags = {sub_address_tag(a, own) for a in recipients_of(parsed)} - {None}
    in_subject = subject_tags(parsed.subject)
    for topic in topics:
        if (topic.subaddress and topic.subaddress in tags) or (topic.subject_tag and topic.subject_tag in in_subject):
            return topic
    return None


def topic_category(parsed: ParsedMessage, topics: tuple[TopicSettings, ...], own: frozenset[str]) -> str | None:
    """The category of the topic the mail chose, in the stored form (`Orders > Returns`), or None."""
    topic = choose_topic(parsed, topics, own)
    return category_path(topic.category) if topic else None


def is_presale(*, enabled: bool, has_earlier_ticket: bool, order_number: str | None) -> bool:
    """A new ticket is pre-sale when the flag is on, its sender had no ticket before and its mail names no order."""
    return enabled and not has_earlier_ticket and not order_number
