"""`mailbridge contacts add|list|show|edit|remove`: the departments (Contacts) tickets belong to.

The commands are thin: `mailbridge.contacts` checks values and writes, in one transaction per command.
They work while a `[[mailboxes]] contact` names no Contact yet (the error `run` gives then): `contacts add` fixes it.
`contacts members` (agents of a Contact) lives in this file too.
"""

from __future__ import annotations

from dataclasses import asdict

import typer

from mailbridge.cli.common import echo_json, open_app, settings
from mailbridge.reports.agents import list_members
from mailbridge.store import agents, contacts, db

app = typer.Typer(no_args_is_help=True, help="Departments (Contacts) such as Customer service or Webmaster.")

ADDRESS = typer.Option(None, "--address", help="The Contact's email address (From of its mail).")
DESCRIPTION = typer.Option(None, "--description", help="Free text shown in listings.")
SAVE = typer.Option(
    None,
    "--save-messages/--no-save-messages",
    help="Store mail as tickets (default), or only forward it to the Contact's address.",
)
ATTACHMENTS = typer.Option(
    None,
    "--accept-attachments/--no-accept-attachments",
    help="Keep attachments as files (default), or only in the raw message.",
)
GREETING = typer.Option(None, "--greeting", help="Text before every relayed agent answer (Jinja2).")
SIGNATURE = typer.Option(None, "--signature", help="Text after every relayed agent answer (Jinja2).")
LOCALE = typer.Option(None, "--locale", help="Language of its mail: en, it, cs, el, de.")
SLA_HOURS = typer.Option(None, "--sla-hours", help="Business hours until the first answer ([sla] default).")
AUTO_CLOSE = typer.Option(None, "--auto-close-days", help="Days a waiting ticket stays open ([support] default).")
ESCALATION = typer.Option(None, "--escalation-address", help="Receives SLA warnings ([support] admin_address).")
SURVEY = typer.Option(None, "--survey/--no-survey", help="Ask for a rating when a ticket closes.")
AUTO_CLOSE_STATUSES = typer.Option(
    None,
    "--auto-close-statuses",
    help="Statuses a ticket closes itself from after --auto-close-days, comma-separated (default: waiting).",
)
REMINDER_HOURS = typer.Option(
    None, "--reminder-hours", help="Remind the customer this many hours before auto-close; 0: none ([support] default)."
)
FROM_NAME = typer.Option(None, "--from-name", help="Display name on its customers' mail ([support] from_name).")
SMTP = typer.Option(None, "--smtp", help="Send its mail through this [smtp.NAME] relay ([smtp]).")
TEMPLATE_DIR = typer.Option(
    None, "--template-dir", help="Its own mail templates, searched before templates_dir and the shipped ones."
)


def _columns(
    address,
    description,
    save_messages,
    accept_attachments,
    greeting,
    signature,
    locale,
    sla_hours,
    auto_close_days,
    escalation_address,
    survey,
    brand: dict,
) -> dict:
    return contacts.check_contact_values(
        dict(
            address=address,
            description=description,
            save_messages=save_messages,
            accept_attachments=accept_attachments,
            greeting=greeting,
            signature=signature,
            locale=locale,
            sla_hours=sla_hours,
            auto_close_days=auto_close_days,
            escalation_address=escalation_address,
            survey=survey,
            **brand,
        ),
        tuple(profile.name for profile in settings().smtp.profiles),
    )


@app.command("add")
def add(
    name: str = typer.Argument(..., help='Unique name, e.g. "Webmaster".'),
    address: str = ADDRESS,
    description: str = DESCRIPTION,
    save_messages: bool | None = SAVE,
    accept_attachments: bool | None = ATTACHMENTS,
    greeting: str = GREETING,
    signature: str = SIGNATURE,
    locale: str = LOCALE,
    sla_hours: float = SLA_HOURS,
    auto_close_days: int = AUTO_CLOSE,
    escalation_address: str = ESCALATION,
    survey: bool | None = SURVEY,
    auto_close_statuses: str = AUTO_CLOSE_STATUSES,
    reminder_hours: float = REMINDER_HOURS,
    from_name: str = FROM_NAME,
    smtp: str = SMTP,
    template_dir: str = TEMPLATE_DIR,
) -> None:
    """Create a Contact.

    Example: mailbridge contacts add Webmaster --address webmaster@shop.example --locale en --sla-hours 8
    """
    columns = _columns(
        address,
        description,
        save_messages,
        accept_attachments,
        greeting,
        signature,
        locale,
        sla_hours,
        auto_close_days,
        escalation_address,
        survey,
        dict(
            auto_close_statuses=auto_close_statuses,
            reminder_hours=reminder_hours,
            from_name=from_name,
            smtp=smtp,
            template_dir=template_dir,
        ),
    )
    app_ = open_app(check_contacts=False)
    with db.transaction(app_.engine) as session:
        contact = contacts.add_contact(session=session, name=name, columns=columns, now=app_.clock.now())
    typer.echo(f"contact {contact.name!r} added ({contact.email})")


@app.command("edit")
def edit(
    name: str = typer.Argument(..., help="The Contact to change."),
    rename: str = typer.Option(None, "--rename", help="New name."),
    address: str = ADDRESS,
    description: str = DESCRIPTION,
    save_messages: bool | None = SAVE,
    accept_attachments: bool | None = ATTACHMENTS,
    greeting: str = GREETING,
    signature: str = SIGNATURE,
    locale: str = LOCALE,
    sla_hours: float = SLA_HOURS,
    auto_close_days: int = AUTO_CLOSE,
    escalation_address: str = ESCALATION,
    survey: bool | None = SURVEY,
    auto_close_statuses: str = AUTO_CLOSE_STATUSES,
    reminder_hours: float = REMINDER_HOURS,
    from_name: str = FROM_NAME,
    smtp: str = SMTP,
    template_dir: str = TEMPLATE_DIR,
) -> None:
    """Change some settings of a Contact; an empty text ("") clears an optional one.

    Example: mailbridge contacts edit Webmaster --no-save-messages --escalation-address ""
    """
    columns = _columns(
        address,
        description,
        save_messages,
        accept_attachments,
        greeting,
        signature,
        locale,
        sla_hours,
        auto_close_days,
        escalation_address,
        survey,
        dict(
            auto_close_statuses=auto_close_statuses,
            reminder_hours=reminder_hours,
            from_name=from_name,
            smtp=smtp,
            template_dir=template_dir,
        ),
    )
    app_ = open_app(check_contacts=False)
    with db.transaction(app_.engine) as session:
        contact = contacts.edit_contact(session=session, name=name, columns=columns, new_name=rename)
    typer.echo(f"contact {contact.name!r} changed: {', '.join(sorted(columns)) or 'nothing'}")


@app.command("list")
def list_(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List the Contacts with their address and ticket count.

    Example: mailbridge contacts list --json
    """
    app_ = open_app(check_contacts=False)
    with db.transaction(app_.engine) as session:
        views = contacts.view_contacts(session)
    if as_json:
        echo_json([asdict(v) for v in views])
        return
    for v in views:
        flags = [] if v.save_messages else ["forward only"]
        flags += [] if v.accept_attachments else ["no attachments"]
        typer.echo(f"{v.name}\t{v.address}\t{v.tickets} tickets{'  (' + ', '.join(flags) + ')' if flags else ''}")


@app.command("show")
def show(
    name: str = typer.Argument(..., help="The Contact's name."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show every setting of one Contact.

    Example: mailbridge contacts show "Customer service"
    """
    app_ = open_app(check_contacts=False)
    with db.transaction(app_.engine) as session:
        view = contacts.view_contact(session, name)
    if as_json:
        echo_json(asdict(view))
        return
    for key, value in asdict(view).items():
        typer.echo(f"{key}: {'(default)' if value is None else value}")


@app.command("remove")
def remove(name: str = typer.Argument(..., help="The Contact to delete.")) -> None:
    """Delete a Contact that has no tickets and that no mailbox names.

    Example: mailbridge contacts remove Webmaster
    """
    app_ = open_app(check_contacts=False)
    configured = {m.contact for m in app_.settings.mailboxes}
    with db.transaction(app_.engine) as session:
        contacts.remove_contact(session=session, name=name, configured=configured)
    typer.echo(f"contact {name!r} removed")


@app.command("members")
def members(
    name: str = typer.Argument(..., help="The Contact's name."),
    add: list[str] = typer.Option([], "--add", help="Agent address to add (repeatable)."),
    remove: list[str] = typer.Option([], "--remove", help="Agent address to take out (repeatable)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List the agents of a Contact, after adding or removing some.

    Example: mailbridge contacts members "Customer service" --add maria@shop.example
    """
    app_ = open_app(check_contacts=False)
    with db.transaction(app_.engine) as session:
        contact = contacts.find_contact(session, name)
        agents.change_members(session=session, contact=contact, add=add, remove=remove)
        rows = list_members(session=session, contact=contact)
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        typer.echo(f"{row['email']:<32} {row['name']}{'' if row['active'] else '  (inactive)'}")
    if not rows:
        typer.echo("no agents")


@app.command("reply-text")
def reply_text(
    name: str = typer.Argument(..., help="The Contact's name."),
    locale: str = typer.Option(..., "--locale", help="The customers' language the texts are for: en, it, cs, el, de."),
    greeting: str = typer.Option(
        None, "--greeting", help='Text before a relayed agent answer in this language (Jinja2); "" removes it.'
    ),
    signature: str = typer.Option(
        None, "--signature", help='Text after a relayed agent answer in this language (Jinja2); "" removes it.'
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Set a Contact's greeting and signature for customers of one language, then show its texts per language.

    A language without its own text gets the Contact's --greeting / --signature (`contacts edit`).
    Example: mailbridge contacts reply-text "Customer service" --locale cs --greeting "Dobrý den," --signature "S pozdravem"
    """
    app_ = open_app(check_contacts=False)
    with db.transaction(app_.engine) as session:
        contacts.set_reply_texts(
            session=session, name=name, locale=locale, texts={"greeting": greeting, "signature": signature}
        )
        view = contacts.view_contact(session, name)
    texts = {"default": {"greeting": view.greeting or "", "signature": view.signature or ""}, **view.reply_texts}
    if as_json:
        echo_json(texts)
        return
    for language, parts in texts.items():
        for part in contacts.REPLY_TEXT_PARTS:
            if parts.get(part):
                typer.echo(f"{language}\t{part}\t{parts[part]!r}")
