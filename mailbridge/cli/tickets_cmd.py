"""`mailbridge tickets list|search|show|status|categories`: read the store, and set a status as an agent."""

from __future__ import annotations

import typer
from sqlmodel import Session, select

from sqlalchemy import func

from mailbridge.decisions.kinds import TicketStatus
from mailbridge.service import agent_desk
from mailbridge.store import agents
from mailbridge.cli.common import echo_json, open_app, option_instant, read_text_option
from mailbridge.base.errors import CommandError, NotFoundError
from mailbridge.store.models import Attachment, Contact, Customer, Message, Rating, Ticket, TicketEvent
from mailbridge.runtime import desk
from mailbridge.runtime.desk import change_status
from mailbridge.reports.search import TicketFilter, search_tickets
from mailbridge.reports.search import list_tickets as list_ticket_rows

app = typer.Typer(no_args_is_help=True, help="Tickets.")


def ticket_summary(session: Session, ticket: Ticket) -> dict:
    customer = session.get(Customer, ticket.customer_id)
    contact = session.get(Contact, ticket.contact_id)
    count = len(session.exec(select(Message.id).where(Message.ticket_id == ticket.id)).all())
    linked = session.get(Ticket, ticket.linked_ticket_id) if ticket.linked_ticket_id else None
    return {"number": ticket.number, "status": ticket.status, "subject": ticket.subject,
            "customer": customer.email, "customer_name": customer.name, "contact": contact.name,
            "category": ticket.category, "linked_ticket": linked.number if linked else None,
            "assigned_agent": ticket.assigned_agent, "messages": count, "created_at": ticket.created_at,
            "updated_at": ticket.updated_at, "closed_at": ticket.closed_at,
            "first_response_at": ticket.first_response_at}


def _print_rows(rows: list[dict]) -> None:
    if not rows:
        typer.echo("no tickets")
    for row in rows:
        category = f" [{row['category']}]" if row.get("category") else ""
        why = f"  ({row['matched_by']})" if row.get("matched_by") else ""
        typer.echo(f"{row['number']}  {row['status']:<8} {row['contact']:<18} {row['customer']:<30} "
                   f"{row['messages']:>3} msg  {row['subject']}{category}{why}")


@app.command("list")
def list_tickets(
    status: str = typer.Option(None, help="Only this status: new, open, waiting, pending1, pending2, closed, spam."),
    contact: str = typer.Option(None, help="Only this Contact (department), by name."),
    customer: str = typer.Option(None, help="Only this customer address."),
    category: str = typer.Option(None, help='Only this category; "Orders" also lists "Orders > Returns".'),
    agent: str = typer.Option(None, help="Only tickets assigned to this agent address."),
    since: str = typer.Option(None, help="Created at or after this date/time (ISO 8601)."),
    until: str = typer.Option(None, help="Created before this date/time (ISO 8601)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List tickets, newest first, filtered.

    Example: mailbridge tickets list --status waiting --category "Orders" --since 2026-11-01 --json
    """
    filters = TicketFilter(status=status, contact=contact, customer=customer, category=category, agent=agent,
                           since=option_instant(since, "--since"), until=option_instant(until, "--until"))
    with Session(open_app().engine) as session:
        rows = [ticket_summary(session, t) for t in list_ticket_rows(session, filters)]
    if as_json:
        echo_json(rows)
        return
    _print_rows(rows)


@app.command("search")
def search(query: str, as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Find tickets by ticket number, order number, customer address or name, or words in subject and body.

    Example: mailbridge tickets search "parcel damaged" --json
    """
    with Session(open_app().engine) as session:
        rows = [{**ticket_summary(session, t), "matched_by": why} for t, why in search_tickets(session, query)]
    if as_json:
        echo_json(rows)
        return
    _print_rows(rows)


@app.command("status")
def set_status(
    number: str,
    status: TicketStatus,
    actor: str = typer.Option("agent:cli", help='Who makes the change, e.g. "agent:maria@shop.example".'),
    reason: str = typer.Option("", help="Why, for the ticket history."),
) -> None:
    """Set a ticket's status as an agent; the first move out of `new` sends "we started handling your request".

    Example: mailbridge tickets status 48213907751 open --actor agent:maria@shop.example
    """
    ticket = change_status(open_app(), number.strip().lstrip("#"), status, actor, reason)
    typer.echo(f"{ticket.number} {ticket.status}")


@app.command("categories")
def categories(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List the categories in use with their ticket counts.

    Example: mailbridge tickets categories
    """
    with Session(open_app().engine) as session:
        rows = [{"category": c, "tickets": n} for c, n in session.exec(
            select(Ticket.category, func.count()).where(Ticket.category.is_not(None))
            .group_by(Ticket.category).order_by(Ticket.category))]
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        typer.echo(f"{row['tickets']:>6}  {row['category']}")


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
            "threaded_by": message.match_reason, "order_number": message.order_number, "malformed": message.is_malformed,
            "defects": message.defects.splitlines(), "raw_bytes": len(message.raw),
            "text": message.text_body, "stripped_text": message.stripped_text,
            "attachments": [{"filename": a.filename, "content_type": a.content_type, "size": a.size,
                             "sha256": a.sha256} for a in attachments],
        })
    detail["events"] = [
        {"at": e.at, "actor": e.actor, "kind": e.kind, "old_status": e.old_status,
         "new_status": e.new_status, "reason": e.reason}
        for e in session.exec(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.id))
    ]
    rating = session.exec(select(Rating).where(Rating.ticket_id == ticket.id, Rating.replaced_at.is_(None))
                          .order_by(Rating.id.desc())).first()
    detail["rating"] = ({"score": rating.score, "comment": rating.comment, "source": rating.source,
                         "at": rating.created_at} if rating else None)
    return detail


@app.command("show")
def show(number: str, as_json: bool = typer.Option(False, "--json", help="Print JSON."),
         full: bool = typer.Option(False, "--full", help="Print each message's full text, quotes included.")) -> None:
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
    if detail["rating"]:
        r = detail["rating"]
        typer.echo(f"  rating {r['score']}/5 ({r['source']}, {r['at']})" + (f": {r['comment']}" if r["comment"] else ""))
    if detail["category"] or detail["linked_ticket"]:
        typer.echo(f"  category {detail['category'] or '-'}, follows ticket {detail['linked_ticket'] or '-'}")
    for m in detail["messages"]:
        flag = "  MALFORMED" if m["malformed"] else ""
        typer.echo(f"\n  #{m['id']} {m['direction']} {m['kind']} from {m['from']} ({m['date']}), threaded by {m['threaded_by']}{flag}")
        typer.echo(f"  Subject: {m['subject']}")
        for a in m["attachments"]:
            typer.echo(f"  Attachment: {a['filename']} ({a['content_type']}, {a['size']} bytes)")
        text = m["text"] if full or m["stripped_text"] is None else m["stripped_text"]
        for line in text.strip().splitlines()[:None if full else 20]:
            typer.echo(f"  | {line}")
    typer.echo("\n  History:")
    for e in detail["events"]:
        typer.echo(f"  {e['at']} {e['actor']} {e['kind']} {e['reason']}")


@app.command("assign")
def assign(number: str, agent: str,
           actor: str = typer.Option("agent:cli", help='Who makes the change, e.g. "agent:maria@shop.example".')) -> None:
    """Give a ticket to an agent: they get the whole thread by mail, the previous agent a short notice.

    Example: mailbridge tickets assign 48213907751 luca@shop.example
    """
    ticket = desk.assign(open_app(), number=number, agent_email=agent, actor=actor)
    typer.echo(f"{ticket.number} assigned to {ticket.assigned_agent}")


def _act(number: str, agent: str, file: str, is_note: bool) -> None:
    text = read_text_option("--file", file)
    problems = desk.act_as_agent(open_app(), number=number, agent_email=agent, text=text, is_note=is_note)
    if problems:
        raise CommandError("nothing was sent: " + "; ".join(problems))


@app.command("reply")
def reply(number: str, agent: str = typer.Option(..., "--from", help="The agent answering, by address."),
          file: str = typer.Option(..., "--file", help="File with the answer (commands first, as in a mail); - for stdin.")) -> None:
    """Answer the customer as an agent, with the same effects as a reply from the agent's mail client.

    Example: mailbridge tickets reply 48213907751 --from maria@shop.example --file answer.txt
    """
    _act(number, agent, file, is_note=False)
    typer.echo(f"{number} answered")


@app.command("note")
def note(number: str, agent: str = typer.Option(..., "--from", help="The agent writing, by address."),
         file: str = typer.Option(..., "--file", help="File with the note; - for stdin.")) -> None:
    """Add an internal note: shown to agents, never sent to the customer.

    Example: mailbridge tickets note 48213907751 --from maria@shop.example --file note.txt
    """
    _act(number, agent, file, is_note=True)
    typer.echo(f"{number} note added")


@app.command("next")
def next_message(agent: str = typer.Option(None, "--agent", help="Only this agent's tickets and their Contacts' free ones."),
                 as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Show the oldest customer message still waiting for an answer.

    Example: mailbridge tickets next --agent maria@shop.example
    """
    with Session(open_app().engine) as session:
        found = agent_desk.next_unanswered(session, agents.get_agent(session, agent) if agent else None)
        row = None if found is None else {**ticket_summary(session, found[0]), "message_id": found[1].id,
                                          "from": found[1].from_addr, "stored_at": found[1].stored_at,
                                          "text": found[1].stripped_text or found[1].text_body}
    if as_json:
        echo_json(row)
        return
    if row is None:
        typer.echo("nothing waiting")
        return
    typer.echo(f"[#{row['number']}] {row['subject']}  ({row['status']}, {row['customer']}, {row['stored_at']})")
    for line in row["text"].strip().splitlines()[:40]:
        typer.echo(f"  | {line}")
