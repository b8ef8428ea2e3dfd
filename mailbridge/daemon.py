"""`mailbridge run`: build the app, start the APScheduler jobs, stop cleanly on SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import logging
import signal

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from mailbridge.app import App
from mailbridge.scheduler import deliver_outbox, poll_mailboxes, safe_job

log = logging.getLogger(__name__)


async def serve(app: App) -> None:
    """Run the poll and outbox jobs until a stop signal arrives."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    schedule = app.settings.schedule
    scheduler = AsyncIOScheduler(job_defaults={"coalesce": True, "max_instances": 1})
    scheduler.add_job(safe_job, "interval", args=(app, poll_mailboxes, "poll_mailboxes"),
                      seconds=schedule.poll_interval_seconds, id="poll_mailboxes")
    scheduler.add_job(safe_job, "interval", args=(app, deliver_outbox, "deliver_outbox"),
                      seconds=schedule.outbox_interval_seconds, id="deliver_outbox")
    await safe_job(app, poll_mailboxes, "poll_mailboxes")
    await safe_job(app, deliver_outbox, "deliver_outbox")
    scheduler.start()
    log.info("daemon started mailboxes=%d", len(app.settings.mailboxes))
    await stop.wait()
    log.info("stopping: waiting for running jobs")
    scheduler.shutdown(wait=True)
    await asyncio.sleep(0)
