"""Settings from the environment or a `.env` file, with the platforms' conventional names."""

from __future__ import annotations

import re
from datetime import time, timedelta
from typing import Annotated

from pydantic import AliasChoices, Field, IPvAnyAddress, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.durations import BusinessHours, WorkClock, parse_duration, zone

DEFAULT_SLACK_API_URL = "https://slack.com/api/"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
DEFAULT_GREENHOUSE_API_URL = "https://harvest.greenhouse.io/v1/"
API_TOKEN_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
MIN_API_TOKEN_LENGTH = 16

UserIds = Annotated[frozenset[str], NoDecode]
ROLE_VARIABLES = (
    "VERIFYBOT_SLACK_SECURITY_USERS",
    "VERIFYBOT_SLACK_HIRING_MANAGERS",
    "VERIFYBOT_TEAMS_SECURITY_USERS",
    "VERIFYBOT_TEAMS_HIRING_MANAGERS",
)
SHARED_ROLE_VARIABLES = {
    "security_users": "VERIFYBOT_SECURITY_USERS",
    "hiring_managers": "VERIFYBOT_HIRING_MANAGERS",
}


class SettingsError(ValueError):
    """Settings that must not be used; the message is one line saying what to set instead."""


def _env(*names: str) -> AliasChoices:
    return AliasChoices(*names)


class Settings(BaseSettings):
    """Every setting verifybot reads; secrets are SecretStr so they never reach a log."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True
    )

    db: str = Field("verifybot.db", validation_alias=_env("VERIFYBOT_DB"))
    database_url: SecretStr | None = Field(None, validation_alias=_env("VERIFYBOT_DATABASE_URL"))
    database_pool_size: int = Field(
        5, ge=1, le=100, validation_alias=_env("VERIFYBOT_DATABASE_POOL_SIZE")
    )
    web_only: bool = Field(False, validation_alias=_env("VERIFYBOT_WEB_ONLY"))
    host: str = Field("127.0.0.1", validation_alias=_env("VERIFYBOT_HOST"))
    port: int = Field(3000, ge=1, le=65535, validation_alias=_env("VERIFYBOT_PORT"))
    playbooks_dir: str | None = Field(None, validation_alias=_env("VERIFYBOT_PLAYBOOKS"))
    log_level: str = Field("INFO", validation_alias=_env("VERIFYBOT_LOG_LEVEL"))

    slack_security_users: UserIds = Field(
        frozenset(), validation_alias=_env("VERIFYBOT_SLACK_SECURITY_USERS")
    )
    slack_hiring_managers: UserIds = Field(
        frozenset(), validation_alias=_env("VERIFYBOT_SLACK_HIRING_MANAGERS")
    )
    teams_security_users: UserIds = Field(
        frozenset(), validation_alias=_env("VERIFYBOT_TEAMS_SECURITY_USERS")
    )
    teams_hiring_managers: UserIds = Field(
        frozenset(), validation_alias=_env("VERIFYBOT_TEAMS_HIRING_MANAGERS")
    )
    security_users: str | None = Field(None, validation_alias=_env("VERIFYBOT_SECURITY_USERS"))
    hiring_managers: str | None = Field(None, validation_alias=_env("VERIFYBOT_HIRING_MANAGERS"))

    slack_bot_token: SecretStr | None = Field(None, validation_alias=_env("SLACK_BOT_TOKEN"))
    slack_signing_secret: SecretStr | None = Field(
        None, validation_alias=_env("SLACK_SIGNING_SECRET")
    )
    slack_app_token: SecretStr | None = Field(None, validation_alias=_env("SLACK_APP_TOKEN"))
    slack_api_url: str = Field(DEFAULT_SLACK_API_URL, validation_alias=_env("SLACK_API_URL"))
    slack_security_channel: str | None = Field(
        None, validation_alias=_env("VERIFYBOT_SLACK_SECURITY_CHANNEL")
    )
    slack_security_usergroup: str | None = Field(
        None, validation_alias=_env("VERIFYBOT_SLACK_SECURITY_USERGROUP")
    )

    microsoft_app_id: str = Field("", validation_alias=_env("MicrosoftAppId", "MICROSOFT_APP_ID"))
    microsoft_app_password: SecretStr = Field(
        SecretStr(""), validation_alias=_env("MicrosoftAppPassword", "MICROSOFT_APP_PASSWORD")
    )
    microsoft_app_type: str = Field(
        "MultiTenant", validation_alias=_env("MicrosoftAppType", "MICROSOFT_APP_TYPE")
    )
    microsoft_app_tenant_id: str = Field(
        "", validation_alias=_env("MicrosoftAppTenantId", "MICROSOFT_APP_TENANT_ID")
    )
    teams_security_conversation_id: str | None = Field(
        None, validation_alias=_env("VERIFYBOT_TEAMS_SECURITY_CONVERSATION_ID")
    )
    teams_service_url: str | None = Field(
        None, validation_alias=_env("VERIFYBOT_TEAMS_SERVICE_URL")
    )
    teams_enabled: bool = Field(True, validation_alias=_env("VERIFYBOT_TEAMS_ENABLED"))
    notice_interval: float = Field(
        5.0, ge=0, le=3600, validation_alias=_env("VERIFYBOT_NOTICE_INTERVAL")
    )
    audit_key: SecretStr | None = Field(None, validation_alias=_env("VERIFYBOT_AUDIT_KEY"))
    data_key: SecretStr | None = Field(None, validation_alias=_env("VERIFYBOT_DATA_KEY"))
    index_key: SecretStr | None = Field(None, validation_alias=_env("VERIFYBOT_INDEX_KEY"))
    retention_days: int = Field(
        365, ge=1, le=36500, validation_alias=_env("VERIFYBOT_RETENTION_DAYS")
    )
    teams_emulator: bool = Field(False, validation_alias=_env("VERIFYBOT_TEAMS_EMULATOR"))
    trusted_proxy: IPvAnyAddress | None = Field(
        None, validation_alias=_env("VERIFYBOT_TRUSTED_PROXY")
    )
    job_lease_seconds: float = Field(
        30.0, gt=0, le=3600, validation_alias=_env("VERIFYBOT_JOB_LEASE_SECONDS")
    )
    outbox_lease_seconds: float = Field(
        60.0, ge=2, le=3600, validation_alias=_env("VERIFYBOT_OUTBOX_LEASE_SECONDS")
    )
    outbox_retry_cap_seconds: float = Field(
        300.0, ge=1, le=86400, validation_alias=_env("VERIFYBOT_OUTBOX_RETRY_CAP_SECONDS")
    )

    greenhouse_secret: SecretStr | None = Field(
        None, validation_alias=_env("VERIFYBOT_GREENHOUSE_SECRET")
    )
    greenhouse_stage: str = Field(
        "Offer", min_length=1, max_length=200, validation_alias=_env("VERIFYBOT_GREENHOUSE_STAGE")
    )
    greenhouse_api_key: SecretStr | None = Field(
        None, validation_alias=_env("VERIFYBOT_GREENHOUSE_API_KEY")
    )
    greenhouse_api_url: str = Field(
        DEFAULT_GREENHOUSE_API_URL, validation_alias=_env("VERIFYBOT_GREENHOUSE_API_URL")
    )
    slack_hiring_channel: str | None = Field(
        None, validation_alias=_env("VERIFYBOT_SLACK_HIRING_CHANNEL")
    )
    api_tokens: Annotated[dict[str, SecretStr], NoDecode] = Field(
        {}, validation_alias=_env("VERIFYBOT_API_TOKENS")
    )

    remind_after: timedelta = Field(
        timedelta(hours=24), validation_alias=_env("VERIFYBOT_REMIND_AFTER")
    )
    overdue_after: timedelta = Field(
        timedelta(hours=72), validation_alias=_env("VERIFYBOT_OVERDUE_AFTER")
    )
    business_hours: str | None = Field(None, validation_alias=_env("VERIFYBOT_BUSINESS_HOURS"))
    digest_at: time = Field(time(9, 0), validation_alias=_env("VERIFYBOT_DIGEST_AT"))
    timezone: str = Field("UTC", validation_alias=_env("VERIFYBOT_TIMEZONE"))
    slack_it_channel: str | None = Field(None, validation_alias=_env("VERIFYBOT_SLACK_IT_CHANNEL"))
    teams_it_conversation_id: str | None = Field(
        None, validation_alias=_env("VERIFYBOT_TEAMS_IT_CONVERSATION_ID")
    )

    @field_validator(
        "slack_security_users",
        "slack_hiring_managers",
        "teams_security_users",
        "teams_hiring_managers",
        mode="before",
    )
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            return frozenset(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("log_level")
    @classmethod
    def _known_log_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
        return level

    @field_validator("slack_api_url", "greenhouse_api_url")
    @classmethod
    def _trailing_slash(cls, value: str) -> str:
        return value if value.endswith("/") else value + "/"

    @field_validator("greenhouse_api_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL")
        return value

    @field_validator("database_url")
    @classmethod
    def _postgresql_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith(
            ("postgresql://", "postgres://")
        ):
            raise ValueError("must be a postgresql:// URL (unset it to use VERIFYBOT_DB)")
        return value

    @field_validator(
        "greenhouse_secret",
        "greenhouse_api_key",
        "slack_hiring_channel",
        "database_url",
        mode="before",
    )
    @classmethod
    def _none_when_blank(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("api_tokens", mode="before")
    @classmethod
    def _split_tokens(cls, value: object) -> object:
        """`name:token,token2`: a token without a name is called api-1, api-2, ..."""
        if not isinstance(value, str):
            return value
        tokens: dict[str, str] = {}
        for index, part in enumerate((p.strip() for p in value.split(",")), start=1):
            if not part:
                continue
            name, colon, token = part.partition(":")
            if not colon:
                name, token = f"api-{index}", part
            if not API_TOKEN_NAME.match(name):
                raise ValueError(f"token {index}: the name must be letters, digits, _ . or -")
            if len(token) < MIN_API_TOKEN_LENGTH:
                raise ValueError(f"token {name}: shorter than {MIN_API_TOKEN_LENGTH} characters")
            if name in tokens:
                raise ValueError(f"token {name}: named twice")
            tokens[name] = token
        return tokens

    @field_validator("remind_after", "overdue_after", mode="before")
    @classmethod
    def _duration(cls, value: object) -> object:
        return parse_duration(value) if isinstance(value, str) else value

    @field_validator("business_hours", "slack_it_channel", "teams_it_conversation_id")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    @field_validator("business_hours")
    @classmethod
    def _working_week(cls, value: str | None) -> str | None:
        if value is not None:
            BusinessHours.parse(value)
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        zone(value)
        return value.strip()

    @property
    def work_clock(self) -> WorkClock:
        """Durations counted in working time when VERIFYBOT_BUSINESS_HOURS is set."""
        hours = BusinessHours.parse(self.business_hours) if self.business_hours else None
        return WorkClock(hours)

    @field_validator("trusted_proxy", mode="before")
    @classmethod
    def _no_proxy_when_blank(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @property
    def teams_configured(self) -> bool:
        """Teams is served: with MicrosoftAppId, or for the Bot Framework Emulator on request."""
        return self.teams_enabled and bool(self.microsoft_app_id or self.teams_emulator)

    def check_roles(self) -> None:
        """SettingsError when the shared role variables of earlier versions are set."""
        shared = [
            name
            for field, name in SHARED_ROLE_VARIABLES.items()
            if getattr(self, field) is not None
        ]
        if shared:
            verb = "is" if len(shared) == 1 else "are"
            raise SettingsError(
                f"{' and '.join(shared)} {verb} no longer read: roles are per platform, "
                f"set {', '.join(ROLE_VARIABLES[:-1])} and {ROLE_VARIABLES[-1]} instead"
            )

    @property
    def database(self) -> str:
        """Where the database is: the PostgreSQL URL when set, else the SQLite file."""
        return self.database_url.get_secret_value() if self.database_url else self.db

    def key_settings(self) -> dict[str, str | None]:
        """The configured key secrets by purpose (None: from the key file beside the database)."""
        configured = {"audit": self.audit_key, "data": self.data_key, "index": self.index_key}
        return {name: key.get_secret_value() if key else None for name, key in configured.items()}

    def slack_missing(self, socket_mode: bool = False) -> list[str]:
        """The Slack variables that are not set, for HTTP or Socket Mode."""
        required = {"SLACK_BOT_TOKEN": self.slack_bot_token}
        if socket_mode:
            required["SLACK_APP_TOKEN"] = self.slack_app_token
        else:
            required["SLACK_SIGNING_SECRET"] = self.slack_signing_secret
        return [name for name, value in required.items() if not value]
