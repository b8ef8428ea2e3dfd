"""Decision: which addresses are ours, which address a new Contact takes, and which Contacts mail cannot reach. Pure.

Ours, in one definition: `[support] from_address`, every Contact's address (from the database; a forward-only
Contact's address is where its mail is forwarded, not ours, and the runtime leaves it out), every mailbox
login that is an address, every address a `[[mailboxes]]` table lists in `addresses` (the aliases delivered into
it), and every sub-address (`local+tag@domain`) of one of those. A reply token on any of them is recognised
(`reply_tokens.tokens_in`, so agent answers, customer replies and ratings work whichever Contact's address
they were sent to); mail From one of them is our own mail coming back (`classify`).

The runtime computes `our_addresses` when it builds the app and again before every poll, from the settings and
the contacts table, so a Contact added or edited with `mailbridge contacts` counts from the next poll on.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Iterator, Mapping

from mailbridge.base.config.settings import MailboxSettings

_NOT_IN_ADDRESS = " \t\r\n<>,;\"'()"


def is_address(value: str | None) -> bool:
    """Tell whether a login or a Contact's address is shaped like an email address (local@domain)."""
    local, at, domain = (value or "").partition("@")
    return bool(at and local and domain and "@" not in domain and not any(c in _NOT_IN_ADDRESS for c in value or ""))


def mailbox_addresses(mailbox: MailboxSettings) -> tuple[str, ...]:
    """The addresses delivered into a mailbox: its login when that is an address, then its `addresses`, in order."""
    login = (mailbox.connection.username or "").strip().lower()
    found = [login] if is_address(login) else []
    found += [a for a in mailbox.addresses if a not in found]
    return tuple(found)


def our_addresses(
    support_address: str, mailboxes: Iterable[MailboxSettings], contact_addresses: Iterable[str | None] = ()
) -> frozenset[str]:
    """Every address of ours, lower-cased (their sub-addresses are ours too: see `is_ours`)."""
    found = {support_address.strip().lower()}
    for mailbox in mailboxes:
        found.update(mailbox_addresses(mailbox))
    found.update(a.strip().lower() for a in contact_addresses if a and a.strip())
    return frozenset(found)


def _split(address: str) -> tuple[str, str, str] | None:
    """(base local part, tag, domain) of a sub-address `base+tag@domain`; None when it has no tag."""
    local, at, domain = address.rpartition("@")
    base, plus, tag = local.rpartition("+")
    if not (at and plus and base and tag):
        return None
    return base, tag, domain


def _bases(address: str, longest: int) -> Iterator[str]:
    """The address, then each base it strips to while it is a sub-address (`a+b+c@d`, `a+b@d`, `a@d`), leaving out
    those longer than `longest` (they cannot be in the set asked about).

    Linear time in the address: a hostile `support+a+a+...@` of 100 KB is walked once, and only candidates as short
    as a known address are built (building each base would be quadratic).
    """
    if len(address) <= longest:
        yield address
    local, at, domain = address.rpartition("@")
    if not at:
        return
    end = len(local)
    while True:
        cut = local.rfind("+", 0, end)
        # No `+` left, an empty base (`+tag@`) or an empty tag (`base+@`): no further base, as `_split` says.
        if cut <= 0 or cut == end - 1:
            return
        end = cut
        if end + 1 + len(domain) <= longest:
            yield f"{local[:end]}@{domain}"


def is_ours(address: str | None, own: frozenset[str]) -> bool:
    """Tell whether an address is one of `own` or a sub-address of one (support+x@..., support+sales+x@...)."""
    current = (address or "").strip().strip("<>").lower()
    longest = max(map(len, own), default=0)
    return bool(current) and any(base in own for base in _bases(current, longest))


def contact_of(address: str, contacts: Mapping[str, int]) -> int | None:
    """The Contact (id) whose address this is, or a sub-address of (`webmaster+a.<token>@...`); None: no Contact's.

    The longest match wins: `support+webmaster@...` is the Contact with that address, not the one of `support@...`.
    """
    current = address.strip().strip("<>").lower()
    longest = max(map(len, contacts), default=0)
    return next((contacts[base] for base in _bases(current, longest) if base in contacts), None) if current else None


def addressed_contact(
    *, original: Iterable[str], visible: Iterable[str], delivered: Iterable[str], home: int, contacts: Mapping[str, int]
) -> int:
    """The Contact a message read from a mailbox of Contact `home` belongs to: `home`, unless it was written to
    another Contact's address and not to home's (one IMAP folder receiving the addresses of two departments).

    `original`: X-Original-To, the address the MTA delivered this copy for (before aliases): when it is a Contact's,
    that Contact. Else `visible`, the To and Cc addresses in order: home when they name home's address, else the
    first Contact they name. Else `delivered` (Delivered-To). Else home. `contacts`: address -> Contact id, of the
    Contacts that keep their mail. So mail To sales, Cc support reaching both Contacts' folders is filed once in
    each, and mail to an alias of another Contact delivered into home's folder is filed in that Contact.
    """
    for address in original:
        if (found := contact_of(address, contacts)) is not None:
            return found
    named = [c for c in (contact_of(a, contacts) for a in visible) if c is not None]
    if named:
        return home if home in named else named[0]
    for address in delivered:
        if (found := contact_of(address, contacts)) is not None:
            return found
    return home


def sub_address_tag(address: str, own: frozenset[str]) -> str | None:
    """The tag of a sub-address of ours (`support+<tag>@...` -> tag, the last one), or None: not such an address.

    Tags never hold a `+` (reply tokens are base32 and dots), so the last `+` starts the tag even when the
    Contact's own address is a sub-address itself (`support+sales+a.<token>@...`).
    """
    parts = _split(address.strip().strip("<>").lower())
    if parts is None or not is_ours(f"{parts[0]}@{parts[2]}", own):
        return None
    return parts[1]


def contact_address(name: str, candidates: Iterable[str], support_address: str, taken: Collection[str]) -> str:
    """The address of a Contact created for a mailbox (or for mail from outside any, with no addresses).

    The first of `candidates` (its mailbox's addresses: login, then `addresses`) and `[support] from_address` that no other
    Contact has; else the sub-address `local+<slug>@domain` of from_address, which is ours as every sub-address
    of ours is. Never an address nobody configured: mail sent From it must come back to us.
    """
    taken = {a.lower() for a in taken}
    for address in (*candidates, support_address):
        if address.lower() not in taken:
            return address.lower()
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "contact"
    local, _, domain = support_address.lower().rpartition("@")
    address, number = f"{local}+{slug}@{domain}", 2
    while address in taken:
        address, number = f"{local}+{slug}-{number}@{domain}", number + 1
    return address


def undelivered_contacts(
    contacts: Iterable[tuple[str, str]], mailboxes: Iterable[MailboxSettings]
) -> list[tuple[str, str]]:
    """The (name, address) of Contacts whose address is delivered into no polled mailbox.

    Delivered: a mailbox's login (when an address) or one of its `addresses`, or a sub-address of one. Mail to
    any other address (replies to our mail, agents' answers, ratings) never comes back to mailbridge.
    """
    delivered = frozenset(a for m in mailboxes for a in mailbox_addresses(m))
    return [(name, address) for name, address in contacts if not is_ours(address, delivered)]
