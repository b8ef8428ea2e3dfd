"""MailContext: who we are when we write mail. Built by the runtime from the settings and the Contacts' addresses and
handed to every stage that composes mail (service, intake, the mailbox alert) instead of the whole application.

It holds the support settings, our own addresses, the secret that signs reply tokens and Message-IDs, the
templates, and how a mail is DKIM-signed when it is queued (`sign`, handed in by the runtime: outbox.dkim).
Pure values and pure functions: nothing here reads a clock, a database or a server.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from jinja2 import Environment

from mailbridge.base.config.actions import ActionSettings, TopicSettings
from mailbridge.base.config.agents import AgentMailSettings
from mailbridge.base.config.rules import RoutingRule, SlaSettings
from mailbridge.base.config.settings import AutoMailLimits, Settings, SupportSettings
from mailbridge.base.config.shop import ShopSettings
from mailbridge.base.config.spam import SpamSettings
from mailbridge.base.config.survey import SurveySettings
from mailbridge.decisions.matching.ticket_numbers import subject_number_pattern
from mailbridge.decisions.outgoing.compose import is_own_message_id, new_message_id
from mailbridge.decisions.outgoing.templates import brand_environment
from mailbridge.decisions.own_addresses import our_addresses


@dataclass(frozen=True)
class MailContext:
    support: SupportSettings
    survey: SurveySettings
    limits: AutoMailLimits
    routing: tuple[RoutingRule, ...]
    templates: Environment = field(repr=False)
    # [support] from_address, every Contact's address, mailbox logins and `addresses` (decisions.own_addresses);
    # refreshed by the runtime from the contacts table before every poll.
    own_addresses: frozenset[str]
    subject_pattern: re.Pattern[str]
    # Signs a mail's bytes once, when it is queued (store.outbox_queue.enqueue): the outbox row holds the signed
    # bytes and every send, resends included, is the same mail. The runtime hands in outbox.dkim's signer.
    sign: Callable[[bytes], bytes] = field(repr=False)
    agents: AgentMailSettings = AgentMailSettings()  # [agents]: what notifications carry, how many
    spam: SpamSettings = SpamSettings()  # [spam]: which verdicts of our receiving server make mail spam
    sla: SlaSettings = SlaSettings()  # [sla]: the business calendar a receipt's expected answer time counts in
    templates_dir: Path | None = None  # the site's overrides (top-level templates_dir), under a brand's own
    actions: tuple[ActionSettings, ...] = ()  # [actions.NAME]: what `#NAME` in an agent's reply does
    topics: tuple[TopicSettings, ...] = ()  # [topics.NAME]: a sub-address or subject tag picks a new ticket's category
    shop: ShopSettings | None = None  # [shop]: a new customer's notification waits for the order lookup

    def action(self, name: str) -> ActionSettings | None:
        """The configured action of this name (any case), or None."""
        return next((a for a in self.actions if a.name == name.lower()), None)

    def templates_for(self, contact: object | None) -> Environment:
        """The templates of mail about a Contact's tickets: its `template_dir` first (a brand), then the site's."""
        brand_dir = getattr(contact, "template_dir", None)
        if not brand_dir:
            return self.templates
        return brand_environment(Path(brand_dir), self.templates_dir)

    def from_name_for(self, contact: object | None) -> str:
        """The From name of mail about a Contact's tickets: its own (a brand), else [support] from_name."""
        return getattr(contact, "from_name", None) or self.support.from_name

    @property
    def instance_id(self) -> str:
        """A stable id of this installation, written into our Message-IDs and X- headers."""
        return hashlib.sha256(self.support.from_address.encode()).hexdigest()[:16]

    @property
    def secret(self) -> str | None:
        """The secret that signs reply tokens and our Message-IDs, when configured."""
        return self.support.secret.value if self.support.secret else None

    @property
    def previous_secrets(self) -> tuple[str, ...]:
        """Secrets retired by a rotation: they still verify what they signed, and sign nothing new."""
        return tuple(s.value for s in self.support.previous_secrets)

    def new_message_id(self, from_address: str) -> str:
        """Draw a signed Message-ID for a mail we send (always with the current secret)."""
        return new_message_id(from_address, self.secret)

    def is_own_message_id(self, message_id: str | None) -> bool:
        return is_own_message_id(message_id, self.secret, self.previous_secrets)


def mail_context(
    settings: Settings,
    templates: Environment,
    contact_addresses: Iterable[str] = (),
    *,
    sign: Callable[[bytes], bytes] | None = None,
) -> MailContext:
    """Build the MailContext of a configuration and the Contacts' addresses (own_addresses.our_addresses).

    `sign` DKIM-signs a queued mail's bytes; None: mail is queued as composed (no [[dkim]] key to sign with).
    """
    return MailContext(
        support=settings.support,
        survey=settings.survey,
        limits=settings.limits,
        routing=settings.routing,
        templates=templates,
        own_addresses=own_addresses_of(settings, contact_addresses),
        subject_pattern=subject_number_pattern(settings.support.ticket_subject_format),
        sign=sign or _unsigned,
        agents=settings.agents,
        spam=settings.spam,
        sla=settings.sla,
        templates_dir=settings.templates_dir,
        actions=settings.actions,
        topics=settings.topics,
        shop=settings.shop,
    )


def _unsigned(raw: bytes) -> bytes:
    return raw


def own_addresses_of(settings: Settings, contact_addresses: Iterable[str]) -> frozenset[str]:
    """Our addresses under these settings, with the Contacts' addresses read from the database."""
    return our_addresses(settings.support.from_address, settings.mailboxes, contact_addresses)
