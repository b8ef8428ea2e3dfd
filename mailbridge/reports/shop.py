"""Read side of the `[shop]` history that `customers show` and `tickets show` print, from the look-up cache.

Input: a `store.reader.Reader` (plain SQL), the address, the `[shop]` settings and the order number a mail named;
output: a plain dict (decisions.shop.summarise, with when it was looked up and the last lookup's error), None
without `[shop]`. Writes nothing and never calls the shop: the shop job (runtime/shop_lookup.py) fills the cache.
"""

from __future__ import annotations

from typing import Any

from mailbridge.base.config.shop import ShopSettings
from mailbridge.decisions.shop import from_payload, summarise
from mailbridge.store.reader import Reader, instant


def shop_history(reader: Reader, email: str, shop: ShopSettings | None, order_number: str | None = None) -> dict | None:
    """The customer's shop history as cached, with `looked_up_at` (None: not looked up yet) and `error`."""
    if shop is None:
        return None
    row = reader.first(
        "SELECT fetched_at, payload, error FROM shopcache WHERE email = :email", {"email": email.strip().lower()}
    )
    if row is None:
        return {"looked_up_at": None, "error": "", "named_number": order_number, "found": False}
    summary: dict[str, Any] = {"found": False}
    if row["payload"] is not None:
        summary = summarise(from_payload(row["payload"]), shop.currency, order_number)
    return {"looked_up_at": instant(row["fetched_at"]), "error": row["error"], "named_number": order_number, **summary}


def named_order_number(messages: list[dict]) -> str | None:
    """The order number the ticket's latest customer mail naming one names (`order_number_regex`)."""
    named = [m["order_number"] for m in messages if m.get("order_number") and m.get("direction") == "in"]
    return named[-1] if named else None


def shop_lines(history: dict | None, when: str) -> list[str]:
    """The lines `customers show` and `tickets show` print of a history; `when`: its lookup time, formatted."""
    if history is None:
        return []
    if history["looked_up_at"] is None:
        return ["  shop: not looked up yet (the shop job looks customers up after their mail)"]
    lines = []
    if history["found"]:
        lines.append(
            f"  shop: customer {history['customer_id']} since {history['registered']}, {history['orders']} orders, "
            f"{history['total_spent']} spent (looked up {when})"
        )
        for order in history["recent"]:
            lines.append(f"    order {order['reference']}  {order['date']}  {order['total']}  state {order['state']}")
        named = history.get("named_order")
        if named:
            lines.append(
                f"  order named in the mail: {named['reference']}, state {named['state']}, {named['total']}, "
                f"{named['date']}"
            )
        elif history["named_number"]:
            lines.append(f"  order named in the mail: {history['named_number']}, not among this customer's orders")
    elif not history["error"]:
        lines.append(f"  shop: no customer with this address (looked up {when})")
    if history["error"]:
        lines.append(f"  shop: last lookup failed {when}: {history['error']}")
    return lines
