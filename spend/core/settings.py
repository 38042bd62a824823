"""Typed settings for every Spend command, read from SPEND_* environment variables.

All state lives under one data home (SPEND_HOME) so a user can wipe it or point it elsewhere.
Settings live in `features/` because it is the bottom layer every other layer may import.
"""

from __future__ import annotations

import warnings
from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from spend.core.currencies import ISO_4217_CODES
from spend.core.errors import SpendWarning
from spend.core.names import TIERS

# Public on purpose: a development key is only acceptable if everybody can see it is one.
DEVELOPMENT_PSEUDONYM_KEY = "spend-development-key-do-not-use-in-production"
MIN_KEY_LENGTH = 16  # shorter keys are warned about at ingestion (not refused: a home keyed so must still open)


# What `spend retention apply` may delete by age, and for how long each is kept by default (docs/privacy.md).
# Customers are not deleted by age: a customer leaves by erasure, or once none of their history is left.
RETAINED = (
    "transactions",
    "points",
    "membership",
    "campaigns",
    "fraud_labels",
    "inventory",
    "quarantine",
    "feature_snapshots",
)
DEFAULT_RETENTION_DAYS = {name: 3 * 365 for name in RETAINED} | {"inventory": 2 * 365, "quarantine": 90}


class DevelopmentKeyWarning(SpendWarning):
    """Raised when pseudonyms are made with the public development key."""


class SpendSettings(BaseSettings):
    """Every knob a deployment sets; each field maps to SPEND_<FIELD>."""

    model_config = SettingsConfigDict(env_prefix="SPEND_", extra="forbid", frozen=True)

    home: Path = Field(Path(".spend"), description="Data home: offline store, quarantine, vault, ledgers.")
    env: Literal["local", "production", "cluster"] = Field(
        "local",
        description="Backends: local (files, SQLite), production (Redis, PostgreSQL), cluster (production's "
        "services, with the feature build and training sets on Spark: docs/scale.md).",
    )
    pseudonym_key: SecretStr = Field(
        SecretStr(DEVELOPMENT_PSEUDONYM_KEY),
        description="HMAC key for customer pseudonyms; changing it changes every pseudonym.",
    )
    max_line_amount: float = Field(
        100_000.0, gt=0, description="Sanity bound on |quantity x unit_price| of one line, in currency units."
    )
    max_line_units: float = Field(
        100_000.0,
        gt=0,
        description="Sanity bound on |quantity| of one line (a daily total's units): what holds a line whose "
        "price is unknown, which the amount's bound cannot.",
    )
    currencies: frozenset[str] = Field(
        frozenset({"GBP"}),
        description="Currencies accepted at ingestion (ISO 4217 codes); SPEND_DEFAULT_CURRENCY alone when not set. "
        "Amounts in several currencies are summed as they are, never converted.",
    )
    default_currency: str = Field("GBP", description="Currency assumed when a line carries none.")
    tiers: tuple[str, ...] = Field(
        TIERS, description="The shop's membership tiers, lowest first (case-insensitive, stored lower-case)."
    )
    timezone: str = Field("UTC", description="Time zone of timestamps that carry no offset.")
    future_tolerance_seconds: int = Field(
        300, ge=0, description="Clock skew allowed before a timestamp counts as 'in the future'."
    )
    earliest_ts: date = Field(
        date(1990, 1, 1),
        description="Timestamps before this day are quarantined: exports write 1900-01-01, 1970-01-01 or "
        "0001-01-01 for a missing date, and one such line would stretch every daily series back to it.",
    )
    freshness_sla_days: float = Field(
        2.0, gt=0, description="Timeliness: the newest record of a table should be at most this old."
    )

    redis_url: str = Field(
        "127.0.0.1:6379", description="production: Redis online store, as host:port[,db=N][,password=...]."
    )
    registry_url: str = Field(
        "postgresql+psycopg://postgres@127.0.0.1:5432/spend",
        description="production: SQLAlchemy URL of the PostgreSQL database holding the Feast registry.",
    )
    tracking_url: str = Field(
        "postgresql+psycopg://postgres@127.0.0.1:5432/spend",
        description="production: MLflow tracking and registry database (SQLAlchemy URL).",
    )
    serving_refresh_seconds: float = Field(
        30.0, gt=0, description="serving: how often the service follows the registry aliases."
    )
    serving_push_seconds: float = Field(
        0.2, gt=0, description="serving: how often cards' updated spending windows are written online."
    )
    serving_online_timeout_seconds: float = Field(
        0.25, gt=0, description="serving: an online-store read slower than this counts as unavailable (degraded)."
    )
    serving_awaited_reads: int = Field(
        4, ge=1, description="serving: fraud reads awaited on Redis at once per worker; the rest queue in order."
    )
    serving_max_body_bytes: int = Field(
        4 * 1024 * 1024, ge=1024, description="serving: a request body larger than this is refused with 413."
    )
    serving_erase_wait_seconds: float = Field(
        8.0,
        gt=0,
        lt=10,  # BentoML's traffic timeout (serving/service.py SERVER) would answer 504 first
        description="serving: an erasure still running after this is answered 202 (it goes on; the same request "
        "then gets its receipt).",
    )
    serving_registry_timeout_seconds: float = Field(
        5.0, gt=0, description="serving: a registry call slower than this fails (the loaded models keep serving)."
    )
    retention_days: dict[str, int] = Field(
        default_factory=lambda: dict(DEFAULT_RETENTION_DAYS),
        description="`spend retention apply`: days each table is kept (by its time column), 'quarantine' (by "
        "ingestion) and 'feature_snapshots'; a table left out is kept; as JSON, e.g. '{\"transactions\": 730}'.",
    )
    spark_master: str = Field(
        "local[2]", description="cluster: the Spark master the feature build and training sets run on."
    )
    spark_partitions: int = Field(
        0, ge=0, description="cluster: customer partitions of the Spark build (0: one per 25,000 customers)."
    )
    feature_project: str = Field("spend", pattern=r"^[a-z][a-z0-9_]*$", description="Feast project name.")

    @field_validator("pseudonym_key")
    @classmethod
    def _real_key(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError(
                "must not be blank: an empty key lets anyone compute every pseudonym; set a long random secret, "
                "or unset it for the (public) development key"
            )
        return value

    @field_validator("retention_days")
    @classmethod
    def _known_retention(cls, value: dict[str, int]) -> dict[str, int]:
        for name, days in value.items():
            if name not in RETAINED:
                raise ValueError(f"retention_days: unknown table {name!r}; expected some of {', '.join(RETAINED)}")
            if not isinstance(days, int) or days < 1:
                raise ValueError(f"retention_days: {name} must be a whole number of days >= 1, not {days!r}")
        return value

    @field_validator("default_currency")
    @classmethod
    def _known_default_currency(cls, value: str) -> str:
        if value not in ISO_4217_CODES:
            raise ValueError(f"default_currency {value!r} is not an ISO 4217 code")
        return value

    @field_validator("currencies")
    @classmethod
    def _known_currencies(cls, value: frozenset[str]) -> frozenset[str]:
        unknown = sorted(value - ISO_4217_CODES)
        if unknown:
            raise ValueError(f"currencies {', '.join(map(repr, unknown))} are not ISO 4217 codes")
        if not value:  # every line would be quarantined
            raise ValueError("currencies must name at least one ISO 4217 code")
        return value

    @field_validator("tiers")
    @classmethod
    def _a_ladder_of_tiers(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        tiers = tuple(str(t).strip().lower() for t in value)
        if not tiers or any(not t for t in tiers) or len(set(tiers)) < len(tiers):
            raise ValueError("tiers must name at least one tier, each once, lowest first (e.g. bronze, silver, gold)")
        return tiers

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        # Unchecked, a zone nobody has was found only when a timestamp without offset needed it.
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"timezone {value!r} is not an IANA time zone (e.g. Europe/London, UTC)") from error
        return value

    @model_validator(mode="before")
    @classmethod
    def _one_currency_unless_told(cls, data):
        # A shop sells in one currency. Accepting every code let an export's EUR lines be summed with GBP
        # ones, unconverted and unannounced; a shop that does sell in several lists them.
        if isinstance(data, dict) and data.get("currencies") is None:
            return {**data, "currencies": [data.get("default_currency") or "GBP"]}
        return data

    @model_validator(mode="after")
    def _default_currency_accepted(self) -> SpendSettings:
        if self.default_currency not in self.currencies:
            raise ValueError(
                f"default_currency {self.default_currency!r} is not among SPEND_CURRENCIES: every line without "
                "a currency would be quarantined"
            )
        return self

    @property
    def uses_development_key(self) -> bool:
        return self.pseudonym_key.get_secret_value() == DEVELOPMENT_PSEUDONYM_KEY

    def warn_if_development_key(self) -> None:
        if self.uses_development_key:
            warnings.warn(
                "SPEND_PSEUDONYM_KEY is not set: customer pseudonyms use the PUBLIC development key. "
                "Anyone can re-identify them. Set SPEND_PSEUDONYM_KEY before loading real customer data.",
                DevelopmentKeyWarning,
                stacklevel=2,
            )
        elif len(self.pseudonym_key.get_secret_value()) < MIN_KEY_LENGTH:
            warnings.warn(
                f"SPEND_PSEUDONYM_KEY has under {MIN_KEY_LENGTH} characters: a short key can be guessed, and with "
                "it every customer re-identified. Use a long random secret before loading real customer data.",
                DevelopmentKeyWarning,
                stacklevel=2,
            )

    @property
    def uses_services(self) -> bool:
        """Redis online store, PostgreSQL registry and tracking (production, and cluster on top of it)."""
        return self.env != "local"

    @property
    def paths(self) -> SpendPaths:  # not cached: model_copy(update={"home": ...}) must move it too
        return SpendPaths(self.home)

    def model_tracking_uri(self) -> str:
        """MLflow tracking and registry: PostgreSQL in production, SQLite under the data home locally.
        Here, not in training/, because serving reads the same registry and must not import training."""
        if self.uses_services:
            return self.tracking_url
        folder = self.home / "mlflow"
        folder.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{(folder / 'mlflow.db').resolve()}"


class SpendPaths:
    """Where each kind of state lives under the data home; creating folders is the caller's job."""

    def __init__(self, home: Path) -> None:
        self.home = Path(home)

    @property
    def offline(self) -> Path:
        return self.home / "offline"

    @property
    def quarantine(self) -> Path:
        return self.home / "quarantine"

    @property
    def staging(self) -> Path:
        return self.home / "staging"

    @property
    def retracted(self) -> Path:
        """Stored lines a batch took back (cancelled, refunded or edited orders), per batch, where their
        files were: `spend batches --remove` of that batch puts them back."""
        return self.home / "retracted"

    @property
    def catalog(self) -> Path:
        """SQLite ledger of ingestion batches: the commit point of every write."""
        return self.home / "catalog.sqlite"

    @property
    def vault(self) -> Path:
        """Encrypted identity vault, kept apart from the offline store."""
        return self.home / "vault" / "identity.sqlite"

    @property
    def reports(self) -> Path:
        return self.home / "reports"

    @property
    def published(self) -> Path:
        """Decisions the batch jobs publish for the service (recall list, segments) and their manifest."""
        return self.home / "published"

    def table(self, table: str) -> Path:
        return self.offline / table

    @property
    def feature_snapshots(self) -> Path:
        return self.home / "features"

    @property
    def feast(self) -> Path:
        """Local Feast registry and SQLite online store."""
        return self.home / "feast"
