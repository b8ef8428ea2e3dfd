"""Stage: the daily retention timer. Finished tickets past `[retention] purge_raw_after_days` lose their raw mail
and attachment contents; past `anonymise_after_days` they are anonymised as a whole (`store.erasure`).

`runtime.jobs.apply_retention` calls `apply_retention(app, now)` once a day across the fleet (the timers' claims)
and on every `run --once`. The tickets are picked by a pure plan (`decisions.retention.plan_retention`) and each is
changed in its own transaction; the run's counts are logged and, when it changed anything, left as an `erasure`
row (`customers erasures`).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime

from mailbridge.decisions.retention import ErasureCounts, RetentionPolicy, cutoff, plan_retention
from mailbridge.runtime.app import App
from mailbridge.runtime.erasure import secret_key
from mailbridge.store import db, erasure

log = logging.getLogger(__name__)
ACTOR = "system"


def policy_of(app: App) -> RetentionPolicy:
    retention = app.settings.retention
    return RetentionPolicy(retention.purge_raw_after_days, retention.anonymise_after_days)


def apply_retention(app: App, now: datetime) -> ErasureCounts:
    """Purge and anonymise every finished ticket old enough; return what was removed."""
    policy = policy_of(app)
    if policy.is_off:
        return ErasureCounts()
    days = [d for d in (policy.purge_raw_after_days, policy.anonymise_after_days) if d]
    oldest = cutoff(min(days), now)
    assert oldest is not None
    with db.transaction(app.engine) as session:
        plan = plan_retention(policy, erasure.finished_tickets(session, oldest), now)
    key, total = secret_key(app), ErasureCounts()
    reason = f"anonymised after {policy.anonymise_after_days} days ([retention] anonymise_after_days)"
    for ticket_id in plan.anonymise:
        with db.transaction(app.engine) as session:
            removal = erasure.anonymise_ticket(session, ticket_id, key=key, actor=ACTOR, now=now, reason=reason)
            files = erasure.remove_raw_files(session, removal.raw_paths, delete=True)
        total = total.plus(replace(removal.counts, raw_files=files))
    for ticket_id in plan.purge_raw:
        with db.transaction(app.engine) as session:
            removal = erasure.purge_ticket_raw(
                session, ticket_id, actor=ACTOR, now=now, days=policy.purge_raw_after_days
            )
            files = erasure.remove_raw_files(session, removal.raw_paths, delete=True)
        total = total.plus(replace(removal.counts, raw_files=files))
    if not total.is_empty:
        with db.transaction(app.engine) as session:
            erasure.record_erasure(session, kind="retention", actor=ACTOR, subject="", counts=total, now=now)
    log.info("retention run: %s", " ".join(f"{k}={v}" for k, v in total.as_dict().items()))
    return total
