"""`mailbridge tickets list|show`: read the store."""

from __future__ import annotations

import typer
from sqlmodel import Session, select

from mailbridge.cli.common import echo_json, open_app
from mailbridge.errors import NotFoundError
from mailbridge.models import Attachment, Contact, Customer, Message, Ticket, TicketEvent

app = typer.Typer(no_args_is_help=True, help="Tickets.")


def ticket_summary(session: Session, ticket: Ticket) -> dict:
    customer = session.get(Customer, ticket.customer_id)
    contact = session.get(Contact, ticket.contact_id)
    count = len(session.exec(select(Message.id).where(Message.ticket_id == ticket.id)).all())
    return {"number": ticket.number, "status": ticket.status, "subject": ticket.subject,
            "customer": customer.email, "customer_name": customer.name, "contact": contact.name,
            "messages": count, "created_at": ticket.created_at, "updated_at": ticket.updated_at}


@app.command("list")
def list_tickets(
    status: str = typer.Option(None, help="Only tickets with this status (new, open, waiting, closed ...)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List tickets, newest first.

    Example: mailbridge tickets list --status new --json
    """
    with Session(open_app().engine) as session:
        query = select(Ticket).order_by(Ticket.created_at.desc(), Ticket.id.desc())
        if status:
            query = query.where(Ticket.status == status)
        rows = [ticket_summary(session, t) for t in session.exec(query)]
    if as_json:
        echo_json(rows)
        return
    if not rows:
        typer.echo("no tickets")
    for row in rows:
        typer.echo(f"{row['number']}  {row['status']:<8} {row['contact']:<18} {row['customer']:<30} "
                   f"{row['messages']:>3} msg  {row['subject']}")


def ticket_detail(session: Session, number: str) -> dict:
    ticket = session.exec(select(Ticket).where(Ticket.number == number)).first()
    if ticket is None:
        raise NotFoundError(f"no ticket with number {number}")
    detail = ticket_summary(session, ticket)
    detail["messages"] = []
    for message in session.exec(select(Message).where(Message.ticket_id == ticket.id).order_by(Message.id)):
        attachments = session.exec(select(Attachment).where(Attachment.message_id == message.id)).all()
        detail["messages"].append({
            "id": message.id, "direction": message.direction, "kind": message.kind,
            "message_id": message.message_id, "in_reply_to": message.in_reply_to,
            "from": message.from_addr, "from_name": message.from_name, "to": message.to_addrs,
            "cc": message.cc_addrs, "subject": message.subject, "date": message.sent_at,
            "threaded_by": message.match_reason, "malformed": message.is_malformed,
            "defects": message.defects.splitlines(), "raw_bytes": len(message.raw),
            "text": message.text_body,
            "attachments": [{"filename": a.filename, "content_type": a.content_type, "size": a.size,
                             "sha256": a.sha256} for a in attachments],
        })
    detail["events"] = [
        {"at": e.at, "actor": e.actor, "kind": e.kind, "old_status": e.old_status,
         "new_status": e.new_status, "reason": e.reason}
        for e in session.exec(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.id))
    ]
    return detail


@app.command("show")
def show(number: str, as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Show one ticket with its messages, attachments and history.

    Example: mailbridge tickets show 48213907751
    """
    with Session(open_app().engine) as session:
        detail = ticket_detail(session, number.strip().lstrip("#"))
    if as_json:
        echo_json(detail)
        return
    typer.echo(f"Ticket [#{detail['number']}] {detail['subject']}")
    typer.echo(f"  status {detail['status']}, contact {detail['contact']}, customer {detail['customer_name']} <{detail['customer']}>")
    for m in detail["messages"]:
        flag = "  MALFORMED" if m["malformed"] else ""
        typer.echo(f"\n  #{m['id']} {m['direction']} {m['kind']} from {m['from']} ({m['date']}), threaded by {m['threaded_by']}{flag}")
        typer.echo(f"  Subject: {m['subject']}")
        for a in m["attachments"]:
            typer.echo(f"  Attachment: {a['filename']} ({a['content_type']}, {a['size']} bytes)")
        for line in m["text"].strip().splitlines()[:20]:
            typer.echo(f"  | {line}")
    typer.echo("\n  History:")
    for e in detail["events"]:
        typer.echo(f"  {e['at']} {e['actor']} {e['kind']} {e['reason']}")
