"""Decision: ParsedMessage + [[routing]] rules -> the category of a new ticket. Pure; intake calls it.

Rules are tried in the order of the configuration; the first whose recipient address is among the
message's recipients, or whose keyword occurs in the subject, gives the category.
"""

from __future__ import annotations

from mailbridge.base.config.rules import RoutingRule
from mailbridge.decisions.inbound.parse import ParsedMessage


def route_category(parsed: ParsedMessage, rules: tuple[RoutingRule, ...]) -> str | None:
    """Return the category of the first matching rule, or None."""
    recipients = {a.lower() for a in (*parsed.to_addrs, *parsed.cc_addrs)}
    subject = (parsed.subject or "").casefold()
    for rule in rules:
        if recipients.intersection(rule.recipients) or any(k in subject for k in rule.subject_keywords):
            return rule.category
    return None
