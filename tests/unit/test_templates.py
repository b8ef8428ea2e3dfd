import pytest
from jinja2 import UndefinedError

from mailbridge.decisions.inbound.language import guess_locale
from mailbridge.decisions.outgoing.templates import make_environment, render

CONTEXT = {
    "number": "12345678901",
    "customer_name": "Anna <b>",
    "subject": "x",
    "from_name": "Shop",
    "reference_line": "Ticket: [#12345678901]",
}


@pytest.mark.parametrize(
    "locale, word", [("en", "received"), ("it", "ricevuto"), ("cs", "přijali"), ("el", "Λάβαμε"), ("de", "erhalten")]
)
def test_receipt_renders_in_each_locale(locale, word):
    mail = render(make_environment(), "receipt", locale, CONTEXT)
    assert "[#12345678901]" in mail.text and "[#12345678901]" in mail.html
    assert word.lower() in (mail.text + mail.html).lower()


def test_html_part_escapes_customer_text():
    mail = render(make_environment(), "receipt", "en", CONTEXT)
    assert "Anna &lt;b&gt;" in mail.html and "Anna <b>" in mail.text


def test_unknown_locale_falls_back_to_english():
    assert "received" in render(make_environment(), "receipt", "fi", CONTEXT).text


def test_missing_variable_is_an_error_not_blank():
    with pytest.raises(UndefinedError):
        render(make_environment(), "receipt", "en", {"number": "1"})


def test_site_override_wins(tmp_path):
    (tmp_path / "receipt").mkdir()
    (tmp_path / "receipt" / "en.txt.j2").write_text("Custom {{ number }}")
    assert render(make_environment(tmp_path), "receipt", "en", CONTEXT).text == "Custom 12345678901"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Buongiorno, il mio ordine non è arrivato, grazie", "it"),
        ("Dobrý den, moje objednávka ještě nepřišla, děkuji", "cs"),
        ("Καλησπέρα, η παραγγελία μου δεν έχει φτάσει ακόμα. Ευχαριστώ πολύ για τη βοήθεια σας", "el"),
        ("Hallo, meine Bestellung ist nicht angekommen, danke", "de"),
        ("Hello, my order has not arrived and I need it", "en"),
    ],
)
def test_locale_is_guessed_from_the_words(text, expected):
    assert guess_locale(text, None, "en") == expected


def test_content_language_wins_over_the_words():
    assert guess_locale("Hello my order is late", "it-IT", "en") == "it"
