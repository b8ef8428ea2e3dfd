"""Runtime: what runs. app (build_app: settings, engine, clock, sources, sender), jobs, timers, desk (the CLI's
ticket actions), daemon (supervised asyncio loops, IDLE watchers) and health (the health file).

The runtime hands each stage only what it needs (MailContext, Inbox, Poller). May import every part but cli.
"""
