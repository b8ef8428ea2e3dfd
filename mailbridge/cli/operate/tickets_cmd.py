"""`mailbridge tickets list|search|show|next|status|categories`: read the store, and act on tickets as an agent.

Times are shown in `[sla] timezone` with their UTC offset (`reports.render.format_time`), in JSON as ISO 8601.
"""

from __future__ import annotations

from datetime import tzinfo

import typer

from mailbridge.base.errors import CommandError
from mailbridge.cli.common import echo_json, open_app, open_read, option_instant, read_text_option
from mailbridge.decisions.kinds import TicketStatus
from mailbridge.decisions.merge import messages_moved
from mailbridge.reports.render import display_zone, format_time, visible_values, with_local_times
from mailbridge.reports.search import TicketFilter
from mailbridge.reports.shop import named_order_number, shop_history, shop_lines
from mailbridge.reports.tickets import (
    count_categories,
    list_ticket_summaries,
    next_waiting,
    search_ticket_summaries,
    ticket_detail,
)

app = typer.Typer(no_args_is_help=True, help="Tickets.")


def _assignee(row: dict) -> str:
    """The assigned agent as `Name <address>` (the address alone when they have no name); "unassigned"."""
    if not row["assigned_agent"]:
        return "unassigned"
    return (
        f"{row['assigned_agent_name']} <{row['assigned_agent']}>"
        if row["assigned_agent_name"]
        else row["assigned_agent"]
    )


def _print_rows(rows: list[dict], zone: tzinfo) -> None:
    if not rows:
        typer.echo("no tickets")
    for row in visible_values(rows):
        category = f" [{row['category']}]" if row.get("category") else ""
        category += " (pre-sale)" if row.get("presale") else ""
        why = f"  ({row['matched_by']})" if row.get("matched_by") else ""
        typer.echo(
            f"{row['number']}  {row['status']:<8} {format_time(row['created_at'], zone)}  {row['contact']:<18} "
            f"{row['customer']:<30} {_assignee(row):<30} {row['messages']:>3} msg  {row['subject']}{category}{why}"
        )


def _echo_json(data: object, zone: tzinfo) -> None:
    echo_json(with_local_times(data, zone))


@app.command("list")
def list_tickets(
    status: str = typer.Option(
        None, help="Only this status: new, open, waiting, pending1, pending2, closed, spam, merged."
    ),
    contact: str = typer.Option(None, help="Only this Contact (department), by name."),
    customer: str = typer.Option(None, help="Only this customer address."),
    category: str = typer.Option(None, help='Only this category; "Orders" also lists "Orders > Returns".'),
    agent: str = typer.Option(None, help="Only tickets assigned to this agent address."),
    since: str = typer.Option(None, help="Created at or after this date/time (ISO 8601)."),
    until: str = typer.Option(None, help="Created before this date/time (ISO 8601)."),
    limit: int = typer.Option(50, "--limit", min=0, help="At most this many tickets, the newest; 0: all of them."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List tickets, newest first, filtered.

    Example: mailbridge tickets list --status waiting --category "Orders" --since 2026-11-01 --json
    """
    filters = TicketFilter(
        status=status,
        contact=contact,
        customer=customer,
        category=category,
        agent=agent,
        since=option_instant(since, "--since"),
        until=option_instant(until, "--until"),
    )
    app_ = open_read()
    rows, total = list_ticket_summaries(reader=app_.reader, filters=filters, limit=limit or None)
    if as_json:
        _echo_json(rows, display_zone(app_.settings))
        return
    _print_rows(rows, display_zone(app_.settings))
    if len(rows) < total:
        typer.echo(f"(the newest {len(rows)} of {total} tickets; --limit N shows more, --limit 0 all)", err=True)


@app.command("search")
def search(query: str, as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Find tickets by ticket number, order number, customer address or name, or words in subject and body.

    Example: mailbridge tickets search "parcel damaged" --json
    """
    app_ = open_read()
    rows = search_ticket_summaries(reader=app_.reader, query=query)
    if as_json:
        _echo_json(rows, display_zone(app_.settings))
        return
    _print_rows(rows, display_zone(app_.settings))


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
    from mailbridge.runtime.desk import change_status  # the runtime (mail, templates) only for commands that act

    ticket = change_status(open_app(), number.strip().lstrip("#"), status, actor, reason)
    typer.echo(f"{ticket.number} {ticket.status}")


@app.command("categories")
def categories(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List the categories in use with their ticket counts.

    Example: mailbridge tickets categories
    """
    rows = count_categories(reader=open_read().reader)
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        typer.echo(f"{row['tickets']:>6}  {row['category']}")


@app.command("show")
def show(
    number: str,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    full: bool = typer.Option(False, "--full", help="Print each message's full text, quotes included."),
) -> None:
    """Show one ticket with its assignee, people in Cc, messages, attachments and history.

    Example: mailbridge tickets show 48213907751
    """
    app_ = open_read()
    zone = display_zone(app_.settings)
    detail = ticket_detail(reader=app_.reader, number=number.strip().lstrip("#"))
    named = named_order_number(detail["messages"])
    shop = shop_history(app_.reader, detail["customer"], app_.settings.shop, named)
    if shop is not None:
        detail["shop"] = shop
    if as_json:
        _echo_json(detail, zone)
        return
    # Mail text is printed with its control characters made visible: a subject cannot retitle or clear the terminal.
    detail = visible_values(detail)
    typer.echo(f"Ticket [#{detail['number']}] {detail['subject']}")
    typer.echo(
        f"  status {detail['status']}, contact {detail['contact']}, customer {detail['customer_name']} <{detail['customer']}>"
    )
    typer.echo(f"  assigned to {_assignee(detail)}" + (", pre-sale" if detail["presale"] else ""))
    cc = [p["email"] for p in detail["participants"] if not p["removed"]]
    if cc:
        typer.echo(f"  cc {', '.join(cc)}")
    typer.echo(
        f"  created {format_time(detail['created_at'], zone)}, updated {format_time(detail['updated_at'], zone)}"
        + (f", closed {format_time(detail['closed_at'], zone)}" if detail["closed_at"] else "")
    )
    if detail["rating"]:
        r = detail["rating"]
        typer.echo(
            f"  rating {r['score']}/5 ({r['source']}, {format_time(r['at'], zone)})"
            + (f": {r['comment']}" if r["comment"] else "")
        )
    if detail["merged_into"]:
        typer.echo(f"  merged into ticket {detail['merged_into']}: its messages and later mail are there")
    if detail["merged"]:
        typer.echo(f"  merged into this one: {', '.join(detail['merged'])}")
    if detail["category"] or detail["linked_ticket"]:
        typer.echo(f"  category {detail['category'] or '-'}, follows ticket {detail['linked_ticket'] or '-'}")
    if shop is not None:
        for line in shop_lines(detail["shop"], format_time(shop["looked_up_at"], zone) or "-"):
            typer.echo(line)
    for m in detail["messages"]:
        flag = "  MALFORMED" if m["malformed"] else ""
        typer.echo(
            f"\n  #{m['id']} {m['direction']} {m['kind']} from {m['from']} ({format_time(m['date'] or m['stored_at'], zone)}), "
            f"threaded by {m['threaded_by']}{flag}"
        )
        typer.echo(f"  Subject: {m['subject']}")
        for a in m["attachments"]:
            typer.echo(f"  Attachment: {a['filename']} ({a['content_type']}, {a['size']} bytes)")
        text = m["text"] if full or m["stripped_text"] is None else m["stripped_text"]
        for line in text.strip().splitlines()[: None if full else 20]:
            typer.echo(f"  | {line}")
    typer.echo("\n  History:")
    for e in detail["events"]:
        of = f" [#{e['ticket']}]" if e["ticket"] != detail["number"] else ""
        typer.echo(f"  {format_time(e['at'], zone)}{of} {e['actor']} {e['kind']} {e['reason']}")


@app.command("assign")
def assign(
    number: str,
    agent: str,
    actor: str = typer.Option("agent:cli", help='Who makes the change, e.g. "agent:maria@shop.example".'),
) -> None:
    """Give a ticket to an agent: they get the whole thread by mail, the previous agent a short notice.

    Example: mailbridge tickets assign 48213907751 luca@shop.example
    """
    from mailbridge.runtime import desk

    ticket = desk.assign(open_app(), number=number, agent_email=agent, actor=actor)
    typer.echo(f"{ticket.number} assigned to {ticket.assigned_agent}")


@app.command("merge")
def merge(
    target: str,
    source: str,
    actor: str = typer.Option("agent:cli", help='Who merges, e.g. "agent:maria@shop.example".'),
) -> None:
    """Merge ticket SOURCE into ticket TARGET, telling SOURCE's customer once.

    SOURCE's messages move to TARGET and later mail to either lands there; SOURCE becomes `merged` (no survey), its
    history stays with it and shows in TARGET's.

    Example: mailbridge tickets merge 48213907751 73019982643
    """
    from mailbridge.runtime import desk

    moved = desk.merge(open_app(), target=target.strip().lstrip("#"), source=source.strip().lstrip("#"), actor=actor)
    typer.echo(f"{source.strip().lstrip('#')} merged into {target.strip().lstrip('#')} ({messages_moved(moved)})")


@app.command("split")
def split(
    number: str,
    message: int = typer.Option(
        ...,
        "--from",
        help="The message that starts the new topic, by the id `tickets show` "
        "prints (#ID); it and the later messages answering it move.",
    ),
    actor: str = typer.Option("agent:cli", help='Who splits, e.g. "agent:maria@shop.example".'),
) -> None:
    """Split a new topic off a ticket into a new ticket, with its own receipt.

    The message and the later ones answering it move to a new ticket of the same customer and Contact, which gets its
    receipt and its agents' notification like any new ticket.

    Example: mailbridge tickets split 48213907751 --from 1042
    """
    from mailbridge.runtime import desk

    new, moved = desk.split(open_app(), number=number.strip().lstrip("#"), message_row_id=message, actor=actor)
    typer.echo(f"{new} split off {number.strip().lstrip('#')} ({messages_moved(moved)})")


@app.command("cancel")
def cancel(
    number: str,
    actor: str = typer.Option("agent:cli", help='Who takes it back, e.g. "agent:maria@shop.example".'),
) -> None:
    """Take back the ticket's answers still waiting out `[agents] send_delay_seconds`: never sent, kept as notes.

    The status change an answer carried (#close) is dropped with it and its agent is told. Nothing waiting is an
    error.

    Example: mailbridge tickets cancel 48213907751
    """
    from mailbridge.runtime import desk

    count = desk.cancel_answers(open_app(), number=number.strip().lstrip("#"), actor=actor)
    typer.echo(f"{number.strip().lstrip('#')} {count} answer{'s' if count != 1 else ''} taken back")


def _act(number: str, agent: str, file: str, is_note: bool) -> None:
    text = read_text_option("--file", file)
    from mailbridge.runtime import desk

    problems = desk.act_as_agent(open_app(), number=number, agent_email=agent, text=text, is_note=is_note)
    if problems:
        raise CommandError("nothing was sent: " + "; ".join(problems))


@app.command("reply")
def reply(
    number: str,
    agent: str = typer.Option(..., "--from", help="The agent answering, by address."),
    file: str = typer.Option(..., "--file", help="File with the answer (commands first, as in a mail); - for stdin."),
) -> None:
    """Answer the customer as an agent, with the same effects as a reply from the agent's mail client.

    Example: mailbridge tickets reply 48213907751 --from maria@shop.example --file answer.txt
    """
    _act(number, agent, file, is_note=False)
    typer.echo(f"{number} answered")


@app.command("note")
def note(
    number: str,
    agent: str = typer.Option(..., "--from", help="The agent writing, by address."),
    file: str = typer.Option(..., "--file", help="File with the note; - for stdin."),
) -> None:
    """Add an internal note: shown to agents, never sent to the customer.

    Example: mailbridge tickets note 48213907751 --from maria@shop.example --file note.txt
    """
    _act(number, agent, file, is_note=True)
    typer.echo(f"{number} note added")


@app.command("action")
def action(
    number: str,
    name: str,
    agent: str = typer.Option(None, "--agent", help="The agent acting, by address; default: the assigned agent."),
    file: str = typer.Option(None, "--file", help="File with the agent's text for the action's mail; - for stdin."),
) -> None:
    """Run a named action ([actions.NAME]) on a ticket, as `#NAME` in an agent's reply does.

    Example: mailbridge tickets action 48213907751 return --agent maria@shop.example
    """
    text = read_text_option("--file", file) if file else ""
    from mailbridge.runtime import desk

    app_ = open_app()
    problems = desk.run_action(app_, number=number, name=name, agent_email=agent, text=text)
    if problems:
        raise CommandError("nothing was sent: " + "; ".join(problems))
    typer.echo(f"{number.strip().lstrip('#')} {name.strip().lstrip('#').lower()} done")


@app.command("next")
def next_message(
    agent: str = typer.Option(None, "--agent", help="Only this agent's tickets and their Contacts' free ones."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show the ticket waiting longest for a person, with every customer message since the last answer.

    Example: mailbridge tickets next --agent maria@shop.example
    """
    app_ = open_read()
    zone = display_zone(app_.settings)
    row = next_waiting(reader=app_.reader, agent_email=agent)
    if as_json:
        _echo_json(row, zone)
        return
    if row is None:
        typer.echo("nothing waiting")
        return
    row = visible_values(row)
    unanswered = row["unanswered"]
    typer.echo(
        f"[#{row['number']}] {row['subject']}  ({row['status']}, {row['contact']}, {row['customer']}, {_assignee(row)})"
    )
    typer.echo(
        f"  waiting since {format_time(row['stored_at'], zone)}: "
        f"{len(unanswered)} unanswered message{'s' if len(unanswered) != 1 else ''}"
    )
    for m in unanswered:
        typer.echo(f"\n  #{m['id']} from {m['from']} ({format_time(m['stored_at'], zone)}): {m['subject']}")
        for line in m["text"].strip().splitlines()[:40]:
            typer.echo(f"  | {line}")
