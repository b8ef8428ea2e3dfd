"""Decisions: pure functions, values in and values out; where the behaviour is.

kinds (every status and kind enum), inbound/ (reading mail), matching/ (which ticket), outgoing/ (writing
mail), lifecycle, business_hours, loop_guard, mailbox_health, survey, agent_commands, agent_reply.
May import: base. Never the store, a server library, the clock or any part above.
"""
