"""mailbridge.toml -> frozen Settings, checked fully once at start.

Secrets come from the environment (`password_env`) or a file (`password_file`), never required
in the TOML. Every error names the file, the key, the value and what was expected, in one line.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field, fields, replace
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import quote

from mailbridge.base.config.actions import ActionSettings, TopicSettings, read_actions, read_topics
from mailbridge.base.config.agents import AGENT_KEYS, AgentMailSettings, read_agents
from mailbridge.base.config.audit import AUDIT_KEYS, AuditSettings, read_audit
from mailbridge.base.config.ingest import INGEST_KEYS, IngestSettings, read_ingest
from mailbridge.base.config.mailbox import (
    IMAP_CONNECTION_KEYS,
    MAILBOX_KEYS,
    is_loopback,
    read_addresses,
    read_after_sync,
    read_bounded,
    read_create_contact,
    read_folders,
    read_imap_options,
)
from mailbridge.base.config.monitoring import (
    METRICS_KEYS,
    MONITORING_KEYS,
    MetricsSettings,
    MonitoringSettings,
    read_metrics,
    read_monitoring,
)
from mailbridge.base.config.oauth2 import AUTH_KEYS, OAuth2Settings, read_oauth2
from mailbridge.base.config.previous_secrets import PREVIOUS_SECRETS_KEYS, read_previous_secrets
from mailbridge.base.config.reader import Secret, Section
from mailbridge.base.config.retention import RETENTION_KEYS, RetentionSettings, read_retention
from mailbridge.base.config.rules import (
    DEFAULT_ORDER_NUMBER_REGEX,
    SLA_KEYS,
    RoutingRule,
    SlaSettings,
    read_regex,
    read_routing,
    read_sla,
)
from mailbridge.base.config.shop import SHOP_KEYS, ShopSettings, read_shop
from mailbridge.base.config.spam import SPAM_KEYS, SpamSettings, read_spam
from mailbridge.base.config.survey import SURVEY_KEYS, SurveySettings, read_survey
from mailbridge.base.errors import ConfigError

SECURITY_MODES = ("ssl", "starttls", "plain")
INITIAL_SYNC_MODES = ("new-only", "import-silently", "import")
DEFAULT_MAX_MESSAGE_BYTES = 25 * 1024 * 1024
DEFAULT_PORTS = {
    "imap": {"ssl": 993, "starttls": 143, "plain": 143},
    "smtp": {"ssl": 465, "starttls": 587, "plain": 25},
}


@dataclass(frozen=True)
class ConnectionSettings:
    host: str
    port: int
    security: str
    validate_cert: bool
    ca_file: str | None
    username: str | None
    password: Secret | None
    timeout_seconds: float
    allow_insecure: bool = False  # plaintext to a host that is not loopback
    client_cert_file: str | None = None
    client_key_file: str | None = None
    tls_min_version: str = "1.2"
    oauth2: OAuth2Settings | None = None  # auth = "xoauth2" | "oauthbearer" (IMAP and SMTP); None: password login


@dataclass(frozen=True)
class MailboxSettings:
    name: str
    connection: ConnectionSettings
    folders: tuple[str, ...]
    contact: str
    initial_sync: str
    create_contact: bool = False  # create `contact` when no Contact has this name; else a config error at start
    after_sync: str = "seen"  # "seen" | "keep" | "delete" | "move:FOLDER"
    create_tickets_for_unknown: bool = True
    unknown_folder: str | None = None  # where unknown mail goes when create_tickets_for_unknown is false
    idle_timeout_seconds: float = 25 * 60.0
    alert_after_minutes: float = 30.0
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES  # larger mail is stored raw, flagged, never parsed
    addresses: tuple[str, ...] = ()  # addresses (aliases) delivered into it besides its login; lower-cased, ours

    @property
    def folder(self) -> str:
        """The first folder: the one a single-folder caller reads."""
        return self.folders[0]


@dataclass(frozen=True)
class SmtpSettings:
    connection: ConnectionSettings
    max_connections: int = 4  # SMTP connections the outbox sends over at once, each kept for many mails
    # [smtp.NAME]: relays of their own, with the same keys, for the mail of Contacts that name them (brands).
    profiles: tuple[SmtpProfile, ...] = ()

    def profile(self, name: str) -> SmtpProfile | None:
        """The `[smtp.NAME]` profile of this name, or None."""
        return next((p for p in self.profiles if p.name == name), None)


@dataclass(frozen=True)
class SmtpProfile:
    """One `[smtp.NAME]` table: a relay of its own for a brand's mail."""

    name: str
    connection: ConnectionSettings
    max_connections: int = 4


@dataclass(frozen=True)
class DatabaseSettings:
    url: str  # as configured; a password written in it is masked wherever settings are shown
    password: Secret | None = None  # password_env / password_file: put into the URL only when connecting

    @property
    def shown_url(self) -> str:
        """The URL to print: without its password."""
        return mask_url_password(self.url)

    def connect_url(self) -> str:
        """The URL to connect with: the configured one, with the password from the environment or a file."""
        if self.password is None:
            return self.url
        scheme, sep, rest = self.url.partition("://")
        userinfo, at, host = rest.rpartition("@")
        user = userinfo.partition(":")[0]
        return f"{scheme}{sep}{user}:{quote(self.password.value, safe='')}@{host}" if at else self.url


def mask_url_password(url: str) -> str:
    """`scheme://user:secret@host/db` -> `scheme://user:***@host/db`; any other URL as it is."""
    scheme, sep, rest = url.partition("://")
    userinfo, at, host = rest.rpartition("@")
    if not (sep and at and ":" in userinfo):
        return url
    return f"{scheme}{sep}{userinfo.partition(':')[0]}:***@{host}"


@dataclass(frozen=True)
class SupportSettings:
    from_name: str
    from_address: str
    ticket_subject_format: str
    default_locale: str
    admin_address: str | None = None  # where mailbox alerts go; none: alerts are only logged
    secret: Secret | None = None  # signs reply tokens (support+<token>@...); none: no signed Reply-To
    reopen_window_days: int = 30  # a reply to a ticket closed longer ago opens a new, linked ticket
    auto_close_days: int = 5  # a ticket waiting on the customer this long closes itself
    auto_close_reminder_hours: float = 24.0  # remind the customer this long before auto-close; 0: no reminder
    order_number_regex: str = DEFAULT_ORDER_NUMBER_REGEX  # group 1 (else the match) is the order number
    reply_token_days: int = 30  # an agent's signed reply address stops working after this many days
    # The authserv-id our receiving server writes in Authentication-Results; none: the topmost header counts.
    authserv_id: str | None = None
    # Secrets retired by `mailbridge secret rotate`: they still verify tokens and Message-IDs they signed, sign nothing.
    previous_secrets: tuple[Secret, ...] = ()
    previous_secrets_source: str | None = None  # "env:NAME" or "file:PATH"; None: previous_secrets_* not set
    # Mark a new ticket "pre-sale" when its sender has no earlier ticket and its mail names no order number.
    presale_flag: bool = True


@dataclass(frozen=True)
class ScheduleSettings:
    poll_interval_seconds: float
    outbox_interval_seconds: float
    retry_for_hours: float
    # A daemon job (delivery, a timer) or loop failing this long is reported to admin_address, once per period.
    job_alert_after_minutes: float = 30.0


@dataclass(frozen=True)
class DaemonSettings:
    """[daemon]: how daemons on one database share the mailboxes."""

    # A mailbox's lease lasts this long past the holder's last renewal (every third of it); a daemon that stops
    # beating for longer is taken to be dead or hung, and another takes its mailboxes over.
    lease_seconds: float = 60.0


@dataclass(frozen=True)
class AutoMailLimits:
    """[limits]: how much automatic mail one address or one ticket may get (RFC 3834 loop protection)."""

    per_address_per_day: int = 10
    per_ticket_burst: int = 10
    flood_messages: int = 15


@dataclass(frozen=True)
class DkimKey:
    """One [[dkim]] table: the key that signs mail From this domain."""

    domain: str
    selector: str
    private_key: bytes = field(repr=False)  # PEM


@dataclass(frozen=True)
class Settings:
    path: Path
    database: DatabaseSettings
    support: SupportSettings
    smtp: SmtpSettings
    mailboxes: tuple[MailboxSettings, ...]
    schedule: ScheduleSettings
    limits: AutoMailLimits
    templates_dir: Path | None  # site overrides, searched before the shipped mailbridge/templates/
    dkim: tuple[DkimKey, ...] = ()
    sla: SlaSettings = SlaSettings()
    routing: tuple[RoutingRule, ...] = ()
    survey: SurveySettings = SurveySettings()
    ingest: IngestSettings = IngestSettings()
    monitoring: MonitoringSettings = MonitoringSettings()
    metrics: MetricsSettings = MetricsSettings()
    agents: AgentMailSettings = AgentMailSettings()
    spam: SpamSettings = SpamSettings()
    audit: AuditSettings = AuditSettings()  # [audit]: the nightly `mailboxes audit` of every mailbox
    retention: RetentionSettings = RetentionSettings()  # [retention]: raw mail purged, tickets anonymised
    daemon: DaemonSettings = DaemonSettings()
    actions: tuple[ActionSettings, ...] = ()  # [actions.NAME]: `#NAME` in a reply, `tickets action`
    topics: tuple[TopicSettings, ...] = ()  # [topics.NAME]: the customer picks a category by sub-address or tag
    shop: ShopSettings | None = None  # [shop]: where a customer's orders are looked up; None: no shop


CONNECTION_KEYS = {
    "host",
    "port",
    "security",
    "validate_cert",
    "ca_file",
    "username",
    "password",
    "password_env",
    "password_file",
    "timeout_seconds",
}


def _connection(section: Section, kind: str) -> ConnectionSettings:
    security = section.choice("security", SECURITY_MODES, "ssl" if kind == "imap" else "starttls")
    ca_file = section.text("ca_file")
    if ca_file:
        ca_path = section.relative_path(ca_file)
        if not ca_path.is_file():
            section.fail("ca_file", "expected an existing PEM file", ca_file)
        ca_file = str(ca_path)
    return ConnectionSettings(
        host=section.text("host", required=True),
        port=section.integer("port", DEFAULT_PORTS[kind][security], 1, 65535),
        security=security,
        validate_cert=section.boolean("validate_cert", True),
        ca_file=ca_file,
        username=section.text("username"),
        password=section.secret(),
        timeout_seconds=section.number("timeout_seconds", 30.0, 1.0),
    )


def _smtp_connection(section: Section) -> ConnectionSettings:
    """[smtp]: a password or an OAuth2 token (`auth`); a login in plaintext only to loopback, unless allow_insecure."""
    connection = _connection(section, "smtp")
    allow_insecure = section.boolean("allow_insecure", False)
    has_login = connection.username is not None or connection.password is not None
    if connection.security == "plain" and has_login and not allow_insecure and not is_loopback(connection.host):
        section.fail(
            "security",
            f'expected "ssl" or "starttls" to log in to the non-loopback host {connection.host!r} '
            "(or allow_insecure = true)",
            "plain",
        )
    return replace(connection, allow_insecure=allow_insecure, oauth2=read_oauth2(section, connection))


def _mailbox(path: Path, index: int, table: Any) -> MailboxSettings:
    section = Section(path, f"mailboxes.{index}", table, CONNECTION_KEYS | IMAP_CONNECTION_KEYS | MAILBOX_KEYS)
    connection = read_imap_options(section, _connection(section, "imap"))
    return MailboxSettings(
        name=section.text("name", required=True),
        connection=connection,
        folders=read_folders(section),
        addresses=read_addresses(section),
        after_sync=read_after_sync(section),
        create_tickets_for_unknown=section.boolean("create_tickets_for_unknown", True),
        unknown_folder=section.text("unknown_folder"),
        # RFC 2177: servers may drop an IDLE after 30 minutes, so it is re-issued before 29.
        idle_timeout_seconds=read_bounded(section, "idle_timeout_seconds", 25 * 60.0, 10.0, 29 * 60.0),
        alert_after_minutes=section.number("alert_after_minutes", 30.0, 1.0),
        max_message_bytes=section.integer("max_message_bytes", DEFAULT_MAX_MESSAGE_BYTES, 1, 2**31 - 1),
        contact=section.text("contact", "Customer service"),
        create_contact=read_create_contact(section),
        initial_sync=section.choice("initial_sync", INITIAL_SYNC_MODES, "new-only"),
    )


def _database(path: Path, table: Any) -> DatabaseSettings:
    section = Section(path, "database", table, {"url", "password_env", "password_file"})
    url = section.text("url", "sqlite:///mailbridge.db")
    if not url.startswith(("sqlite:", "postgresql")):
        section.fail("url", 'expected "sqlite:///FILE" or "postgresql+psycopg://..."', mask_url_password(url))
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////") and ":memory:" not in url:
        url = "sqlite:///" + str(section.relative_path(url.removeprefix("sqlite:///")))
    password = section.secret()
    if password is not None and not url.startswith("postgresql"):
        section.fail("password_env" if "password_env" in table else "password_file", "only for PostgreSQL", url)
    return DatabaseSettings(url=url, password=password)


def _support(path: Path, table: Any) -> SupportSettings:
    section = Section(
        path,
        "support",
        table,
        {
            "from_name",
            "from_address",
            "ticket_subject_format",
            "default_locale",
            "admin_address",
            "secret_env",
            "secret_file",
            "secret",
            "reopen_window_days",
            "auto_close_days",
            "auto_close_reminder_hours",
            "order_number_regex",
            "reply_token_days",
            "authserv_id",
            "presale_flag",
            *PREVIOUS_SECRETS_KEYS,
        },
    )
    address = section.text("from_address", required=True)
    if "@" not in address or any(c in address for c in " \r\n<>"):
        section.fail("from_address", "expected an email address like support@shop.example", address)
    admin = section.text("admin_address")
    if admin and ("@" not in admin or any(c in admin for c in " \r\n<>")):
        section.fail("admin_address", "expected an email address like admin@shop.example", admin)
    subject_format = section.text("ticket_subject_format", "[#{number}] {subject}")
    if "{number}" not in subject_format or "{subject}" not in subject_format:
        section.fail("ticket_subject_format", "expected a format containing {number} and {subject}", subject_format)
    secret = section.secret("secret")
    previous = read_previous_secrets(section, secret)
    return SupportSettings(
        from_name=section.text("from_name", "Support"),
        from_address=address.lower(),
        ticket_subject_format=subject_format,
        default_locale=section.text("default_locale", "en"),
        admin_address=admin.lower() if admin else None,
        secret=secret,
        reopen_window_days=section.integer("reopen_window_days", 30, 0, 3650),
        auto_close_days=section.integer("auto_close_days", 5, 1, 3650),
        auto_close_reminder_hours=section.number("auto_close_reminder_hours", 24.0, 0.0),
        order_number_regex=read_regex(section, "order_number_regex", DEFAULT_ORDER_NUMBER_REGEX),
        reply_token_days=section.integer("reply_token_days", 30, 1, 3650),
        authserv_id=_authserv_id(section),
        previous_secrets=previous.secrets,
        previous_secrets_source=previous.source,
        presale_flag=section.boolean("presale_flag", True),
    )


def _authserv_id(section: Section) -> str | None:
    value = section.text("authserv_id")
    if value and not re.fullmatch(r"[A-Za-z0-9._-]+", value):
        section.fail("authserv_id", "expected the host name our receiving server writes, like mx.shop.example", value)
    return value.lower() if value else None


def _schedule(path: Path, table: Any) -> ScheduleSettings:
    keys = {"poll_interval_seconds", "outbox_interval_seconds", "retry_for_hours", "job_alert_after_minutes"}
    section = Section(path, "schedule", table, keys)
    return ScheduleSettings(
        poll_interval_seconds=section.number("poll_interval_seconds", 60.0, 1.0),
        outbox_interval_seconds=section.number("outbox_interval_seconds", 10.0, 0.5),
        retry_for_hours=section.number("retry_for_hours", 72.0, 0.0),
        job_alert_after_minutes=section.number("job_alert_after_minutes", 30.0, 1.0),
    )


def _daemon(path: Path, table: Any) -> DaemonSettings:
    section = Section(path, "daemon", table, {"lease_seconds"})
    # At most an hour: the longest a mailbox of a dead or hung daemon waits for another to take it over.
    return DaemonSettings(lease_seconds=section.number("lease_seconds", 60.0, 3.0, 3600.0))


def _limits(path: Path, table: Any) -> AutoMailLimits:
    section = Section(
        path,
        "limits",
        table,
        {
            "max_auto_replies_per_address_per_day",
            "max_auto_mails_per_ticket_per_10_minutes",
            "flood_messages_per_10_minutes",
        },
    )
    return AutoMailLimits(
        per_address_per_day=section.integer("max_auto_replies_per_address_per_day", 10, 1, 10_000),
        per_ticket_burst=section.integer("max_auto_mails_per_ticket_per_10_minutes", 10, 1, 10_000),
        flood_messages=section.integer("flood_messages_per_10_minutes", 15, 1, 100_000),
    )


def _dkim(path: Path, tables: Any) -> tuple[DkimKey, ...]:
    if not isinstance(tables, list):
        raise ConfigError(f"{path}: dkim: expected [[dkim]] tables, got {tables!r}")
    keys = []
    for index, table in enumerate(tables):
        section = Section(path, f"dkim.{index}", table, {"domain", "selector", "private_key_file"})
        key_file = section.relative_path(section.text("private_key_file", required=True))
        try:
            pem = key_file.read_bytes()
        except OSError as exc:
            section.fail("private_key_file", f"expected a readable PEM private key ({exc.strerror})", str(key_file))
        if b"PRIVATE KEY" not in pem:
            section.fail("private_key_file", "expected a PEM private key", str(key_file))
        keys.append(
            DkimKey(section.text("domain", required=True).lower(), section.text("selector", required=True), pem)
        )
    return tuple(keys)


SMTP_KEYS = CONNECTION_KEYS | AUTH_KEYS | {"allow_insecure", "max_connections"}
SMTP_PROFILE_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")


def _split_smtp(path: Path, table: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split `[smtp]` into its own keys and its `[smtp.NAME]` tables (a table under a key of [smtp] is a profile)."""
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: smtp: expected an [smtp] table, got {table!r}")
    own = {k: v for k, v in table.items() if not (isinstance(v, dict) and k not in SMTP_KEYS)}
    profiles = {k: v for k, v in table.items() if k not in own}
    for name in profiles:
        if not SMTP_PROFILE_NAME.fullmatch(name):
            raise ConfigError(
                f"{path}: [smtp.{name}]: expected a name of lower-case letters, digits, - and _ (like shop2)"
            )
    return own, profiles


def _smtp_profile(path: Path, name: str, table: Any) -> SmtpProfile:
    """Read one `[smtp.NAME]` table: the keys of [smtp], nothing inherited from it."""
    section = Section(path, f"smtp.{name}", table, SMTP_KEYS)
    return SmtpProfile(name, _smtp_connection(section), section.integer("max_connections", 4, 1, 50))


TOP_LEVEL = {
    "database",
    "support",
    "smtp",
    "mailboxes",
    "schedule",
    "templates_dir",
    "limits",
    "dkim",
    "sla",
    "routing",
    "survey",
    "ingest",
    "monitoring",
    "metrics",
    "agents",
    "spam",
    "audit",
    "daemon",
    "retention",
    "actions",
    "topics",
    "shop",
}


def load_settings(path: Path) -> Settings:
    """Read and check the whole configuration file.

    Raises: ConfigError naming the file, the key and what was expected.
    """
    path = Path(path)
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: configuration file not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the configuration file ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    for key in document:
        if key not in TOP_LEVEL:
            raise ConfigError(f"{path}: {key}: unknown key (known: {', '.join(sorted(TOP_LEVEL))})")
    if "support" not in document:
        raise ConfigError(f"{path}: [support]: missing; it needs at least from_address")
    mailboxes = document.get("mailboxes", [])
    if not isinstance(mailboxes, list):
        raise ConfigError(f"{path}: mailboxes: expected [[mailboxes]] tables, got {mailboxes!r}")
    parsed_mailboxes = tuple(_mailbox(path, i, m) for i, m in enumerate(mailboxes))
    names = [m.name for m in parsed_mailboxes]
    for name in names:
        if names.count(name) > 1:
            raise ConfigError(f"{path}: [mailboxes] name: expected unique names, got {name!r} twice")
    if "smtp" not in document:
        raise ConfigError(f"{path}: [smtp]: missing; it needs at least host")
    smtp_table, profile_tables = _split_smtp(path, document["smtp"])
    smtp_section = Section(path, "smtp", smtp_table, SMTP_KEYS)
    top = Section(path, "top level", {k: v for k, v in document.items() if k == "templates_dir"}, {"templates_dir"})
    templates_dir = top.text("templates_dir")
    return Settings(
        path=path,
        database=_database(path, document.get("database", {})),
        support=_support(path, document["support"]),
        smtp=SmtpSettings(
            connection=_smtp_connection(smtp_section),
            max_connections=smtp_section.integer("max_connections", 4, 1, 50),
            profiles=tuple(_smtp_profile(path, name, table) for name, table in profile_tables.items()),
        ),
        mailboxes=parsed_mailboxes,
        schedule=_schedule(path, document.get("schedule", {})),
        limits=_limits(path, document.get("limits", {})),
        dkim=_dkim(path, document.get("dkim", [])),
        templates_dir=top.relative_path(templates_dir) if templates_dir else None,
        sla=read_sla(Section(path, "sla", document.get("sla", {}), SLA_KEYS)),
        routing=read_routing(path, document.get("routing", []), Section),
        survey=read_survey(Section(path, "survey", document.get("survey", {}), SURVEY_KEYS)),
        ingest=read_ingest(Section(path, "ingest", document.get("ingest", {}), INGEST_KEYS)),
        monitoring=read_monitoring(Section(path, "monitoring", document.get("monitoring", {}), MONITORING_KEYS)),
        metrics=read_metrics(Section(path, "metrics", document.get("metrics", {}), METRICS_KEYS)),
        agents=read_agents(Section(path, "agents", document.get("agents", {}), AGENT_KEYS)),
        spam=read_spam(Section(path, "spam", document.get("spam", {}), SPAM_KEYS)),
        audit=read_audit(Section(path, "audit", document.get("audit", {}), AUDIT_KEYS)),
        retention=read_retention(Section(path, "retention", document.get("retention", {}), RETENTION_KEYS)),
        daemon=_daemon(path, document.get("daemon", {})),
        actions=read_actions(
            path, document.get("actions", {}), Section, top.relative_path(templates_dir) if templates_dir else None
        ),
        topics=read_topics(path, document.get("topics", {}), Section),
        shop=read_shop(Section(path, "shop", document.get("shop", {}), SHOP_KEYS)),
    )


def find_config(explicit: str | None) -> Path:
    """Pick the file: --config, then MAILBRIDGE_CONFIG, then ./mailbridge.toml."""
    if explicit:
        return Path(explicit)
    from_env = os.environ.get("MAILBRIDGE_CONFIG")
    return Path(from_env) if from_env else Path("mailbridge.toml")


def masked(settings: Settings) -> dict[str, Any]:
    """Return the resolved settings as plain data with every secret masked."""

    def plain(value: Any) -> Any:
        if isinstance(value, Secret):
            return f"<masked, from {value.source}>"
        if isinstance(value, bytes):
            return "<masked>"
        if isinstance(value, Path):
            return str(value)
        if isinstance(value, date):
            return value.isoformat()
        if isinstance(value, DatabaseSettings):
            return {"url": value.shown_url, "password": plain(value.password)}
        if isinstance(value, tuple):
            return [plain(v) for v in value]
        if hasattr(value, "__dataclass_fields__"):
            return {f.name: plain(getattr(value, f.name)) for f in fields(value)}
        return value

    return plain(settings)
