"""Read side of the store: ticket filters, search and customer history, as SQL on a `store.reader.Reader`.

Full text is SQLite FTS5 (`message_fts`, kept by triggers on `message`, migration 0011) or PostgreSQL
`to_tsvector` over subject and body (a GIN index on the same expression); both cover every stored
message. Both dialects live here and nowhere else. Called by the CLI (`tickets list|search`,
`customers show`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mailbridge.base.config.settings import Settings
from mailbridge.base.errors import CommandError
from mailbridge.decisions.kinds import TicketStatus
from mailbridge.decisions.matching.ticket_numbers import is_valid_ticket_number
from mailbridge.decisions.own_addresses import is_address, is_ours
from mailbridge.store.reader import Reader, in_list, instant

FULLTEXT_LIMIT = 500
PG_DOCUMENT = "to_tsvector('simple', coalesce(subject, '') || ' ' || coalesce(text_body, ''))"
NOT_OPEN = (TicketStatus.CLOSED.value, TicketStatus.SPAM.value, TicketStatus.MERGED.value)

# One ticket's summary line: its people, Contact, follow-up link, assignee and message count.
SUMMARY = """
SELECT t.id, t.number, t.status, t.subject, cu.email AS customer, cu.name AS customer_name, co.name AS contact,
       t.category, lt.number AS linked_ticket, t.assigned_agent, ag.name AS assigned_agent_name,
       (SELECT count(*) FROM message m WHERE m.ticket_id = t.id) AS messages,
       t.created_at, t.updated_at, t.closed_at, t.first_response_at, t.presale
FROM ticket t
JOIN customer cu ON cu.id = t.customer_id
JOIN contact co ON co.id = t.contact_id
LEFT JOIN ticket lt ON lt.id = t.linked_ticket_id
LEFT JOIN agent ag ON ag.id = t.assigned_agent_id
"""
SUMMARY_TIMES = ("created_at", "updated_at", "closed_at", "first_response_at")


@dataclass(frozen=True)
class TicketFilter:
    status: str | None = None
    contact: str | None = None  # Contact name
    customer: str | None = None  # customer address
    category: str | None = None  # "Orders" also matches "Orders > Returns"
    agent: str | None = None  # the assigned agent
    since: datetime | None = None  # created at or after
    until: datetime | None = None  # created before


def check_filter(reader: Reader, filters: TicketFilter) -> None:
    """Refuse a status, Contact or agent that does not exist, naming the valid values.

    Raises: CommandError, so a typo is one line and a non-zero exit instead of "no tickets".
    """
    if filters.status and filters.status not in set(TicketStatus):
        raise CommandError(f"--status: unknown status {filters.status!r} (known: {', '.join(TicketStatus)})")
    if filters.contact:
        names = reader.column("SELECT name FROM contact ORDER BY name")
        if filters.contact not in names:
            raise CommandError(f"--contact: no Contact named {filters.contact!r} (known: {', '.join(names) or 'none'})")
    if filters.agent and not reader.rows(
        "SELECT id FROM agent WHERE email = :email", {"email": _address(filters.agent)}
    ):
        raise CommandError(f"--agent: no agent with address {filters.agent!r} (see `mailbridge agents list`)")


def summaries(reader: Reader, where: str = "", params: dict[str, Any] | None = None, tail: str = "") -> list[dict]:
    """The summary rows of the tickets a WHERE clause over `t` (ticket), `cu` (customer) and `co` (Contact) picks."""
    rows = reader.rows(SUMMARY + (f"WHERE {where} " if where else "") + tail, params)
    for row in rows:
        for name in SUMMARY_TIMES:
            row[name] = instant(row[name])
        row["presale"] = bool(row["presale"])  # SQLite answers 0 or 1
    return rows


def filter_clause(reader: Reader, filters: TicketFilter) -> tuple[str, dict[str, Any]]:
    """The WHERE clause and parameters of every given filter (empty: all tickets)."""
    clauses: list[str] = []
    params: dict[str, Any] = {}
    if filters.status:
        clauses.append("t.status = :status")
        params["status"] = filters.status
    if filters.contact:
        clauses.append("co.name = :contact")
        params["contact"] = filters.contact
    if filters.customer:
        clauses.append("cu.email = :customer")
        params["customer"] = _address(filters.customer)
    if filters.category:
        clauses.append("(t.category = :category OR substr(t.category, 1, length(:below)) = :below)")
        params.update(category=filters.category, below=filters.category + " > ")
    if filters.agent:
        clauses.append("t.assigned_agent = :agent")
        params["agent"] = _address(filters.agent)
    if filters.since:
        clauses.append("t.created_at >= :since")
        params["since"] = reader.time(filters.since)
    if filters.until:
        clauses.append("t.created_at < :until")
        params["until"] = reader.time(filters.until)
    return " AND ".join(clauses), params


def list_tickets(reader: Reader, filters: TicketFilter, limit: int | None = 1000) -> tuple[list[dict], int]:
    """Return the summaries of the tickets matching every filter, newest first (at most `limit`), and their count."""
    where, params = filter_clause(reader, filters)
    counted = reader.rows(
        "SELECT count(*) AS n FROM ticket t JOIN customer cu ON cu.id = t.customer_id "
        "JOIN contact co ON co.id = t.contact_id" + (f" WHERE {where}" if where else ""),
        params,
    )
    page = " LIMIT :limit" if limit else ""
    rows = summaries(reader, where, {**params, "limit": limit}, "ORDER BY t.created_at DESC, t.id DESC" + page)
    return rows, counted[0]["n"]


def search_tickets(reader: Reader, query: str, limit: int = 100) -> list[tuple[dict, str]]:
    """Find tickets by number, order number, customer address or name, then full text; with how each matched."""
    found: dict[int, str] = {}
    term = query.strip()
    number = term.strip("[]#").strip()
    if is_valid_ticket_number(number):
        _add(found, reader.column("SELECT id FROM ticket WHERE number = :n", {"n": number}), "number")
    _add(found, reader.column("SELECT ticket_id FROM message WHERE order_number = :o", {"o": term}), "order number")
    _add(
        found,
        reader.column(
            "SELECT t.id FROM ticket t JOIN customer cu ON cu.id = t.customer_id "
            "WHERE cu.email = :email OR instr(lower(cu.email), :part) > 0 OR instr(lower(cu.name), :part) > 0"
            if reader.dialect == "sqlite"
            else "SELECT t.id FROM ticket t JOIN customer cu ON cu.id = t.customer_id "
            "WHERE cu.email = :email OR strpos(lower(cu.email), :part) > 0 OR strpos(lower(cu.name), :part) > 0",
            {"email": term.lower(), "part": term.lower()},
        ),
        "customer",
    )
    _add(found, fulltext_ticket_ids(reader, term), "text")
    ids = list(found)[:limit]
    listed, params = in_list("id", ids)
    rows = {row["id"]: row for row in summaries(reader, f"t.id IN {listed}", params)} if ids else {}
    return [(rows[i], found[i]) for i in ids if i in rows]


def _add(found: dict[int, str], ids, why: str) -> None:
    for ticket_id in ids:
        if ticket_id is not None:
            found.setdefault(ticket_id, why)


def fulltext_ticket_ids(reader: Reader, term: str) -> list[int]:
    """Return the tickets whose messages contain every word of `term`, best first."""
    words = [w for w in re.findall(r"\w+", term) if w]
    if not words:
        return []
    if reader.dialect == "sqlite":
        # Each word quoted: FTS5 operators typed by a user are searched as text, not run.
        match = " ".join('"' + w.replace('"', '""') + '"' for w in words)
        ids = reader.column(
            "SELECT message.ticket_id FROM message_fts JOIN message ON message.id = message_fts.rowid "
            "WHERE message_fts MATCH :match ORDER BY rank LIMIT :limit",
            {"match": match, "limit": FULLTEXT_LIMIT},
        )
    else:
        ids = reader.column(
            f"SELECT ticket_id FROM message WHERE {PG_DOCUMENT} @@ plainto_tsquery('simple', :q) "
            "ORDER BY id DESC LIMIT :limit",
            {"q": " ".join(words), "limit": FULLTEXT_LIMIT},
        )
    return list(dict.fromkeys(i for i in ids if i is not None))


def customer_history(reader: Reader, email: str) -> dict | None:
    """All tickets and messages of one customer, with counts and first and last contact; None if unknown."""
    customer = reader.first("SELECT id, email, name FROM customer WHERE email = :e", {"e": _address(email)})
    if customer is None:
        return None
    tickets = reader.rows(
        "SELECT t.id, t.number, t.status, t.subject, t.category, t.created_at, t.closed_at, lt.number AS linked_ticket "
        "FROM ticket t LEFT JOIN ticket lt ON lt.id = t.linked_ticket_id WHERE t.customer_id = :c ORDER BY t.id",
        {"c": customer["id"]},
    )
    messages = reader.rows(
        "SELECT m.id, t.number AS ticket, m.direction, m.kind, m.from_addr, m.subject, m.stored_at, m.match_reason "
        "FROM message m JOIN ticket t ON t.id = m.ticket_id WHERE t.customer_id = :c ORDER BY m.stored_at, m.id",
        {"c": customer["id"]},
    )
    inbound = [m for m in messages if m["from_addr"] == customer["email"]]
    return {
        "email": customer["email"],
        "name": customer["name"],
        "ticket_count": len(tickets),
        "message_count": len(messages),
        "open_ticket_count": sum(1 for t in tickets if t["status"] not in NOT_OPEN),
        "first_contact": instant(inbound[0]["stored_at"]) if inbound else None,
        "last_contact": instant(inbound[-1]["stored_at"]) if inbound else None,
        "tickets": [
            {
                "number": t["number"],
                "status": t["status"],
                "subject": t["subject"],
                "category": t["category"],
                "created_at": instant(t["created_at"]),
                "closed_at": instant(t["closed_at"]),
                "linked_ticket": t["linked_ticket"],
            }
            for t in tickets
        ],
        "messages": [
            {
                "id": m["id"],
                "ticket": m["ticket"],
                "direction": m["direction"],
                "kind": m["kind"],
                "from": m["from_addr"],
                "subject": m["subject"],
                "stored_at": instant(m["stored_at"]),
                "threaded_by": m["match_reason"],
            }
            for m in messages
        ],
    }


def not_a_customer(reader: Reader, settings: Settings, email: str) -> str:
    """Say why an address that has no customer row is none, for the error line ("" when nothing more is known)."""
    address = _address(email)
    if not is_address(address):
        return f"{email.strip()!r} is not an email address (local@domain)"
    # Ours as the daemon counts them (own_addresses_of): a forward-only Contact's address is where its mail goes.
    # Imported here, on this error path only: it loads Jinja2, which `tickets search` and `customers show` need not.
    from mailbridge.decisions.outgoing.context import own_addresses_of

    contacts = [row["email"] for row in reader.rows("SELECT email FROM contact WHERE save_messages")]
    if is_ours(address, own_addresses_of(settings, contacts)):
        return "it is one of our own addresses (support, a Contact or a mailbox), not a customer's"
    if reader.first("SELECT id FROM agent WHERE email = :e", {"e": address}):
        return "it is an agent's address (mailbridge agents list), not a customer's"
    return ""


def _address(value: str) -> str:
    return value.strip().lower()
