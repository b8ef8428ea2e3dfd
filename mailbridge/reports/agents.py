"""Read side of `mailbridge agents list`, `contacts members` and `texts list|show`: agents, the members of a
Contact and the Contacts' text modules, as plain values the CLI prints.

Input: the caller's session; output: dicts and text. Writes nothing.
"""

from __future__ import annotations

from sqlmodel import Session, col, select

from mailbridge.base.errors import NotFoundError
from mailbridge.service import agent_mail
from mailbridge.store import agents, contacts
from mailbridge.store.models import Agent, Contact, TextModule


def list_agents(*, session: Session) -> list[dict]:
    """Return every agent with the Contacts they belong to, by address."""
    return [
        {
            "email": a.email,
            "name": a.name,
            "active": a.active,
            "locale": a.locale or "en",
            "contacts": agents.agent_contacts(session, a),
        }
        for a in session.exec(select(Agent).order_by(Agent.email))
    ]


def list_members(*, session: Session, contact: Contact) -> list[dict]:
    """Return the agents of a Contact, by name."""
    return [
        {"email": a.email, "name": a.name, "active": a.active} for a in agent_mail.contact_agents(session, contact.id)
    ]


def list_text_modules(*, session: Session, contact_name: str | None = None) -> list[dict]:
    """Return the text modules, of one Contact when named, by Contact, name and locale."""
    query = select(TextModule, Contact.name).join(Contact, col(Contact.id) == col(TextModule.contact_id))
    if contact_name:
        query = query.where(Contact.name == contact_name)
    return [
        {"contact": c, "name": m.name, "locale": m.locale, "chars": len(m.body)}
        for m, c in session.exec(query.order_by(Contact.name, TextModule.name, TextModule.locale))
    ]


def read_text_module(*, session: Session, contact_name: str, name: str, locale: str) -> str:
    """Return one text module's text. Raises: NotFoundError for an unknown Contact or text module."""
    module = agents.find_module(session, contacts.find_contact(session, contact_name), name, locale)
    if module is None:
        raise NotFoundError(f"no text module {name!r} ({locale}) for {contact_name!r}")
    return module.body
