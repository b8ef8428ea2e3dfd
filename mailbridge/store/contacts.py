"""Contacts (departments such as "Customer service"): the queries and writes behind `mailbridge contacts`.

Takes a session from the caller and never commits; `check_contact_values` is pure and raises
CommandError naming the option, so the CLI prints one line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import func
from sqlmodel import Session, col, select

from mailbridge.base.errors import CommandError, NotFoundError
from mailbridge.decisions.inbound.language import SUPPORTED
from mailbridge.decisions.lifecycle import auto_close_statuses
from mailbridge.store.models import AgentContact, Contact, ContactReplyText, Ticket

# Option name -> Contact column, in the order `contacts show` prints them.
EDITABLE = {
    "address": "email",
    "description": "description",
    "save_messages": "save_messages",
    "accept_attachments": "accept_attachments",
    "greeting": "reply_greeting",
    "signature": "reply_signature",
    "locale": "locale",
    "sla_hours": "first_response_hours",
    "auto_close_days": "auto_close_days",
    "escalation_address": "escalation_address",
    "survey": "send_survey",
    "auto_close_statuses": "auto_close_statuses",
    "reminder_hours": "auto_close_reminder_hours",
    "from_name": "from_name",
    "smtp": "smtp",
    "template_dir": "template_dir",
}
CLEARABLE = {
    "description",
    "greeting",
    "signature",
    "locale",
    "sla_hours",
    "auto_close_days",
    "escalation_address",
    "auto_close_statuses",
    "reminder_hours",
    "from_name",
    "smtp",
    "template_dir",
}
# The texts around a relayed agent answer that can be set per locale (ContactReplyText.part).
REPLY_TEXT_PARTS = ("greeting", "signature")


@dataclass(frozen=True)
class ContactView:
    """One Contact as `contacts list/show` print it."""

    name: str
    address: str
    description: str
    save_messages: bool
    accept_attachments: bool
    send_survey: bool
    locale: str | None
    sla_hours: float | None
    auto_close_days: int | None
    escalation_address: str | None
    greeting: str | None
    signature: str | None
    tickets: int
    # Per locale: {"cs": {"greeting": "Dobrý den ...", "signature": "S pozdravem ..."}}; the two above are the default.
    reply_texts: dict[str, dict[str, str]] = field(default_factory=dict)
    auto_close_statuses: str | None = None  # None: waiting
    reminder_hours: float | None = None  # None: [support] auto_close_reminder_hours
    from_name: str | None = None  # None: [support] from_name
    smtp: str | None = None  # None: [smtp]
    template_dir: str | None = None  # None: [templates_dir], then the shipped templates


def _is_address(value: str) -> bool:
    local, at, domain = value.partition("@")
    return bool(at and local and "." in domain and not any(c in value for c in " \r\n<>,"))


def check_contact_values(values: dict[str, Any], smtp_profiles: tuple[str, ...] = ()) -> dict[str, Any]:
    """Check option values (None: not given, "" clears); return them as column values.

    `smtp_profiles`: the `[smtp.NAME]` names of the configuration, which --smtp must name.
    Raises: CommandError naming the option and what was expected.
    """
    columns: dict[str, Any] = {}
    for option, value in values.items():
        if value is None:
            continue
        if value == "" and option in CLEARABLE:
            columns[EDITABLE[option]] = "" if option == "description" else None
            continue
        if option in BRAND_CHECKS:
            columns[EDITABLE[option]] = BRAND_CHECKS[option](value, smtp_profiles)
            continue
        if option in ("address", "escalation_address") and not _is_address(value):
            raise CommandError(f"--{option.replace('_', '-')}: expected an email address, got {value!r}")
        if option == "locale" and value not in SUPPORTED:
            raise CommandError(f"--locale: expected one of {', '.join(SUPPORTED)}, got {value!r}")
        if option == "sla_hours" and not 0 < float(value) <= 10_000:
            raise CommandError(f"--sla-hours: expected a number of hours above 0, got {value!r}")
        if option == "auto_close_days" and not 1 <= int(value) <= 3650:
            raise CommandError(f"--auto-close-days: expected 1-3650 days, got {value!r}")
        columns[EDITABLE[option]] = value.lower() if option in ("address", "escalation_address") else value
    return columns


def _statuses(value: str, _profiles: tuple[str, ...]) -> str:
    return ",".join(sorted(auto_close_statuses(value)))


def _reminder_hours(value: float, _profiles: tuple[str, ...]) -> float:
    if not 0 <= float(value) <= 87_600:
        raise CommandError(f"--reminder-hours: expected hours from 0 (no reminder) up, got {value!r}")
    return float(value)


def _from_name(value: str, _profiles: tuple[str, ...]) -> str:
    if any(c in value for c in "\r\n") or len(value) > 100:
        raise CommandError(f"--from-name: expected one line of at most 100 characters, got {value!r}")
    return value.strip()


def _smtp(value: str, profiles: tuple[str, ...]) -> str:
    if value not in profiles:
        known = ", ".join(profiles) or "none configured"
        raise CommandError(f"--smtp: expected the NAME of an [smtp.NAME] table ({known}), got {value!r}")
    return value


def _template_dir(value: str, _profiles: tuple[str, ...]) -> str:
    path = Path(value).expanduser().resolve()
    if not path.is_dir():
        raise CommandError(f"--template-dir: expected an existing directory, got {value!r}")
    return str(path)


# The brand and auto-close options, each checked (and normalised) by its own function.
BRAND_CHECKS: dict[str, Callable[[Any, tuple[str, ...]], Any]] = {
    "auto_close_statuses": _statuses,
    "reminder_hours": _reminder_hours,
    "from_name": _from_name,
    "smtp": _smtp,
    "template_dir": _template_dir,
}


def brand_problems(session: Session, profiles: tuple[str, ...]) -> list[str]:
    """One line per Contact naming an `[smtp.NAME]` not in `profiles`, or a template directory that is not there."""
    lines = []
    for name, smtp, template_dir in session.exec(select(Contact.name, Contact.smtp, Contact.template_dir)):
        if smtp and smtp not in profiles:
            known = ", ".join(profiles) or "none configured"
            lines.append(f"contact {name!r}: smtp: expected the NAME of an [smtp.NAME] table ({known}), got {smtp!r}")
        if template_dir and not Path(template_dir).is_dir():
            lines.append(f"contact {name!r}: template_dir: expected an existing directory, got {template_dir!r}")
    return lines


def contact_names(session: Session) -> set[str]:
    """The names of the Contacts the database holds."""
    return set(session.exec(select(Contact.name)))


def find_contact(session: Session, name: str) -> Contact:
    """Return the Contact by name. Raises: NotFoundError."""
    contact = session.exec(select(Contact).where(Contact.name == name)).first()
    if contact is None:
        raise NotFoundError(f"no contact named {name!r} (see `mailbridge contacts list`)")
    return contact


def _refuse_taken_address(session: Session, address: str | None, own_id: int | None) -> None:
    if address is None:
        return
    other = session.exec(select(Contact).where(Contact.email == address)).first()
    if other is not None and other.id != own_id:
        raise CommandError(f"--address: {address} already belongs to contact {other.name!r}")


def add_contact(*, session: Session, name: str, columns: dict[str, Any], now) -> Contact:
    """Create a Contact. Raises: CommandError when the name or address is taken."""
    if not name.strip():
        raise CommandError("NAME: expected a non-empty name")
    if session.exec(select(Contact).where(Contact.name == name)).first() is not None:
        raise CommandError(f"a contact named {name!r} exists already (use `mailbridge contacts edit`)")
    if "email" not in columns:
        raise CommandError("--address: required for a new contact")
    _refuse_taken_address(session, columns["email"], None)
    contact = Contact(name=name.strip(), created_at=now, **columns)
    session.add(contact)
    session.flush()
    return contact


def edit_contact(*, session: Session, name: str, columns: dict[str, Any], new_name: str | None = None) -> Contact:
    """Change the given columns of a Contact. Raises: NotFoundError, CommandError."""
    contact = find_contact(session, name)
    _refuse_taken_address(session, columns.get("email"), contact.id)
    if new_name and new_name != name:
        if session.exec(select(Contact).where(Contact.name == new_name)).first() is not None:
            raise CommandError(f"--rename: a contact named {new_name!r} exists already")
        contact.name = new_name
    for column, value in columns.items():
        setattr(contact, column, value)
    session.add(contact)
    return contact


def remove_contact(*, session: Session, name: str, configured: set[str]) -> None:
    """Delete a Contact that no mailbox names and no ticket uses. Raises: NotFoundError, CommandError."""
    contact = find_contact(session, name)
    if name in configured:
        raise CommandError(f"contact {name!r} is named by a [[mailboxes]] table; change `contact` there first")
    count = session.exec(select(func.count()).select_from(Ticket).where(Ticket.contact_id == contact.id)).one()
    if count:
        raise CommandError(f"contact {name!r} has {count} tickets; it cannot be removed")
    for link in session.exec(select(AgentContact).where(AgentContact.contact_id == contact.id)):
        session.delete(link)
    for text in session.exec(select(ContactReplyText).where(ContactReplyText.contact_id == contact.id)):
        session.delete(text)
    session.delete(contact)


def set_reply_texts(*, session: Session, name: str, locale: str, texts: dict[str, str | None]) -> Contact:
    """Set a Contact's greeting and/or signature for one locale ("" removes it: the default text applies again).

    Raises: NotFoundError for an unknown Contact, CommandError for an unknown locale.
    """
    if locale not in SUPPORTED:
        raise CommandError(f"--locale: expected one of {', '.join(SUPPORTED)}, got {locale!r}")
    contact = find_contact(session, name)
    assert contact.id is not None, "a Contact found by name is stored"
    for part, body in texts.items():
        if body is None:
            continue
        row = session.exec(
            select(ContactReplyText).where(
                ContactReplyText.contact_id == contact.id,
                ContactReplyText.part == part,
                ContactReplyText.locale == locale,
            )
        ).first()
        if not body.strip():
            if row is not None:
                session.delete(row)
        elif row is None:
            session.add(ContactReplyText(contact_id=contact.id, part=part, locale=locale, body=body))
        else:
            row.body = body
    session.flush()
    return contact


def reply_texts(session: Session, contact_id: int | None) -> dict[str, dict[str, str]]:
    """Return a Contact's per-locale greetings and signatures: {locale: {part: body}}."""
    rows = session.exec(
        select(ContactReplyText)
        .where(ContactReplyText.contact_id == contact_id)
        .order_by(ContactReplyText.locale, ContactReplyText.part)
    )
    found: dict[str, dict[str, str]] = {}
    for row in rows:
        found.setdefault(row.locale, {})[row.part] = row.body
    return found


def reply_text(session: Session, contact: Contact, part: str, locale: str) -> str | None:
    """The Contact's greeting or signature (`part`) for a locale, else its default text (None: nothing)."""
    body = session.exec(
        select(ContactReplyText.body).where(
            ContactReplyText.contact_id == contact.id,
            ContactReplyText.part == part,
            ContactReplyText.locale == locale,
        )
    ).first()
    if body:
        return body
    return contact.reply_greeting if part == "greeting" else contact.reply_signature


class ContactAddress(NamedTuple):
    name: str
    address: str
    save_messages: bool  # False: the address is only where its mail is forwarded, never a From of ours
    id: int = 0


def contact_addresses(session: Session) -> list[ContactAddress]:
    """Return every Contact's name and address, by name: one small query, run before every poll (our addresses)."""
    rows = session.exec(select(Contact.name, Contact.email, Contact.save_messages, Contact.id).order_by(Contact.name))
    return [ContactAddress(name, email, save, id_ or 0) for name, email, save, id_ in rows]


def view_contacts(session: Session) -> list[ContactView]:
    """Return every Contact with its ticket count, by name."""
    counts: dict[int | None, int] = dict(
        session.exec(select(Ticket.contact_id, func.count()).group_by(col(Ticket.contact_id))).all()
    )
    return [
        _view(c, counts.get(c.id, 0), reply_texts(session, c.id))
        for c in session.exec(select(Contact).order_by(Contact.name))
    ]


def view_contact(session: Session, name: str) -> ContactView:
    """Return one Contact by name. Raises: NotFoundError."""
    contact = find_contact(session, name)
    count = session.exec(select(func.count()).select_from(Ticket).where(Ticket.contact_id == contact.id)).one()
    return _view(contact, count, reply_texts(session, contact.id))


def _view(c: Contact, tickets: int, texts: dict[str, dict[str, str]]) -> ContactView:
    return ContactView(
        c.name,
        c.email,
        c.description or "",
        c.save_messages,
        c.accept_attachments,
        c.send_survey,
        c.locale,
        c.first_response_hours,
        c.auto_close_days,
        c.escalation_address,
        c.reply_greeting,
        c.reply_signature,
        tickets,
        texts,
        auto_close_statuses=c.auto_close_statuses,
        reminder_hours=c.auto_close_reminder_hours,
        from_name=c.from_name,
        smtp=c.smtp,
        template_dir=c.template_dir,
    )
