"""SQLite's full-text index follows the message table through triggers (migration 0011)."""

from __future__ import annotations

from sqlalchemy import text
from sqlmodel import Session

from mailbridge.store.models import Message
from tests.conftest import FixedClock


def matches(app, term: str) -> list[int]:
    with Session(app.engine) as session:
        return [
            row[0]
            for row in session.execute(
                text("SELECT rowid FROM message_fts WHERE message_fts MATCH :term"), {"term": term}
            )
        ]


def test_index_follows_insert_update_and_delete(make_app):
    app = make_app()
    with Session(app.engine) as session:
        row = Message(
            direction="out",
            mailbox="",
            folder="",
            uidvalidity=0,
            uid=0,
            raw=b"x",
            raw_sha256="d",
            kind="agent_reply",
            is_malformed=False,
            stored_at=FixedClock().now(),
            subject="Your parcel",
            text_body="It left the warehouse today.",
        )
        session.add(row)
        session.commit()
        assert matches(app, "parcel") == [row.id] and matches(app, "warehouse") == [row.id]
        row.text_body = "It is at the depot."
        session.commit()
        assert matches(app, "warehouse") == [] and matches(app, "depot") == [row.id]
        session.delete(row)
        session.commit()
    assert matches(app, "parcel") == [] and matches(app, "depot") == []
