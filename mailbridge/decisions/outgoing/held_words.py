"""Decision: the one-line notices about answers that wait (undo window, collision control, a take). Pure.

`service.answer_window` renders them into the agent notice template (`agent_notice`), in the agent's locale
(English for a locale without them). A time is said in the Contact's `[sla]` zone with its abbreviation, as the
receipt's "answer by" line says it (`clock_words`: "10:03 (CET)").
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from mailbridge.base.clock import utc
from mailbridge.decisions.inbound.language import FALLBACK

HELD_PHRASES: dict[str, dict[str, str]] = {
    "en": {
        "waiting": "Your answer to ticket #{number} goes out at {time}; reply #cancel to take it back.",
        "recalled": "Your answer to ticket #{number} was taken back: it was not sent and is kept as a note.",
        "already_sent": "Your answer to ticket #{number} can no longer be taken back: it was sent at {time}.",
        "nothing_waiting": "No answer of yours to ticket #{number} is waiting to be sent: nothing was taken back.",
        "stale_answered": "{name} answered ticket #{number} at {time}, after the mail you replied to. Your answer "
        "was not sent and is kept as a note; reply #send to send it anyway.",
        "stale_assigned": "Ticket #{number} was assigned to {name} at {time}, after the mail you replied to. Your "
        "answer was not sent and is kept as a note; reply #send to send it anyway.",
        "nothing_held": "No answer of yours to ticket #{number} is held back: nothing was sent.",
        "taken": "{name} took ticket #{number}.",
    },
    "de": {
        "waiting": "Ihre Antwort zu Ticket #{number} geht um {time} hinaus; antworten Sie #cancel, um sie "
        "zurückzuholen.",
        "recalled": "Ihre Antwort zu Ticket #{number} wurde zurückgeholt: Sie wurde nicht gesendet und bleibt als "
        "Notiz erhalten.",
        "already_sent": "Ihre Antwort zu Ticket #{number} kann nicht mehr zurückgeholt werden: Sie wurde um {time} "
        "gesendet.",
        "nothing_waiting": "Keine Antwort von Ihnen zu Ticket #{number} wartet auf den Versand: nichts wurde "
        "zurückgeholt.",
        "stale_answered": "{name} hat Ticket #{number} um {time} beantwortet, nach der Mail, auf die Sie "
        "geantwortet haben. Ihre Antwort wurde nicht gesendet und bleibt als Notiz erhalten; antworten Sie #send, um "
        "sie trotzdem zu senden.",
        "stale_assigned": "Ticket #{number} wurde um {time} {name} zugewiesen, nach der Mail, auf die Sie "
        "geantwortet haben. Ihre Antwort wurde nicht gesendet und bleibt als Notiz erhalten; antworten Sie #send, um "
        "sie trotzdem zu senden.",
        "nothing_held": "Keine Antwort von Ihnen zu Ticket #{number} wird zurückgehalten: nichts wurde gesendet.",
        "taken": "{name} hat Ticket #{number} übernommen.",
    },
    "it": {
        "waiting": "La Sua risposta al ticket #{number} parte alle {time}; risponda #cancel per ritirarla.",
        "recalled": "La Sua risposta al ticket #{number} è stata ritirata: non è stata inviata ed è conservata come "
        "nota.",
        "already_sent": "La Sua risposta al ticket #{number} non può più essere ritirata: è stata inviata alle {time}.",
        "nothing_waiting": "Nessuna Sua risposta al ticket #{number} è in attesa di invio: non è stato ritirato nulla.",
        "stale_answered": "{name} ha risposto al ticket #{number} alle {time}, dopo la mail a cui ha risposto. La "
        "Sua risposta non è stata inviata ed è conservata come nota; risponda #send per inviarla comunque.",
        "stale_assigned": "Il ticket #{number} è stato assegnato a {name} alle {time}, dopo la mail a cui ha "
        "risposto. La Sua risposta non è stata inviata ed è conservata come nota; risponda #send per inviarla "
        "comunque.",
        "nothing_held": "Nessuna Sua risposta al ticket #{number} è trattenuta: non è stato inviato nulla.",
        "taken": "{name} ha preso in carico il ticket #{number}.",
    },
    "cs": {
        "waiting": "Vaše odpověď k tiketu #{number} odejde v {time}; odpovězte #cancel, chcete-li ji vzít zpět.",
        "recalled": "Vaše odpověď k tiketu #{number} byla vzata zpět: nebyla odeslána a zůstává jako poznámka.",
        "already_sent": "Vaši odpověď k tiketu #{number} už nelze vzít zpět: byla odeslána v {time}.",
        "nothing_waiting": "Žádná vaše odpověď k tiketu #{number} nečeká na odeslání: nic nebylo vzato zpět.",
        "stale_answered": "{name} odpověděl(a) na tiket #{number} v {time}, po e-mailu, na který jste odpověděli. "
        "Vaše odpověď nebyla odeslána a zůstává jako poznámka; odpovězte #send, chcete-li ji přesto odeslat.",
        "stale_assigned": "Tiket #{number} byl v {time} přidělen: {name}, po e-mailu, na který jste odpověděli. "
        "Vaše odpověď nebyla odeslána a zůstává jako poznámka; odpovězte #send, chcete-li ji přesto odeslat.",
        "nothing_held": "Žádná vaše odpověď k tiketu #{number} není zadržena: nic nebylo odesláno.",
        "taken": "Tiket #{number} převzal(a) {name}.",
    },
    "el": {
        "waiting": "Η απάντησή σας στο αίτημα #{number} φεύγει στις {time}· απαντήστε #cancel για να την ανακαλέσετε.",
        "recalled": "Η απάντησή σας στο αίτημα #{number} ανακλήθηκε: δεν στάλθηκε και διατηρείται ως σημείωση.",
        "already_sent": "Η απάντησή σας στο αίτημα #{number} δεν μπορεί πλέον να ανακληθεί: στάλθηκε στις {time}.",
        "nothing_waiting": "Καμία απάντησή σας στο αίτημα #{number} δεν περιμένει αποστολή: δεν ανακλήθηκε τίποτα.",
        "stale_answered": "Ο/Η {name} απάντησε στο αίτημα #{number} στις {time}, μετά το μήνυμα στο οποίο "
        "απαντήσατε. Η απάντησή σας δεν στάλθηκε και διατηρείται ως σημείωση· απαντήστε #send για να σταλεί "
        "παρ' όλα αυτά.",
        "stale_assigned": "Το αίτημα #{number} ανατέθηκε σε: {name} στις {time}, μετά το μήνυμα στο οποίο "
        "απαντήσατε. Η απάντησή σας δεν στάλθηκε και διατηρείται ως σημείωση· απαντήστε #send για να σταλεί "
        "παρ' όλα αυτά.",
        "nothing_held": "Καμία απάντησή σας στο αίτημα #{number} δεν έχει κρατηθεί: δεν στάλθηκε τίποτα.",
        "taken": "Ο/Η {name} ανέλαβε το αίτημα #{number}.",
    },
}


def held_phrase(key: str, locale: str, **values: object) -> str:
    """Say one of the HELD_PHRASES in the locale (English for one without them), with its values filled in."""
    words = HELD_PHRASES.get(locale) or HELD_PHRASES[FALLBACK]
    return words[key].format(**values)


def clock_words(at: datetime | None, now: datetime, zone: ZoneInfo) -> str:
    """Say `at` in `zone`: "10:03 (CET)", with the date ("2026-11-23 10:03 (CET)") when it is another day there than
    `now`; "?" when the time is not known."""
    if at is None:
        return "?"
    local = utc(at).astimezone(zone)
    day = "" if local.date() == now.astimezone(zone).date() else f"{local:%Y-%m-%d} "
    return f"{day}{local:%H:%M} ({local.tzname()})"
