"""Decision: a customer's shop history (registration, orders, total spent) read from the shop's answers. Pure.

Input: the JSON the PrestaShop webservice answered (`customers` and `orders`, `display=full&output_format=JSON`) or
what an `order_lookup_command` printed; output: a `ShopHistory`, kept in the cache as `to_payload`'s JSON, and the
short summary that `customers show`, `tickets show` and agent notifications print (`summarise`).
Called by runtime.shop_lookup (parsing), store.shop_cache and reports.shop (reading the cache back).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

RECENT_ORDERS = 5  # orders listed by name in a summary, newest first
MAX_ORDERS = 500  # kept of one customer's orders (the newest): a cache row stays small


class ShopAnswerError(ValueError):
    """The shop's answer is not in the expected shape."""


@dataclass(frozen=True)
class ShopOrder:
    id: str
    reference: str
    total: Decimal
    date: str  # YYYY-MM-DD (or as the shop wrote it)
    state: str


@dataclass(frozen=True)
class ShopHistory:
    customer_id: str
    name: str
    registered: str  # YYYY-MM-DD
    orders: tuple[ShopOrder, ...]  # newest first

    @property
    def total_spent(self) -> Decimal:
        return sum((o.total for o in self.orders), Decimal(0))


def parse_prestashop_customers(answer: Any) -> dict[str, Any] | None:
    """Return the first customer of a `GET /api/customers?filter[email]=...` answer; None when it found none.

    PrestaShop answers an empty list as `[]` (not `{"customers": []}`), a list as `{"customers": [{...}]}`.
    """
    if answer == [] or answer == {}:
        return None
    if not isinstance(answer, dict) or not isinstance(answer.get("customers"), list):
        raise ShopAnswerError('expected {"customers": [...]} from the webservice')
    found = [c for c in answer["customers"] if isinstance(c, dict) and "id" in c]
    # Guests (is_guest "1") and accounts share the address: the oldest registration counts.
    return min(found, key=lambda c: _number(c["id"]), default=None)


def parse_prestashop(customer: dict[str, Any], orders_answer: Any) -> ShopHistory:
    """Return the history of a webservice customer and its `GET /api/orders?filter[id_customer]=...` answer."""
    if orders_answer == [] or orders_answer == {}:
        rows: list[Any] = []
    elif isinstance(orders_answer, dict) and isinstance(orders_answer.get("orders"), list):
        rows = orders_answer["orders"]
    else:
        raise ShopAnswerError('expected {"orders": [...]} from the webservice')
    orders = [
        _order(o.get("id"), o.get("reference"), o.get("total_paid"), o.get("date_add"), o.get("current_state"))
        for o in rows
        if isinstance(o, dict)
    ]
    return _history(customer.get("id"), customer.get("firstname"), customer.get("lastname"), customer, orders)


def parse_command_output(text: str) -> ShopHistory | None:
    """Return the history an `order_lookup_command` printed; None for `{"customer": null}` (no such customer).

    Shape: {"customer": {"id", "firstname", "lastname", "registered"}, "orders": [{"id", "reference", "total",
    "date", "state"}]}. Raises: ShopAnswerError for anything else.
    """
    try:
        answer = json.loads(text)
    except ValueError as exc:
        raise ShopAnswerError(f"not JSON ({exc})") from None
    if not isinstance(answer, dict) or "customer" not in answer:
        raise ShopAnswerError('expected {"customer": ..., "orders": [...]}')
    customer = answer["customer"]
    if customer is None:
        return None
    rows = answer.get("orders", [])
    if not isinstance(customer, dict) or not isinstance(rows, list):
        raise ShopAnswerError('expected "customer" to be an object and "orders" a list')
    orders = [
        _order(o.get("id"), o.get("reference"), o.get("total"), o.get("date"), o.get("state"))
        for o in rows
        if isinstance(o, dict)
    ]
    return _history(customer.get("id"), customer.get("firstname"), customer.get("lastname"), customer, orders)


def _history(customer_id: Any, first: Any, last: Any, customer: dict[str, Any], orders: list[ShopOrder]) -> ShopHistory:
    registered = customer.get("registered", customer.get("date_add"))
    newest_first = sorted(orders, key=lambda o: (o.date, _number(o.id)), reverse=True)[:MAX_ORDERS]
    name = " ".join(str(p).strip() for p in (first, last) if p and str(p).strip())
    return ShopHistory(_text(customer_id), name[:200], _day(registered), tuple(newest_first))


def _order(order_id: Any, reference: Any, total: Any, date: Any, state: Any) -> ShopOrder:
    try:
        amount = Decimal(str(total)) if total not in (None, "") else Decimal(0)
    except InvalidOperation:
        raise ShopAnswerError(f"order {order_id}: total {total!r} is not a number") from None
    if not amount.is_finite():
        raise ShopAnswerError(f"order {order_id}: total {total!r} is not a number")
    return ShopOrder(_text(order_id), _text(reference), amount.quantize(Decimal("0.01")), _day(date), _text(state))


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()[:100]


def _day(value: Any) -> str:
    """The date of a shop timestamp ("2021-03-04 10:22:33" -> "2021-03-04"); PrestaShop's empty date is zeros."""
    text = _text(value)[:10]
    return "" if text.startswith("0000") else text


def _number(value: Any) -> int:
    try:
        return int(str(value))
    except ValueError:
        return 0


def to_payload(history: ShopHistory | None) -> str:
    """The cache's JSON of a history (None: the shop knows no such customer)."""
    if history is None:
        return json.dumps({"customer": None, "orders": []})
    return json.dumps(
        {
            "customer": {"id": history.customer_id, "name": history.name, "registered": history.registered},
            "orders": [
                {"id": o.id, "reference": o.reference, "total": str(o.total), "date": o.date, "state": o.state}
                for o in history.orders
            ],
        }
    )


def from_payload(payload: str) -> ShopHistory | None:
    """Read back `to_payload`'s JSON."""
    data = json.loads(payload)
    customer = data.get("customer")
    if customer is None:
        return None
    orders = tuple(
        ShopOrder(o["id"], o["reference"], Decimal(o["total"]), o["date"], o["state"]) for o in data["orders"]
    )
    return ShopHistory(customer["id"], customer["name"], customer["registered"], orders)


def find_order(history: ShopHistory, number: str | None) -> ShopOrder | None:
    """The order a mail names (its reference or its id, any case), or None."""
    if not number:
        return None
    wanted = number.strip().lower().lstrip("#")
    return next((o for o in history.orders if wanted in (o.reference.lower(), o.id.lower()) and wanted), None)


def format_amount(amount: Decimal, currency: str) -> str:
    return f"{amount:.2f} {currency}".strip()


def summarise(history: ShopHistory | None, currency: str, order_number: str | None = None) -> dict[str, Any]:
    """The plain values shown of a history: found, orders, total spent, registration, recent orders, the named one."""
    if history is None:
        return {"found": False}
    named = find_order(history, order_number)
    return {
        "found": True,
        "customer_id": history.customer_id,
        "name": history.name,
        "registered": history.registered or "?",
        "orders": len(history.orders),
        "total_spent": format_amount(history.total_spent, currency),
        "recent": [_shown(o, currency) for o in history.orders[:RECENT_ORDERS]],
        "named_order": _shown(named, currency) if named else None,
    }


def _shown(order: ShopOrder, currency: str) -> dict[str, str]:
    return {
        "id": order.id,
        "reference": order.reference or order.id,
        "total": format_amount(order.total, currency),
        "date": order.date,
        "state": order.state,
    }
