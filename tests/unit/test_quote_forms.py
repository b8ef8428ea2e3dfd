"""Quote stripping of the forms real mail programs write (issue 15): phone and app signatures with the quote after
them, quote headers in many languages, Outlook's separators, bottom-posted answers and mailing-list footers; and the
text that only looks like one of them, which is kept."""

from __future__ import annotations

import pytest

from mailbridge.decisions.inbound.reply_text import strip_reply

ANSWER = "The parcel arrived today, but the lid of the box is cracked.\nCan you send a new one?"
QUOTE = "> Dear Anna,\n> your order 1234 has shipped.\n> Kind regards, Shop support\n"


@pytest.mark.parametrize(
    "signature",
    [
        "Sent from my iPhone",
        "Sent from my iPad",
        "Sent from my BlackBerry",
        "Sent from my Verizon Wireless BlackBerry",
        "Sent from TypeApp",
        "Sent from Yahoo Mail on Android",
        "Get Outlook for iOS<https://aka.ms/o0ukef>",
        "Get Outlook for Android",
        "Gesendet von Outlook für Android",
        "Von meinem iPhone gesendet",
        "Envoyé de mon iPhone",
        "Inviato da iPhone",
        "Odesláno z iPhonu",
        "Στάλθηκε από το iPhone μου",
    ],
)
def test_phone_signature_and_the_quote_after_it_are_cut(signature):
    mail = f"{ANSWER}\n\n{signature}\n\n> On 12 Mar 2024, at 10:00, Shop support <support@shop.example> wrote:\n{QUOTE}"
    assert strip_reply(mail) == ANSWER


def test_phone_signature_over_an_unmarked_outlook_quote_is_cut():
    mail = (
        f"{ANSWER}\n\nGet Outlook for iOS<https://aka.ms/o0ukef>\n________________________________\n"
        "From: Shop support <support@shop.example>\nSent: Tuesday, March 12, 2024 10:00:12 AM\n"
        "To: Anna Rossi <anna@example.org>\nSubject: Your order 1234\n\nDear Anna,\nyour order has shipped.\n"
    )
    assert strip_reply(mail) == ANSWER


@pytest.mark.parametrize(
    "header",
    [
        "ср, 13 мар. 2024 г. в 10:00, Shop support <support@shop.example>:",
        "13.03.2024, 10:00, Shop support пишет:",
        "Анна, 13 марта 2024 в 10:00 Shop support <support@shop.example> написал(а):",
        "ke 13.3.2024 klo 10.00 Shop support (support@shop.example) kirjoitti:",
        "Le mer. 13 mars 2024 à 10:00, Shop support <support@shop.example> a écrit :",
        "Le mer. 13 mars 2024 à 10:00, Shop support <support@shop.example>\na écrit :",
        'Message du 13/03/24 10:00\nDe : "Shop support" <support@shop.example>\nA : anna@example.org',
        "---- On Wed, 13 Mar 2024 10:00:00 +0100 Shop support <support@shop.example> wrote ----",
        "On Wed, Mar 13, 2024 at 10:00 AM Shop support wrote",
        "W dniu 13.03.2024 o 10:00, Shop support <support@shop.example> napisał(a):",
        "W dniu 2024-03-13 10:00:00 użytkownik Shop support <support@shop.example> napisał:",
        "Op wo 13 mrt 2024 om 10:00 schreef Shop support <support@shop.example>:",
        "Op 13 maart 2024 10:00 schreef Shop support <\nsupport@shop.example>:",
        "Den ons 13 mars 2024 kl 10:00 skrev Shop support <support@shop.example>:",
        "ons. 13. mar. 2024 kl. 10:00 skrev Shop support <support@shop.example\n>:",
        "Am Mi., 13. März 2024 um 10:00 Uhr schrieb Shop support <support@shop.example>:",
        "Il giorno mer 13 mar 2024 alle ore 10:00 Shop support <support@shop.example> ha scritto:",
        "El mié, 13 mar 2024 a las 10:00, Shop support (<support@shop.example>) escribió:",
        "Em qua., 13 de mar. de 2024 às 10:00, Shop support <support@shop.example> escreveu:",
        "Στις Τετ, 13 Μαρ 2024 στις 10:00, ο/η Shop support <support@shop.example> έγραψε:",
        "út 12. 3. 2024 v 10:00 odesílatel Shop support <support@shop.example> napsal:",
        "2024-03-13 10:00 GMT+01:00 Shop support <support@shop.example>:",
        '10:00 AM, March 13, 2024, "Shop support" <support@shop.example>:',
    ],
)
def test_quote_header_of_many_languages_and_forms_cuts_the_quote(header):
    quoted = f"{ANSWER}\n\n{header}\n\n{QUOTE}"
    # Mail programs that turn an HTML quote into text leave its lines unmarked.
    unmarked = f"{ANSWER}\n\n{header}\n\nDear Anna,\nyour order 1234 has shipped.\nKind regards, Shop support\n"
    assert strip_reply(quoted) == ANSWER
    assert strip_reply(unmarked) == ANSWER


@pytest.mark.parametrize(
    "separator",
    [
        "-----Original Message-----",
        "-----Ursprüngliche Nachricht-----",
        "-------- Message d'origine --------",
        "-------- Messaggio originale --------",
        "-------- Původní zpráva --------",
        "-------- Αρχικό μήνυμα --------",
        "-------- Mensaje original --------",
        "-------- Oorspronkelijk bericht --------",
        "-------- Wiadomość oryginalna --------",
        "-------- Oprindelig besked --------",
    ],
)
def test_original_message_separator_lines_are_cut_with_the_quote(separator):
    mail = f"{ANSWER}\n\n{separator}\nDe : Shop support\nDate : 13/03/24 10:00\nDear Anna,\nyour order shipped.\n"
    assert strip_reply(mail) == ANSWER


@pytest.mark.parametrize(
    "block",
    [
        "From: Shop support <support@shop.example>\nSent: Wednesday, 13 March 2024 10:00\nTo: Anna\nSubject: Order",
        "De : Shop support <support@shop.example>\nEnvoyé le : mercredi 13 mars 2024 10:00\nÀ : Anna\nObjet : Commande",
        "Da: Shop support <support@shop.example>\nInviato: mercoledì 13 marzo 2024 10:00\nA: Anna\nOggetto: Ordine",
        "Od: Shop support <support@shop.example>\nOdesláno: středa 13. března 2024 10:00\nKomu: Anna",
        "Από: Shop support <support@shop.example>\nΣτάλθηκε: Τετάρτη, 13 Μαρτίου 2024 10:00\nΠρος: Anna",
        "Von: Shop support <support@shop.example>\nGesendet: Mittwoch, 13. März 2024 10:00\nAn: Anna",
        "De: Shop support <support@shop.example>\nEnviado: miércoles, 13 de marzo de 2024 10:00\nPara: Anna",
        "*From:* Shop support [mailto:support@shop.example]\n*Sent:* Wednesday, March 13, 2024 10:00 AM",
    ],
)
def test_outlook_header_block_under_a_line_of_underscores_is_cut(block):
    mail = f"{ANSWER}\n\n________________________________\n{block}\n\nDear Anna,\nyour order has shipped.\n"
    assert strip_reply(mail) == ANSWER


def test_bottom_posted_answer_under_the_quote_is_kept():
    mail = f"On Wed, 13 Mar 2024 at 10:00, Shop support <support@shop.example> wrote:\n{QUOTE}\n{ANSWER}\n"
    assert strip_reply(mail) == ANSWER


def test_bottom_posted_answer_with_a_greeting_above_the_quote_keeps_both():
    mail = f"Hi,\nOn Wed, 13 Mar 2024 at 10:00, Shop support wrote:\n{QUOTE}\n{ANSWER}\n\n> Shop support\n"
    assert strip_reply(mail) == f"Hi,\n\n{ANSWER}"


def test_bottom_posted_answer_without_a_quote_header_and_with_a_phone_signature():
    mail = f"{QUOTE}\n{ANSWER}\n\nSent from my iPhone\n"
    assert strip_reply(mail) == ANSWER


def test_interleaved_answers_keep_the_quotes_between_them():
    mail = (
        "On Wed, 13 Mar 2024 at 10:00, Shop support <support@shop.example> wrote:\n"
        "> Did the parcel arrive?\n\nYes, today.\n\n> Is everything in it?\n\nThe lid is cracked.\n\n"
        "> Kind regards\n> Shop support\n"
    )
    assert strip_reply(mail) == "Yes, today.\n\n> Is everything in it?\n\nThe lid is cracked."


def test_quote_of_a_nested_header_inside_the_quote_does_not_end_the_bottom_posted_answer():
    mail = (
        "On Wed, 13 Mar 2024 at 10:00, Shop support <support@shop.example> wrote:\n> Did it arrive?\n"
        "> On Tue, 12 Mar 2024 at 09:00, Anna <anna@example.org> wrote:\n>> Where is my parcel?\n\n"
        f"{ANSWER}\n"
    )
    assert strip_reply(mail) == ANSWER


def test_a_wrapped_quoted_line_is_not_taken_for_an_answer():
    mail = (
        f"{ANSWER}\n\nOp 13 maart 2024 10:00 schreef Shop support <\nsupport@shop.example>:\n\n"
        '> Beste Anna,\n> "Your parcel will be delivered by our courier on Thursday between nine and\n'
        "twelve o'clock\"\n>\n"
    )
    assert strip_reply(mail) == ANSWER


def test_google_groups_footer_is_cut():
    mail = (
        f"{ANSWER}\n\n-- \nYou received this message because you are subscribed to the Google Groups "
        '"shop-support" group.\nTo unsubscribe from this group and stop receiving emails from it, send an email '
        "to shop-support+unsubscribe@googlegroups.com.\n"
    )
    assert strip_reply(mail) == ANSWER


def test_google_groups_footer_without_dash_dash_is_cut():
    mail = f'{ANSWER}\n\nYou received this message because you are subscribed to the Google Groups "support" group.\n'
    assert strip_reply(mail) == ANSWER


@pytest.mark.parametrize(
    "footer",
    [
        "_______________________________________________\nshop-users mailing list\nshop-users@lists.example.org\n"
        "https://lists.example.org/mailman/listinfo/shop-users\n",
        "\n_______________________________________________\nShop-users mailing list -- shop-users@lists.example.org\n"
        "To unsubscribe send an email to shop-users-leave@lists.example.org\n",
    ],
)
def test_mailman_footer_is_cut(footer):
    assert strip_reply(f"{ANSWER}\n{footer}") == ANSWER


def test_mailman_footer_after_a_bottom_posted_answer_is_cut():
    mail = (
        f"On Wed, 13 Mar 2024 at 10:00, Shop support wrote:\n{QUOTE}\n{ANSWER}\n\n"
        "> _______________________________________________\n> shop-users mailing list\n"
        "> shop-users@lists.example.org\n\n\n\n_______________________________________________\n"
        "shop-users mailing list\nshop-users@lists.example.org\n"
    )
    assert strip_reply(mail) == ANSWER


def test_phone_signature_under_a_closing_is_cut_and_the_closing_kept():
    assert (
        strip_reply(f"{ANSWER}\n\nS pozdravem,\nAnna Rossi\n\nSent from my iPhone\n")
        == f"{ANSWER}\n\nS pozdravem,\nAnna Rossi"
    )


# Never cut too much: text that only looks like a quote header, a signature or a footer is kept.
@pytest.mark.parametrize(
    "text",
    [
        'Hello,\n\nLast week my colleague wrote:\n"We will refund you within a week."\nNothing happened since.',
        "Hello,\nI called on 3 May and nobody wrote\nback to me. Please answer.",
        "Here is my answer\n\nSent from my desk, which is easier than my phone.",
        "Please check these:\n-- the colour\n-- the size\n\nThanks!",
        "I still have the same problem.\n\nThanks!",
        "The parcel left today.\n\nKind regards,\n\nMaria Rossi\nShop support",
        "Hello,\nmy order from 12.03.2024 10:00 (order 1234):\n- one blue shirt\n- one red shirt",
        "Hi,\nabout your question:\n> Which size did you order?\nSize M, as always.\n\nAnna",
        "From: Anna Rossi, Via Roma 1, Milano\nI want to return the shirt.",
        "The delivery note said:\n________________________________\nsize M, colour blue",
        "Best regards to the courier, he was very kind.\nThe lid is cracked though.",
    ],
)
def test_text_that_only_looks_like_a_quote_or_signature_is_kept(text):
    assert strip_reply(text) == text
