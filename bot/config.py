"""Settings from the environment or a `.env` file, with the platforms' conventional names."""

from __future__ import annotations

from typing import Annotated

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_SLACK_API_URL = "https://slack.com/api/"

UserIds = Annotated[frozenset[str], NoDecode]


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

    hiring_managers: UserIds = Field(
        frozenset(), validation_alias=_env("VERIFYBOT_HIRING_MANAGERS")
    )
    security_users: UserIds = Field(frozenset(), validation_alias=_env("VERIFYBOT_SECURITY_USERS"))

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
    job_lease_seconds: float = Field(
        30.0, gt=0, le=3600, validation_alias=_env("VERIFYBOT_JOB_LEASE_SECONDS")
    )

    @field_validator("hiring_managers", "security_users", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            return frozenset(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("slack_api_url")
    @classmethod
    def _trailing_slash(cls, value: str) -> str:
        return value if value.endswith("/") else value + "/"

    def slack_missing(self, socket_mode: bool = False) -> list[str]:
        """The Slack variables that are not set, for HTTP or Socket Mode."""
        required = {"SLACK_BOT_TOKEN": self.slack_bot_token}
        if socket_mode:
            required["SLACK_APP_TOKEN"] = self.slack_app_token
        else:
            required["SLACK_SIGNING_SECRET"] = self.slack_signing_secret
        return [name for name, value in required.items() if not value]
