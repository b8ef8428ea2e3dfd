"""Decision: satisfaction surveys. Rating addresses, token checks, reading a rating reply. Pure.

A survey offers five `mailto:` links to signed sub-addresses `support+rate-<token>-<1..5>@...`; the
token (reply_tokens, purpose "r") names the ticket and the day the survey was issued. Intake asks
`find_rate_address` and `check_rate_token` for a clicked rating, `read_rating_reply` for a plain
reply to the survey; `survey_mail` builds the links with `rating_links`.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from urllib.parse import quote

from mailbridge.decisions.kinds import TicketStatus
from mailbridge.decisions.matching.reply_tokens import TokenClaims, verify_token

RATING = "r"  # reply_tokens purpose of the rating addresses
SCORES = (1, 2, 3, 4, 5)
SATISFIED_FROM = 4  # a score of 4 or 5 counts as a satisfied customer
COMMENT_CHARS = 2000
# The base may be a sub-address itself (a Contact's address support+sales@...): the last "+rate-" starts the token.
_RATE_LOCAL = re.compile(r"^(?P<base>.+)\+rate-(?P<token>[a-z2-7.]+)-(?P<score>[1-5])$")
_DIGIT = re.compile(r"^(?P<score>[1-5])(?![\d.,])(?:\s*(?:/\s*5|stars?|stelle|hvězd\w*|sterne?|αστέρια))?")
_SEPARATORS = " \t\r\n.,;:!?-–—()[]\"'«»*"
# The prefilled subject of a rating mail, before "[#number] 4/5".
RATING_SUBJECTS = {
    "en": "My rating",
    "it": "La mia valutazione",
    "cs": "Moje hodnocení",
    "el": "Η βαθμολογία μου",
    "de": "Meine Bewertung",
}

# Words a customer may answer with, per locale (en, it, cs, el, de). Compared without accents and
# case; a phrase is tried before any shorter one it starts with ("sehr gut" before "gut").
RATING_WORDS: dict[int, tuple[str, ...]] = {
    5: (
        "excellent",
        "great",
        "perfect",
        "outstanding",
        "very good",
        "ottimo",
        "eccellente",
        "perfetto",
        "benissimo",
        "výborné",
        "výborně",
        "vynikající",
        "skvělé",
        "skvěle",
        "άριστα",
        "εξαιρετικά",
        "τέλεια",
        "πολύ καλά",
        "sehr gut",
        "ausgezeichnet",
        "hervorragend",
        "perfekt",
    ),
    4: ("good", "buono", "bene", "dobré", "dobře", "καλά", "καλό", "gut"),
    3: (
        "ok",
        "okay",
        "average",
        "so so",
        "so-so",
        "discreto",
        "sufficiente",
        "così così",
        "ucházející",
        "průměrné",
        "průměr",
        "μέτρια",
        "μέτριο",
        "befriedigend",
        "mittel",
        "geht so",
    ),
    2: ("bad", "poor", "scarso", "male", "insufficiente", "špatné", "špatně", "κακό", "κακά", "schlecht"),
    1: (
        "terrible",
        "awful",
        "very bad",
        "very poor",
        "horrible",
        "pessimo",
        "molto male",
        "velmi špatné",
        "hrozné",
        "příšerné",
        "απαίσια",
        "πολύ κακό",
        "πολύ κακά",
        "sehr schlecht",
        "furchtbar",
        "schrecklich",
    ),
}


class TokenVerdict(StrEnum):
    VALID = "valid"
    FORGED = "forged"  # altered or made up: the signature does not match
    EXPIRED = "expired"  # older than survey window_days


@dataclass(frozen=True)
class RateAddress:
    token: str
    score: int


@dataclass(frozen=True)
class TokenCheck:
    verdict: TokenVerdict
    claims: TokenClaims | None  # None when forged


@dataclass(frozen=True)
class RatingReply:
    score: int
    comment: str


@dataclass(frozen=True)
class RatingLink:
    score: int
    address: str
    href: str  # mailto: URI with the prefilled subject


def rate_address(base_address: str, token: str, score: int) -> str:
    """Build the signed address that records `score`: local+rate-<token>-<score>@domain."""
    local, _, domain = base_address.rpartition("@")
    return f"{local}+rate-{token}-{score}@{domain}"


def rating_links(base_address: str, token: str, subject: str) -> tuple[RatingLink, ...]:
    """Build the five mailto links, 1 to 5, each with a prefilled subject naming the score."""
    links = []
    for score in SCORES:
        address = rate_address(base_address, token, score)
        # RFC 6068: spaces in the subject as %20, never "+", which some clients would keep.
        href = f"mailto:{address}?subject={quote(f'{subject} {score}/5', safe='')}"
        links.append(RatingLink(score, address, href))
    return tuple(links)


def find_rate_address(recipients: tuple[str, ...]) -> RateAddress | None:
    """Return the first rating sub-address among the recipients, signed or not."""
    for address in recipients:
        local = address.strip().strip("<>").lower().rpartition("@")[0]
        match = _RATE_LOCAL.match(local)
        if match:
            return RateAddress(match["token"], int(match["score"]))
    return None


def check_rate_token(
    token: str, secret: str, today: date, window_days: int, previous_secrets: tuple[str, ...] = ()
) -> TokenCheck:
    """Tell whether a rating token is ours (signed with the secret or a previous one) and inside the survey window."""
    claims = verify_token(token, secret, purpose=RATING, previous_secrets=previous_secrets)
    if claims is None:
        return TokenCheck(TokenVerdict.FORGED, None)
    if claims.issued_day is None or (today - claims.issued_day).days > window_days:
        return TokenCheck(TokenVerdict.EXPIRED, claims)
    return TokenCheck(TokenVerdict.VALID, claims)


def is_within_window(issued_at: datetime, now: datetime, window_days: int) -> bool:
    """Tell whether an answer at `now` still counts for a survey issued at `issued_at`."""
    return now - issued_at <= timedelta(days=window_days)


def fold(text: str) -> str:
    """Fold case and drop accents, so "Špatné", "spatne" and "ŠPATNÉ" compare equal."""
    decomposed = unicodedata.normalize("NFD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


_FOLDED_WORDS = sorted(
    ((fold(w), score) for score, words in RATING_WORDS.items() for w in words), key=lambda pair: -len(pair[0])
)


def read_rating_reply(text: str) -> RatingReply | None:
    """Read a digit 1-5 or a rating word at the start of a reply; the rest is the comment. None: no rating."""
    body = text.lstrip(_SEPARATORS)
    digit = _DIGIT.match(body)
    if digit:
        return RatingReply(int(digit["score"]), _comment(body[digit.end() :]))
    folded = fold(body)
    for word, score in _FOLDED_WORDS:
        end = len(word)
        if folded.startswith(word) and (len(folded) == end or not folded[end].isalnum()):
            return RatingReply(score, _comment(_cut_folded(body, end)))
    return None


def _cut_folded(body: str, folded_length: int) -> str:
    """Return what follows the first `folded_length` folded characters of `body`."""
    for index in range(len(body) + 1):
        if len(fold(body[:index])) >= folded_length:
            return body[index:]
    return ""


def _comment(rest: str) -> str:
    return rest.strip(_SEPARATORS)[:COMMENT_CHARS]


def is_satisfied(score: int) -> bool:
    """Tell whether a score counts as a satisfied customer (CSAT)."""
    return score >= SATISFIED_FROM


def should_send_survey(*, status: str, send_survey: bool) -> bool:
    """Decide whether a ticket just closed asks its customer for a rating; lifecycle already left out spam."""
    return status == TicketStatus.CLOSED and send_survey
