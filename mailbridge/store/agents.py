"""Store operations for agents, their Contacts and the Contacts' text modules, in the caller's session.

Called by `mailbridge agents|contacts members|texts`. Values are checked here; errors are
CommandError or NotFoundError with one readable line. Never commits.
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlmodel import Session, col, select

from mailbridge.base.errors import CommandError, NotFoundError
from mailbridge.store.contacts import find_contact
from mailbridge.store.models import Agent, AgentContact, Contact, TextModule, Ticket

ADDRESS = re.compile(r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[A-Za-z]{2,}$")
LOCALES = ("en", "it", "cs", "el", "de")


def check_address(email: str) -> str:
    """Return the address lower-cased. Raises: CommandError for anything that is not one address."""
    address = email.strip().lower()
    if not ADDRESS.match(address):
        raise CommandError(f"expected an email address like maria@shop.example, got {email!r}")
    return address


def check_locale(locale: str | None) -> str | None:
    """Return the locale. Raises: CommandError for an unknown one."""
    if locale is not None and locale not in LOCALES:
        raise CommandError(f"--locale: expected one of {', '.join(LOCALES)}, got {locale!r}")
    return locale


def find_agent(session: Session, email: str) -> Agent | None:
    """The agent with this address (any case, surrounding spaces ignored), or None."""
    return session.exec(select(Agent).where(Agent.email == email.strip().lower())).first()


def get_agent(session: Session, email: str) -> Agent:
    """Raises: NotFoundError when no agent has this address."""
    agent = find_agent(session, email)
    if agent is None:
        raise NotFoundError(f"no agent with address {email.strip().lower()}")
    return agent


def add_agent(
    *, session: Session, email: str, name: str, locale: str | None, contacts: list[str], now: datetime
) -> Agent:
    """Create an agent, optionally member of some Contacts. Raises: CommandError when the address is taken."""
    address = check_address(email)
    if find_agent(session, address) is not None:
        raise CommandError(f"an agent with address {address} already exists")
    agent = Agent(email=address, name=name.strip(), locale=check_locale(locale), created_at=now)
    session.add(agent)
    session.flush()
    for contact_name in contacts:
        add_member(session=session, contact=find_contact(session, contact_name), agent=agent)
    return agent


def edit_agent(
    *, session: Session, email: str, name: str | None, new_email: str | None, active: bool | None, locale: str | None
) -> Agent:
    """Change an agent's name, address, active flag or locale."""
    agent = get_agent(session, email)
    if new_email is not None:
        address = check_address(new_email)
        if address != agent.email and find_agent(session, address):
            raise CommandError(f"an agent with address {address} already exists")
        agent.email = address
        for ticket in session.exec(select(Ticket).where(Ticket.assigned_agent_id == agent.id)):
            ticket.assigned_agent = address
    if name is not None:
        agent.name = name.strip()
    if active is not None:
        agent.active = active
    if locale is not None:
        agent.locale = check_locale(locale) if locale else None
    return agent


def remove_agent(*, session: Session, email: str) -> None:
    """Delete an agent and their memberships; their tickets become unassigned."""
    agent = get_agent(session, email)
    for ticket in session.exec(select(Ticket).where(Ticket.assigned_agent_id == agent.id)):
        ticket.assigned_agent_id, ticket.assigned_agent = None, None
    for link in session.exec(select(AgentContact).where(AgentContact.agent_id == agent.id)):
        session.delete(link)
    session.flush()
    session.delete(agent)


def agent_contacts(session: Session, agent: Agent) -> list[str]:
    """Names of the Contacts an agent belongs to."""
    return list(
        session.exec(
            select(Contact.name)
            .join(AgentContact, col(AgentContact.contact_id) == col(Contact.id))
            .where(AgentContact.agent_id == agent.id)
            .order_by(Contact.name)
        )
    )


def add_member(*, session: Session, contact: Contact, agent: Agent) -> None:
    """Make an agent a member of a Contact (once)."""
    exists = session.exec(
        select(AgentContact).where(AgentContact.agent_id == agent.id, AgentContact.contact_id == contact.id)
    ).first()
    if exists is None:
        assert agent.id is not None and contact.id is not None, "both are stored rows"
        session.add(AgentContact(agent_id=agent.id, contact_id=contact.id))
        session.flush()


def remove_member(*, session: Session, contact: Contact, agent: Agent) -> None:
    """Take an agent out of a Contact. Raises: NotFoundError when they were not a member."""
    link = session.exec(
        select(AgentContact).where(AgentContact.agent_id == agent.id, AgentContact.contact_id == contact.id)
    ).first()
    if link is None:
        raise NotFoundError(f"{agent.email} is not a member of {contact.name!r}")
    session.delete(link)


def change_members(*, session: Session, contact: Contact, add: list[str], remove: list[str]) -> None:
    """Add and take out agents of a Contact, by address. Raises: NotFoundError for an unknown agent or non-member."""
    for email in add:
        add_member(session=session, contact=contact, agent=get_agent(session, email))
    for email in remove:
        remove_member(session=session, contact=contact, agent=get_agent(session, email))
    session.flush()


def save_text_module(
    *, session: Session, contact: Contact, name: str, locale: str, body: str, is_new: bool
) -> TextModule:
    """Add (is_new) or change a text module. Raises: CommandError for a clash or a missing one."""
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,60}", name):
        raise CommandError(f"text module names are 1-60 letters, digits, _ . -; got {name!r}")
    check_locale(locale)
    row = find_module(session, contact, name, locale)
    if is_new and row is not None:
        raise CommandError(f"text module {name!r} ({locale}) of {contact.name!r} already exists; use texts edit")
    if not is_new and row is None:
        raise NotFoundError(f"no text module {name!r} ({locale}) for {contact.name!r}")
    if row is None:
        assert contact.id is not None, "a stored Contact"
        row = TextModule(contact_id=contact.id, name=name, locale=locale)
    row.body = body
    session.add(row)
    return row


def find_module(session: Session, contact: Contact, name: str, locale: str) -> TextModule | None:
    """Find one text module by Contact, name and locale."""
    return session.exec(
        select(TextModule).where(
            TextModule.contact_id == contact.id, TextModule.name == name, TextModule.locale == locale
        )
    ).first()


def remove_text_module(*, session: Session, contact: Contact, name: str, locale: str) -> None:
    """Delete one text module. Raises: NotFoundError when the Contact has none by this name and locale."""
    module = find_module(session, contact, name, locale)
    if module is None:
        raise NotFoundError(f"no text module {name!r} ({locale}) for {contact.name!r}")
    session.delete(module)
