"""Settings from the environment or a `.env` file, with the platforms' conventional names."""

from __future__ import annotations

from typing import Annotated

from pydantic import AliasChoices, Field, IPvAnyAddress, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_SLACK_API_URL = "https://slack.com/api/"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

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
    teams_emulator: bool = Field(False, validation_alias=_env("VERIFYBOT_TEAMS_EMULATOR"))
    trusted_proxy: IPvAnyAddress | None = Field(
        None, validation_alias=_env("VERIFYBOT_TRUSTED_PROXY")
    )
    index_key: SecretStr | None = Field(None, validation_alias=_env("VERIFYBOT_INDEX_KEY"))

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

    @field_validator("slack_api_url")
    @classmethod
    def _trailing_slash(cls, value: str) -> str:
        return value if value.endswith("/") else value + "/"

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

    def slack_missing(self, socket_mode: bool = False) -> list[str]:
        """The Slack variables that are not set, for HTTP or Socket Mode."""
        required = {"SLACK_BOT_TOKEN": self.slack_bot_token}
        if socket_mode:
            required["SLACK_APP_TOKEN"] = self.slack_app_token
        else:
            required["SLACK_SIGNING_SECRET"] = self.slack_signing_secret
        return [name for name, value in required.items() if not value]
