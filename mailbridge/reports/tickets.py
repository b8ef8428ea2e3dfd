"""Read side of `mailbridge tickets list|search|show|categories|next`: tickets as plain dicts the CLI prints.

Input: a `store.reader.Reader` (plain SQL, no ORM: these commands start in well under a second) and the command's
filters; output: one summary dict per ticket, or one ticket's
detail with its messages, attachments, history, rating and people in Cc, or the ticket waiting longest for a person with the
customer's messages it has not been answered on. Times stay datetimes; the CLI shows them with `render.format_time`.
Writes nothing.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from types import SimpleNamespace
from typing import Any

from mailbridge.base.errors import NotFoundError
from mailbridge.decisions.kinds import MessageKind, TicketStatus
from mailbridge.reports.search import TicketFilter, check_filter, list_tickets, search_tickets, summaries
from mailbridge.store.reader import Reader, in_list, instant

# The statuses in which a ticket waits for a person: `new` (nobody took it yet) and `open` (taken, or the customer
# wrote again after an answer, which is how a waiting or closed ticket is reopened). `waiting` waits on the
# customer; `pending1`/`pending2` were put off on purpose by an agent ("answer later"); closed and spam wait on nobody.
WAITING_FOR_A_PERSON = (TicketStatus.NEW, TicketStatus.OPEN)
# A ticket's messages without their raw bytes and HTML: the raw size is measured by the database (or the file).
MESSAGES = """
SELECT id, direction, kind, message_id, in_reply_to, from_addr, from_name, to_addrs, cc_addrs, subject, sent_at,
       stored_at, match_reason, order_number, is_malformed, defects, raw_path, length(raw) AS raw_length, text_body,
       stripped_text
FROM message WHERE ticket_id = :ticket ORDER BY id
"""


def list_ticket_summaries(*, reader: Reader, filters: TicketFilter, limit: int | None = None) -> tuple[list[dict], int]:
    """Return the summaries of the tickets matching every filter, newest first, at most `limit` (None: all), and
    how many match in all. Raises: CommandError (check_filter)."""
    check_filter(reader, filters)
    return list_tickets(reader, filters, limit)


def search_ticket_summaries(*, reader: Reader, query: str) -> list[dict]:
    """Return the summaries of the tickets a search finds, each with how it matched."""
    return [{**row, "matched_by": why} for row, why in search_tickets(reader, query)]


def count_categories(*, reader: Reader) -> list[dict]:
    """Return each category in use with its ticket count, by category."""
    return reader.rows(
        "SELECT category, count(*) AS tickets FROM ticket WHERE category IS NOT NULL GROUP BY category ORDER BY category"
    )


def ticket_detail(*, reader: Reader, number: str) -> dict:
    """Return one ticket with its messages, history and rating. Raises: NotFoundError for an unknown number."""
    found = summaries(reader, "t.number = :number", {"number": number.strip().lstrip("#")})
    if not found:
        raise NotFoundError(f"no ticket with number {number}")
    detail = found[0]
    ticket_id = detail.pop("id")
    files: dict[int, list[dict]] = {}
    for row in reader.rows(
        "SELECT a.message_id, a.filename, a.content_type, a.size, a.sha256 FROM attachment a "
        "JOIN message m ON m.id = a.message_id WHERE m.ticket_id = :ticket ORDER BY a.id",
        {"ticket": ticket_id},
    ):
        files.setdefault(row.pop("message_id"), []).append(row)
    detail["messages"] = [
        _message_detail(m, files.get(m["id"], [])) for m in reader.rows(MESSAGES, {"ticket": ticket_id})
    ]
    detail["events"] = [
        {**e, "at": instant(e["at"])}
        for e in reader.rows(
            # With the history of the tickets merged into this one (each event names its ticket), in time order.
            "SELECT e.at, e.actor, e.kind, e.old_status, e.new_status, e.reason, t.number AS ticket "
            "FROM ticketevent e JOIN ticket t ON t.id = e.ticket_id "
            "WHERE e.ticket_id = :ticket OR t.merged_into_id = :ticket ORDER BY e.at, e.id",
            {"ticket": ticket_id},
        )
    ]
    into = reader.first(
        "SELECT m.number FROM ticket t JOIN ticket m ON m.id = t.merged_into_id WHERE t.id = :ticket",
        {"ticket": ticket_id},
    )
    detail["merged_into"] = into["number"] if into else None
    detail["merged"] = reader.column(
        "SELECT number FROM ticket WHERE merged_into_id = :ticket ORDER BY id", {"ticket": ticket_id}
    )
    rating = reader.first(
        "SELECT score, comment, source, created_at AS at FROM rating WHERE ticket_id = :ticket AND replaced_at IS NULL "
        "ORDER BY id DESC",
        {"ticket": ticket_id},
    )
    detail["rating"] = {**rating, "at": instant(rating["at"])} if rating else None
    # The people in Cc of it (store.participants), removed ones too: the history says who removed them.
    detail["participants"] = [
        {**p, "removed": bool(p["removed"]), "added_at": instant(p["added_at"])}
        for p in reader.rows(
            "SELECT email, name, added_by, removed, created_at AS added_at FROM ticketparticipant "
            "WHERE ticket_id = :ticket ORDER BY id",
            {"ticket": ticket_id},
        )
    ]
    return detail


def _message_detail(row: dict[str, Any], attachments: list[dict]) -> dict:
    return {
        "id": row["id"],
        "direction": row["direction"],
        "kind": row["kind"],
        "message_id": row["message_id"],
        "in_reply_to": row["in_reply_to"],
        "from": row["from_addr"],
        "from_name": row["from_name"],
        "to": row["to_addrs"],
        "cc": row["cc_addrs"],
        "subject": row["subject"],
        "date": instant(row["sent_at"]),  # the Date header, as the sender wrote it
        "stored_at": instant(row["stored_at"]),
        "threaded_by": row["match_reason"],
        "order_number": row["order_number"],
        "malformed": bool(row["is_malformed"]),
        "defects": row["defects"].splitlines(),
        "raw_bytes": _raw_size(row["raw_path"], row["raw_length"]),
        "text": row["text_body"],
        "stripped_text": row["stripped_text"],
        "attachments": attachments,
    }


def _raw_size(path: str | None, stored: int | None) -> int:
    """The raw bytes' size: the file's when they live in one (store.raw_files), else the column's."""
    if not path:
        return stored or 0
    try:
        return os.stat(path).st_size
    except OSError:
        return 0  # the file is gone (a restore without the data directory): shown as empty, not a crash


def unanswered_messages(messages: Iterable[Any]) -> list[Any]:
    """Return the customer's messages after the last answer relayed to them, oldest first.

    `messages` is the ticket's mail in stored order, anything with `kind` and `id`. Bounces, auto-replies, notes and the agents' inbound copies
    are neither the customer's message nor an answer: they are passed over and never hide what the customer wrote.
    """
    waiting: list[Any] = []
    for message in messages:
        if message.kind == MessageKind.AGENT_REPLY:
            waiting = []
        elif message.kind == MessageKind.CUSTOMER:
            waiting.append(message)
    return waiting


def next_waiting(*, reader: Reader, agent_email: str | None) -> dict | None:
    """Return the ticket waiting longest for a person, with every customer message since the last answer.

    Longest is by its first unanswered customer message. With an agent: their tickets and their Contacts' free ones.
    Raises: NotFoundError for an unknown agent.
    """
    where, params = _waiting_tickets(reader, agent_email)
    candidates = {row["id"]: row for row in summaries(reader, where, params)}
    if not candidates:
        return None
    listed, ids = in_list("t", candidates)
    kinds, kind_params = in_list("k", (MessageKind.CUSTOMER.value, MessageKind.AGENT_REPLY.value))
    thread: dict[int, list[SimpleNamespace]] = {}
    for row in reader.rows(
        "SELECT id, ticket_id, kind, from_addr, from_name, subject, stored_at, text_body, stripped_text FROM message "
        f"WHERE ticket_id IN {listed} AND kind IN {kinds} ORDER BY id",
        {**ids, **kind_params},
    ):
        thread.setdefault(row["ticket_id"], []).append(
            SimpleNamespace(**{**row, "stored_at": instant(row["stored_at"])})
        )
    waiting = [(ticket_id, found) for ticket_id, m in thread.items() if (found := unanswered_messages(m))]
    if not waiting:
        return None
    ticket_id, unanswered = min(waiting, key=lambda pair: (pair[1][0].stored_at, pair[1][0].id))
    first = unanswered[0]
    summary = {k: v for k, v in candidates[ticket_id].items() if k != "id"}
    return {
        **summary,
        "message_id": first.id,
        "from": first.from_addr,
        "stored_at": first.stored_at,
        "text": _text_of(first),
        "unanswered": [
            {
                "id": m.id,
                "from": m.from_addr,
                "from_name": m.from_name,
                "subject": m.subject,
                "stored_at": m.stored_at,
                "text": _text_of(m),
            }
            for m in unanswered
        ],
    }


def _waiting_tickets(reader: Reader, agent_email: str | None) -> tuple[str, dict[str, Any]]:
    statuses, params = in_list("s", (s.value for s in WAITING_FOR_A_PERSON))
    where = f"t.status IN {statuses}"
    if agent_email is None:
        return where, params
    address = agent_email.strip().lower()
    agent = reader.first("SELECT id FROM agent WHERE email = :email", {"email": address})
    if agent is None:
        raise NotFoundError(f"no agent with address {address}")
    return (
        f"{where} AND (t.assigned_agent_id = :agent OR (t.assigned_agent_id IS NULL AND t.contact_id IN "
        "(SELECT contact_id FROM agentcontact WHERE agent_id = :agent)))",
        {**params, "agent": agent["id"]},
    )


def _text_of(message: Any) -> str:
    return message.stripped_text or message.text_body
