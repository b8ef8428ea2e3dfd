"""mailbridge: a support mailbox daemon. Every customer email becomes a ticket."""

__version__ = "0.1.0"
