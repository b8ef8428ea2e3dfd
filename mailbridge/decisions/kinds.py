"""Every status and kind that mailbridge stores or decides, one enum each: one name per fact.

Values are the strings in the database, so renaming a member never changes stored data; adding one needs no
migration. Everything above `decisions` imports these names instead of spelling the strings.
"""

from __future__ import annotations

from enum import StrEnum


class TicketStatus(StrEnum):
    NEW = "new"
    OPEN = "open"
    WAITING = "waiting"
    PENDING1 = "pending1"
    PENDING2 = "pending2"
    CLOSED = "closed"
    SPAM = "spam"
    MERGED = "merged"  # joined another ticket (`Ticket.merged_into_id`); terminal: its mail now lands there


class Direction(StrEnum):
    INBOUND = "in"
    OUTBOUND = "out"


class OutboxStatus(StrEnum):
    QUEUED = "queued"  # waiting for its next attempt
    SENDING = "sending"  # an attempt was recorded and may be under way
    SENT = "sent"
    HELD = "held"  # permanent failure or retries exhausted; `outbox retry` re-queues it
    CANCELLED = "cancelled"  # given up by an admin (`outbox cancel`); never sent; `outbox retry` re-queues it
    BOUNCED = "bounced"  # accepted, then a delivery status notification said it failed


class MessageKind(StrEnum):
    """`Message.kind`: what a stored message is. `classify` decides the first four for inbound mail."""

    CUSTOMER = "customer"
    AUTO_REPLY = "auto_reply"  # out-of-office, list traffic, anything automatic
    BOUNCE = "bounce"  # a delivery status notification
    ECHO = "echo"  # our own mail coming back
    AGENT_REPLY_IN = "agent_reply_in"  # mail to an agent reply address, as received
    OUTSIDER_REPLY = "outsider_reply"  # an outsider's answer to a `#forward`
    FORGED_AGENT_REPLY = "forged_agent_reply"  # failed the agent checks: stored, never relayed
    AGENT_REPLY = "agent_reply"  # an agent's answer as relayed to the customer
    AGENT_NOTE = "agent_note"  # internal note, never sent to the customer
    SURVEY_ANSWER = "survey_answer"
    SURVEY_REJECTED = "survey_rejected"  # forged or expired: stored, no rating
    TOO_LARGE = "too_large"  # over max_message_bytes: kept raw, never parsed
    QUARANTINED = "quarantined"  # broke intake three times: kept raw with the reason
    DISMISSED = "dismissed"  # quarantined or too large, acknowledged (`messages dismiss`): kept raw, counted no more


class MailKind(StrEnum):
    """`OutboxMail.kind`: what a mail we send is; customer templates are named after the first five."""

    RECEIPT = "receipt"
    HANDLING_STARTED = "handling_started"
    AUTO_CLOSED = "auto_closed"
    AUTO_CLOSE_REMINDER = "auto_close_reminder"  # "we will close this in 24 hours unless you answer"
    SURVEY = "survey"  # queued by survey_mail when the Contact asks for ratings
    SURVEY_THANKS = "survey_thanks"  # answers a rating
    MERGED = "merged"  # tells a merged ticket's customer which ticket handles their request now
    AGENT_REPLY = "agent_reply"  # an agent's answer relayed to the customer
    AGENT_NOTIFICATION = "agent_notification"
    AGENT_NOTICE = "agent_notice"  # assignment and command results to an agent
    AGENT_FORWARD = "agent_forward"  # `#forward` to an outsider
    ACTION_MAIL = "action_mail"  # a named action's template mail to the customer (`#return`, `tickets action`)
    SLA_WARNING = "sla_warning"
    FORWARD_UNSAVED = "forward_unsaved"  # mail of a Contact that saves none, forwarded to its address
    FLOOD_ALERT = "flood_alert"
    MAILBOX_ALERT = "mailbox_alert"
    JOB_ALERT = "job_alert"  # a daemon job or loop that keeps failing (store/admin_alert.py)


class EventKind(StrEnum):
    """`TicketEvent.kind`: the audit trail's entries."""

    CREATED = "created"
    STATUS_CHANGED = "status_changed"
    STATUS_REFUSED = "status_refused"
    CATEGORY_CHANGED = "category_changed"
    ASSIGNED = "assigned"
    AGENT_ANSWERED = "agent_answered"
    AGENT_REPLY_REFUSED = "agent_reply_refused"
    FORGED_AGENT_REPLY = "forged_agent_reply"
    NOTE = "note"
    REQUESTER_SET = "requester_set"
    RATED = "rated"
    RATING_REJECTED = "rating_rejected"
    MAIL_QUEUED = "mail_queued"
    MAIL_SUPPRESSED = "mail_suppressed"
    SENDER_BLOCKED = "sender_blocked"  # an agent's `#spam` put the customer on the blocklist
    ACTION_RUN = "action_run"  # an agent ran a named action ([actions.NAME])
    MAIL_FAILED = "mail_failed"
    MAIL_CANCELLED = "mail_cancelled"  # an admin gave an unsent mail up (`outbox cancel`)
    MAIL_BOUNCED = "mail_bounced"
    SLA_WARNING = "sla_warning"
    SLA_BREACHED = "sla_breached"
    PARTICIPANT_ADDED = "participant_added"  # someone put in Cc of the ticket (customer's Cc, `#cc add`)
    PARTICIPANT_REMOVED = "participant_removed"  # `#cc remove`
    PARTICIPANT_REFUSED = "participant_refused"  # a customer's Cc past the most people in Cc of one ticket
    MERGED = "merged"  # on both tickets: one joined the other (`#merge`, `tickets merge`)
    SPLIT = "split"  # on both tickets: messages moved to a new ticket (`tickets split`)
    ANSWER_WAITING = "answer_waiting"  # an agent's answer waits out [agents] send_delay_seconds in the outbox
    ANSWER_RELEASED = "answer_released"  # a waiting answer went to sending; the status change it carried applied
    ANSWER_RECALLED = "answer_recalled"  # a waiting answer was taken back (`#cancel`, `tickets cancel`)
    ANSWER_HELD = "answer_held"  # an answer to an out-of-date notification, kept as a note until `#send`
    ANONYMISED = "anonymised"  # content and people removed ([retention] anonymise_after_days, `customers erase`)
    RAW_PURGED = "raw_purged"  # raw mail and attachment contents removed ([retention] purge_raw_after_days)


class MatchReason(StrEnum):
    """`Message.match_reason`: why a message went to its ticket."""

    REPLY_TOKEN = "reply_token"
    IN_REPLY_TO = "in_reply_to"
    REFERENCES = "references"
    SAME_MESSAGE_ID = "same_message_id"  # a copy of a stored message (other subject or footer): its ticket
    REFERENCED_BY = "referenced_by"  # stored replies name this message (it arrived after them): their ticket
    SHARED_REFERENCE = "shared_reference"  # shares a reference with stored mail (a parent never seen): its ticket
    SUBJECT_NUMBER = "subject_number"
    BODY_REFERENCE = "body_reference"
    CONTACT = "contact"
    NEW = "new"
    NEW_LINKED = "new_linked"  # a reply to a ticket closed longer ago than the reopen window
    OTHER_CONTACT = "other_contact"  # the same mail already reached another Contact: a linked ticket here
    TWIN = "twin"  # same Message-ID, sender, subject and text as a stored message of this Contact: its ticket
    RATING_TOKEN = "rating_token"  # a mail to a rating address
    SURVEY_REPLY = "survey_reply"  # a reply to the survey mail
