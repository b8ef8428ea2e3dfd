"""Two workers starting the same suppression episode at one moment (a flooding sender writing to two mailboxes, or to
two daemons' mailboxes) on PostgreSQL: the second waits for the first, then extends its row; no unique violation, no
batch rolled back, one episode (one alert)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

from sqlmodel import Session, select

from mailbridge.store import db, outbox_queue
from mailbridge.store.models import AddressSuppression

NOW = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)


def test_two_transactions_starting_one_episode_make_one_row_and_one_start(postgres):
    engine = db.make_engine(postgres.create_database("suppression_race"))
    db.upgrade_schema(engine)
    outcome: dict[str, object] = {}

    def second() -> None:
        with Session(engine) as session:
            try:
                outcome["started"] = outbox_queue.suppress(
                    session=session,
                    address="loop@example.org",
                    reason="flooding",
                    until=NOW + timedelta(minutes=31),
                    now=NOW + timedelta(seconds=1),
                )
                session.commit()
            except Exception as exc:  # noqa: BLE001 - the failure under test: reported, not raised in the thread
                outcome["error"] = exc

    with Session(engine) as first:
        assert outbox_queue.suppress(
            session=first, address="loop@example.org", reason="flooding", until=NOW + timedelta(minutes=30), now=NOW
        )
        first.flush()  # the row is written, not committed
        other = threading.Thread(target=second)
        other.start()
        time.sleep(0.5)
        assert other.is_alive(), "the second insert waits for the first transaction"
        first.commit()
    other.join(timeout=10)
    assert "error" not in outcome, outcome.get("error")
    assert outcome["started"] is False, "the episode was started by the first; the second alerts nobody"
    with Session(engine) as session:
        [row] = session.exec(select(AddressSuppression)).all()
    assert row.address == "loop@example.org"
    assert row.until == NOW + timedelta(minutes=31), "the later end wins"
