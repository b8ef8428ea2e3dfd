"""The exception tree. Broad handlers exist only at the four boundaries (intake, outbox delivery, runtime jobs, CLI).

MailbridgeError
├── ConfigError               bad or missing configuration; the message names file, key and expectation
├── SourceError               a mail source cannot be reached, authenticated or read
├── TemporaryDeliveryError    SMTP said "try later" (4xx, timeout, refused connection)
├── PermanentDeliveryError    SMTP said "never" (5xx)
├── CommandError              a CLI or agent command cannot be carried out as asked
└── NotFoundError             a ticket, contact or outbox item does not exist
"""


class MailbridgeError(Exception):
    """The root of every error mailbridge raises on purpose."""


class ConfigError(MailbridgeError):
    """The configuration is missing, unreadable or invalid."""


class SourceError(MailbridgeError):
    """A mailbox cannot be reached, authenticated or read."""


class TemporaryDeliveryError(MailbridgeError):
    """Delivery failed in a way that may succeed later."""


class PermanentDeliveryError(MailbridgeError):
    """Delivery failed for good."""


class CommandError(MailbridgeError):
    """A command cannot be carried out as asked."""


class NotFoundError(MailbridgeError):
    """The thing asked for does not exist."""


class SchemaError(MailbridgeError):
    """The database's schema is not the one this version uses; the message names the command that upgrades it."""


class LeaseLost(MailbridgeError):
    """This daemon no longer holds the lease of a mailbox: roll back what is in hand and mark nothing."""
