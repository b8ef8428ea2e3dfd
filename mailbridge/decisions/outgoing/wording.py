"""Decision: the human words agent and outsider mail shows instead of internal labels. Pure.

Input: a status, a message kind, a headline key or a notice, and a locale; output: the words in that language
(English for a locale without them). `agent_mail` and `agent_desk` call it before rendering a template, so the
templates never print a stored value such as `agent_reply_in` or `pending1`. `shown_agent_text` removes an agent's
command lines from text that others read.
"""

from __future__ import annotations

from mailbridge.decisions.agent_commands import TEXT_LINE, parse_agent_reply
from mailbridge.decisions.inbound.language import FALLBACK

STATUS_WORDS: dict[str, dict[str, str]] = {
    "en": {
        "new": "new",
        "open": "open",
        "waiting": "waiting for the customer",
        "pending1": "on hold (1)",
        "pending2": "on hold (2)",
        "closed": "closed",
        "spam": "spam",
        "merged": "merged into another ticket",
    },
    "it": {
        "new": "nuovo",
        "open": "aperto",
        "waiting": "in attesa del cliente",
        "pending1": "sospeso (1)",
        "pending2": "sospeso (2)",
        "closed": "chiuso",
        "spam": "spam",
        "merged": "unito a un altro ticket",
    },
    "cs": {
        "new": "nový",
        "open": "otevřený",
        "waiting": "čeká na zákazníka",
        "pending1": "odložený (1)",
        "pending2": "odložený (2)",
        "closed": "uzavřený",
        "spam": "spam",
        "merged": "sloučený s jiným tiketem",
    },
    "el": {
        "new": "νέο",
        "open": "ανοιχτό",
        "waiting": "σε αναμονή του πελάτη",
        "pending1": "σε εκκρεμότητα (1)",
        "pending2": "σε εκκρεμότητα (2)",
        "closed": "κλειστό",
        "spam": "ανεπιθύμητο",
        "merged": "συγχωνευμένο σε άλλο δελτίο",
    },
    "de": {
        "new": "neu",
        "open": "offen",
        "waiting": "wartet auf den Kunden",
        "pending1": "zurückgestellt (1)",
        "pending2": "zurückgestellt (2)",
        "closed": "geschlossen",
        "spam": "Spam",
        "merged": "mit einem anderen Ticket zusammengeführt",
    },
}

# Who wrote a message of the thread, by Message.kind.
MESSAGE_WORDS: dict[str, dict[str, str]] = {
    "en": {
        "customer": "Customer",
        "agent_reply_in": "Agent",
        "agent_reply": "Answer to the customer",
        "outsider_reply": "External answer",
        "agent_note": "Internal note",
        "auto_reply": "Automatic reply",
        "bounce": "Delivery failure",
        "survey_answer": "Rating",
        "survey_rejected": "Rating not accepted",
        "too_large": "Message too large",
        "quarantined": "Message set aside",
    },
    "it": {
        "customer": "Cliente",
        "agent_reply_in": "Operatore",
        "agent_reply": "Risposta al cliente",
        "outsider_reply": "Risposta esterna",
        "agent_note": "Nota interna",
        "auto_reply": "Risposta automatica",
        "bounce": "Mancata consegna",
        "survey_answer": "Valutazione",
        "survey_rejected": "Valutazione non accettata",
        "too_large": "Messaggio troppo grande",
        "quarantined": "Messaggio messo da parte",
    },
    "cs": {
        "customer": "Zákazník",
        "agent_reply_in": "Pracovník podpory",
        "agent_reply": "Odpověď zákazníkovi",
        "outsider_reply": "Externí odpověď",
        "agent_note": "Interní poznámka",
        "auto_reply": "Automatická odpověď",
        "bounce": "Nedoručitelná zpráva",
        "survey_answer": "Hodnocení",
        "survey_rejected": "Nepřijaté hodnocení",
        "too_large": "Příliš velká zpráva",
        "quarantined": "Odložená zpráva",
    },
    "el": {
        "customer": "Πελάτης",
        "agent_reply_in": "Εκπρόσωπος υποστήριξης",
        "agent_reply": "Απάντηση στον πελάτη",
        "outsider_reply": "Εξωτερική απάντηση",
        "agent_note": "Εσωτερική σημείωση",
        "auto_reply": "Αυτόματη απάντηση",
        "bounce": "Αποτυχία παράδοσης",
        "survey_answer": "Αξιολόγηση",
        "survey_rejected": "Μη αποδεκτή αξιολόγηση",
        "too_large": "Πολύ μεγάλο μήνυμα",
        "quarantined": "Μήνυμα σε αναμονή ελέγχου",
    },
    "de": {
        "customer": "Kunde",
        "agent_reply_in": "Mitarbeiter",
        "agent_reply": "Antwort an den Kunden",
        "outsider_reply": "Externe Antwort",
        "agent_note": "Interne Notiz",
        "auto_reply": "Automatische Antwort",
        "bounce": "Unzustellbar",
        "survey_answer": "Bewertung",
        "survey_rejected": "Abgelehnte Bewertung",
        "too_large": "Nachricht zu groß",
        "quarantined": "Zurückgestellte Nachricht",
    },
}

# The first line of a notification, by key; `{sender}` is filled in.
HEADLINES: dict[str, dict[str, str]] = {
    "en": {
        "new_ticket": "New ticket",
        "new_message": "New message",
        "message_from": "New message from {sender}",
        "assigned": "Assigned to you",
        "answer_from": "Answer from {sender}",
    },
    "it": {
        "new_ticket": "Nuovo ticket",
        "new_message": "Nuovo messaggio",
        "message_from": "Nuovo messaggio da {sender}",
        "assigned": "Assegnato a Lei",
        "answer_from": "Risposta da {sender}",
    },
    "cs": {
        "new_ticket": "Nový tiket",
        "new_message": "Nová zpráva",
        "message_from": "Nová zpráva od {sender}",
        "assigned": "Přiděleno Vám",
        "answer_from": "Odpověď od {sender}",
    },
    "el": {
        "new_ticket": "Νέο αίτημα",
        "new_message": "Νέο μήνυμα",
        "message_from": "Νέο μήνυμα από {sender}",
        "assigned": "Σας ανατέθηκε",
        "answer_from": "Απάντηση από {sender}",
    },
    "de": {
        "new_ticket": "Neues Ticket",
        "new_message": "Neue Nachricht",
        "message_from": "Neue Nachricht von {sender}",
        "assigned": "Ihnen zugewiesen",
        "answer_from": "Antwort von {sender}",
    },
}

# One-line notices to an agent and the history line of a notification; `{...}` is filled in.
PHRASES: dict[str, dict[str, str]] = {
    "en": {
        "nothing_sent": "Nothing was sent to the customer: {problems}",
        "undelivered_answer": "Your answer on ticket #{number} to {address} was not delivered ({why}): {error}. It is kept; correct the address or run `mailbridge outbox retry {id}`.",
        "undelivered_forward": "Your forward on ticket #{number} to {address} was not delivered ({why}): {error}. It is kept; correct the address or run `mailbridge outbox retry {id}`.",
        "held": "refused or out of retries",
        "bounced": "returned by the receiving server",
        "transferred": "This ticket was transferred to {name}.",
        "history": "{count} {messages}, opened {opened}, {who}",
        "message": "message",
        "messages": "messages",
        "unassigned": "unassigned",
        "not_notified": "{count} earlier messages without a notification (at most {limit} an hour)",
        "not_attached": "not attached: mailbridge tickets show {number}",
        "text_cut": "[... {count} more characters: mailbridge tickets show {number}]",
        "flood": "{address} sent {count} messages within 10 minutes: their mail is stored as tickets, without notifications, until {until} UTC (mailbridge tickets list).",
    },
    "it": {
        "nothing_sent": "Al cliente non è stato inviato nulla: {problems}",
        "undelivered_answer": "La Sua risposta al ticket #{number} per {address} non è stata consegnata ({why}): {error}. È conservata; correggere l'indirizzo o eseguire `mailbridge outbox retry {id}`.",
        "undelivered_forward": "Il Suo inoltro del ticket #{number} a {address} non è stato consegnato ({why}): {error}. È conservato; correggere l'indirizzo o eseguire `mailbridge outbox retry {id}`.",
        "held": "rifiutata o tentativi esauriti",
        "bounced": "respinta dal server di destinazione",
        "transferred": "Questo ticket è stato trasferito a {name}.",
        "history": "{count} {messages}, aperto il {opened}, {who}",
        "message": "messaggio",
        "messages": "messaggi",
        "unassigned": "non assegnato",
        "not_notified": "{count} messaggi precedenti senza notifica (al massimo {limit} all'ora)",
        "not_attached": "non allegato: mailbridge tickets show {number}",
        "text_cut": "[... altri {count} caratteri: mailbridge tickets show {number}]",
        "flood": "{address} ha inviato {count} messaggi in 10 minuti: sono salvati come ticket, senza notifiche, fino alle {until} UTC (mailbridge tickets list).",
    },
    "cs": {
        "nothing_sent": "Zákazníkovi nebylo nic odesláno: {problems}",
        "undelivered_answer": "Vaše odpověď k tiketu #{number} pro {address} nebyla doručena ({why}): {error}. Je uložena; opravte adresu nebo spusťte `mailbridge outbox retry {id}`.",
        "undelivered_forward": "Vaše přeposlání tiketu #{number} na {address} nebylo doručeno ({why}): {error}. Je uloženo; opravte adresu nebo spusťte `mailbridge outbox retry {id}`.",
        "held": "odmítnuto nebo vyčerpány pokusy",
        "bounced": "vráceno cílovým serverem",
        "transferred": "Tento tiket nyní vyřizuje {name}.",
        "history": "{messages}: {count}, otevřeno {opened}, {who}",
        "message": "zprávy",
        "messages": "zprávy",
        "unassigned": "nepřiděleno",
        "not_notified": "předchozí zprávy bez oznámení: {count} (nejvýše {limit} za hodinu)",
        "not_attached": "nepřiloženo: mailbridge tickets show {number}",
        "text_cut": "[... dalších znaků: {count}, mailbridge tickets show {number}]",
        "flood": "{address} poslal(a) během 10 minut tolik zpráv: {count}. Ukládají se jako tikety bez oznámení až do {until} UTC (mailbridge tickets list).",
    },
    "el": {
        "nothing_sent": "Δεν στάλθηκε τίποτα στον πελάτη: {problems}",
        "undelivered_answer": "Η απάντησή σας στο αίτημα #{number} προς {address} δεν παραδόθηκε ({why}): {error}. Διατηρείται· διορθώστε τη διεύθυνση ή εκτελέστε `mailbridge outbox retry {id}`.",
        "undelivered_forward": "Η προώθησή σας του αιτήματος #{number} προς {address} δεν παραδόθηκε ({why}): {error}. Διατηρείται· διορθώστε τη διεύθυνση ή εκτελέστε `mailbridge outbox retry {id}`.",
        "held": "απορρίφθηκε ή εξαντλήθηκαν οι προσπάθειες",
        "bounced": "επιστράφηκε από τον διακομιστή παραλήπτη",
        "transferred": "Το αίτημα αυτό μεταβιβάστηκε σε: {name}.",
        "history": "{messages}: {count}, άνοιξε {opened}, {who}",
        "message": "μηνύματα",
        "messages": "μηνύματα",
        "unassigned": "χωρίς ανάθεση",
        "not_notified": "προηγούμενα μηνύματα χωρίς ειδοποίηση: {count} (το πολύ {limit} ανά ώρα)",
        "not_attached": "δεν επισυνάπτεται: mailbridge tickets show {number}",
        "text_cut": "[... ακόμη {count} χαρακτήρες: mailbridge tickets show {number}]",
        "flood": "Ο αποστολέας {address} έστειλε {count} μηνύματα μέσα σε 10 λεπτά: αποθηκεύονται ως αιτήματα, χωρίς ειδοποιήσεις, έως {until} UTC (mailbridge tickets list).",
    },
    "de": {
        "nothing_sent": "An den Kunden wurde nichts gesendet: {problems}",
        "undelivered_answer": "Ihre Antwort zu Ticket #{number} an {address} wurde nicht zugestellt ({why}): {error}. Sie ist gespeichert; korrigieren Sie die Adresse oder führen Sie `mailbridge outbox retry {id}` aus.",
        "undelivered_forward": "Ihre Weiterleitung von Ticket #{number} an {address} wurde nicht zugestellt ({why}): {error}. Sie ist gespeichert; korrigieren Sie die Adresse oder führen Sie `mailbridge outbox retry {id}` aus.",
        "held": "abgelehnt oder keine Versuche mehr",
        "bounced": "vom Empfangsserver zurückgewiesen",
        "transferred": "Dieses Ticket wurde an {name} übergeben.",
        "history": "{count} {messages}, eröffnet am {opened}, {who}",
        "message": "Nachricht",
        "messages": "Nachrichten",
        "unassigned": "nicht zugewiesen",
        "not_notified": "{count} frühere Nachrichten ohne Benachrichtigung (höchstens {limit} pro Stunde)",
        "not_attached": "nicht angehängt: mailbridge tickets show {number}",
        "text_cut": "[... {count} weitere Zeichen: mailbridge tickets show {number}]",
        "flood": "{address} hat in 10 Minuten {count} Nachrichten gesendet: sie werden bis {until} UTC ohne Benachrichtigung als Tickets gespeichert (mailbridge tickets list).",
    },
}


def _words(table: dict[str, dict[str, str]], locale: str) -> dict[str, str]:
    return table.get(locale) or table[FALLBACK]


def status_words(status: str, locale: str) -> str:
    """Say a ticket status in the locale's words (an unknown status as it is)."""
    return _words(STATUS_WORDS, locale).get(str(status), str(status))


def message_words(kind: str, locale: str) -> str:
    """Say who wrote a message of the thread, from its Message.kind (an unknown kind as it is)."""
    return _words(MESSAGE_WORDS, locale).get(str(kind), str(kind))


def headline_words(key: str, locale: str, sender: str = "") -> str:
    """Say a notification's headline from its key; text that is no key is shown as given."""
    template = _words(HEADLINES, locale).get(key)
    return template.format(sender=sender) if template is not None else key


def phrase(key: str, locale: str, **values: object) -> str:
    """Say one of the PHRASES in the locale, with its values filled in."""
    return _words(PHRASES, locale)[key].format(**values)


def history_words(count: int, opened: str, assigned: str | None, locale: str) -> str:
    """The one-line history of a ticket: messages so far, when opened, who has it."""
    words = _words(PHRASES, locale)
    return words["history"].format(
        count=count,
        messages=words["message" if count == 1 else "messages"],
        opened=opened,
        who=assigned or words["unassigned"],
    )


def shown_agent_text(text: str) -> str:
    """The text of an agent's mail as others may read it: command lines and `#text NAME` lines removed."""
    reply = parse_agent_reply(text)
    kept = reply.note if reply.is_note else reply.body
    return TEXT_LINE.sub("", kept or "").strip()
