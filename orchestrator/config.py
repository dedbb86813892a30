"""Settings for every process role, read from `POLYGENT_*` environment variables.

Each role has its own class so that a host agent never sees (or needs) server secrets.
`load_settings` turns pydantic's validation errors into one sentence naming the variable,
because an operator should never read a traceback to learn that a port is out of range.
"""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path
from typing import Any, Literal, TypeVar

import platformdirs
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "POLYGENT_"
AGENT_ENV_PREFIX = "POLYGENT_AGENT_"


class ConfigError(Exception):
    """A setting is missing or invalid; the message is one sentence for the operator."""


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("polygent", appauthor=False))


class CommonSettings(BaseSettings):
    """Settings every role shares."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = "text"

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, v: Any) -> Any:
        return v.upper() if isinstance(v, str) else v


class ServerSettings(CommonSettings):
    """API, orchestrator worker, migrations and `polygent up` (the trusted roles)."""

    database_url: str | None = None
    temporal_address: str | None = Field(
        default=None, description="host:port of an external Temporal frontend; unset = embedded"
    )
    temporal_namespace: str = Field(default="polygent", min_length=1, max_length=200)
    temporal_port: int = Field(default=7233, ge=1, le=65535)
    temporal_ui_port: int = Field(default=8233, ge=1, le=65535)
    temporal_ui_url: str | None = None
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8000, ge=1, le=65535)
    public_url: str | None = Field(default=None, description="URL agents and browsers use")
    encryption_key: SecretStr | None = None
    heartbeat_interval_seconds: float = Field(default=10.0, gt=0, le=300)
    host_offline_after_seconds: float = Field(default=30.0, gt=0, le=3600)
    schedule_to_start_seconds: float = Field(default=5.0, gt=0, le=600)
    # How long an agent turn may go without a heartbeat before Temporal retries it (a dead
    # host); the retry resumes the provider's conversation.
    turn_heartbeat_timeout_seconds: float = Field(default=60.0, ge=2, le=3600)
    # Turns a SessionWorkflow run takes before it continues as new (keeps histories small).
    session_turns_per_run: int = Field(default=100, ge=1, le=10_000)
    # Pull requests of tickets: the providers' API roots (tests point them at fakes) and how
    # often an open pull request is asked whether it was merged, closed or has conflicts.
    github_api_url: str = Field(default="https://api.github.com", pattern=r"^https?://\S+$")
    ticket_pr_poll_seconds: float = Field(default=60.0, ge=0.5, le=86_400)
    # Sign-in: exactly one identity provider, or none (then only local sign-in on loopback).
    auth_provider: Literal["none", "google", "microsoft", "oidc"] = "none"
    auth_client_id: str | None = None
    auth_client_secret: SecretStr | None = None
    auth_tenant_id: str = Field(default="common", description="Microsoft: common or a tenant id")
    auth_issuer: str | None = Field(default=None, description="OIDC issuer URL (oidc only)")
    auth_scopes: str = Field(default="", description="extra scopes beyond openid email profile")
    auth_button_label: str = Field(default="SSO", max_length=60)
    auth_allow_new_users: bool = True
    admin_emails: str = Field(default="", description="emails that may become the first admin")
    access_token_minutes: int = Field(default=15, ge=1, le=60)
    refresh_token_days: int = Field(default=7, ge=1, le=90)
    session_max_days: int = Field(default=30, ge=1, le=365)
    max_body_bytes: int = Field(default=1_048_576, ge=1024)

    @field_validator("database_url")
    @classmethod
    def _db_url(cls, v: str | None) -> str | None:
        if v is None or v == "":
            return None
        if not v.startswith(("sqlite", "postgresql", "postgres://")):
            raise ValueError("must start with sqlite:// or postgresql://")
        return v

    @field_validator("temporal_address")
    @classmethod
    def _temporal_address(cls, v: str | None) -> str | None:
        if v is None or v in ("", "embedded"):
            return None
        host, sep, port = v.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("must be host:port, for example temporal.example.com:7233")
        return v

    @model_validator(mode="after")
    def _auth_complete(self) -> ServerSettings:
        if self.auth_provider != "none":
            for name in ("auth_client_id", "auth_client_secret"):
                if not getattr(self, name):
                    raise ValueError(f"{name} is required with auth_provider={self.auth_provider}")
        if self.auth_provider == "oidc" and not self.auth_issuer:
            raise ValueError("auth_issuer is required with auth_provider=oidc")
        return self

    @property
    def loopback_only(self) -> bool:
        """The API listens on loopback only: nobody else can reach it."""
        return self.api_host in ("127.0.0.1", "localhost", "::1")

    @property
    def local_sign_in(self) -> bool:
        """Local sign-in works only on loopback and only with no identity provider."""
        return self.loopback_only and self.auth_provider == "none"

    @property
    def secure_cookies(self) -> bool:
        """Secure cookies, except for plain http on loopback (browsers refuse them there)."""
        return not (self.effective_public_url.startswith("http://") and self.loopback_only)

    @property
    def admin_email_set(self) -> set[str]:
        return {e.strip().lower() for e in self.admin_emails.split(",") if e.strip()}

    @property
    def embedded_temporal(self) -> bool:
        return self.temporal_address is None

    @property
    def effective_temporal_address(self) -> str:
        return self.temporal_address or f"127.0.0.1:{self.temporal_port}"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'polygent.db'}"

    @property
    def effective_public_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.api_host in ("0.0.0.0", "::", "") else self.api_host
        return f"http://{host}:{self.api_port}"

    @property
    def effective_temporal_ui_url(self) -> str | None:
        if self.temporal_ui_url:
            return self.temporal_ui_url.rstrip("/")
        if self.embedded_temporal:
            return f"http://127.0.0.1:{self.temporal_ui_port}"
        return None


class AgentSettings(CommonSettings):
    """A session or deployment agent: only Name, MainServerUrl, ApiKey and StoragePath.

    They come from `POLYGENT_AGENT_*` variables or from a small JSON/TOML file beside the agent
    (`--config`), whose keys are the product's own names (Name, MainServerUrl, ...).
    """

    model_config = SettingsConfigDict(env_prefix=AGENT_ENV_PREFIX, extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir, validation_alias="POLYGENT_DATA_DIR")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", validation_alias="POLYGENT_LOG_LEVEL"
    )
    log_format: Literal["text", "json"] = Field(
        default="text", validation_alias="POLYGENT_LOG_FORMAT"
    )
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    main_server_url: str = Field(pattern=r"^https?://")
    api_key: SecretStr
    storage_path: Path
    temporal_address: str | None = None
    max_concurrent_activities: int = Field(default=8, ge=1, le=256)

    @field_validator("api_key")
    @classmethod
    def _key(cls, v: SecretStr) -> SecretStr:
        if not v.get_secret_value().startswith("pgk_"):
            raise ValueError("is not a Polygent host API key (they start with pgk_)")
        return v


FILE_KEYS = {
    "Name": "name",
    "MainServerUrl": "main_server_url",
    "ApiKey": "api_key",
    "StoragePath": "storage_path",
}


def read_agent_file(path: Path) -> dict[str, Any]:
    """Read an agent's config file (JSON or TOML) into AgentSettings field names."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"Cannot read the agent config file {path}: {exc.strerror}.") from exc
    try:
        raw = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"The agent config file {path} is not valid: {exc}.") from exc
    raw = raw.get("Agent", raw) if isinstance(raw, dict) else raw
    if not isinstance(raw, dict):
        raise ConfigError(f"The agent config file {path} must hold an object of settings.")
    unknown = sorted(set(raw) - set(FILE_KEYS))
    if unknown:
        raise ConfigError(
            f"Unknown key {unknown[0]} in {path}; the agent takes {', '.join(FILE_KEYS)}."
        )
    return {FILE_KEYS[k]: v for k, v in raw.items()}


S = TypeVar("S", bound=BaseSettings)


def _field_in(message: str) -> str:
    """The field a model-level validation message starts with (e.g. 'auth_issuer is ...')."""
    words = message.removeprefix("Value error, ").split()
    return words[0] if words else "?"


def _known_env_names() -> set[str]:
    names: set[str] = set()
    for cls, prefix in ((ServerSettings, ENV_PREFIX), (AgentSettings, AGENT_ENV_PREFIX)):
        for fname, field in cls.model_fields.items():
            alias = field.validation_alias
            names.add(alias if isinstance(alias, str) else f"{prefix}{fname}".upper())
    return names


def check_unknown_env(environ: dict[str, str] | None = None) -> None:
    """Refuse `POLYGENT_*` variables nobody reads: a typo would otherwise be silently ignored."""
    env = os.environ if environ is None else environ
    known = _known_env_names()
    for key in sorted(env):
        if key.upper().startswith(ENV_PREFIX) and key.upper() not in known:
            raise ConfigError(f"Unknown setting {key}; see `polygent --help` for the settings.")


def load_settings(cls: type[S], **overrides: Any) -> S:
    """Build settings, turning validation errors into one sentence naming the variable."""
    check_unknown_env()
    try:
        return cls(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        err = exc.errors()[0]
        field = str(err["loc"][0]) if err["loc"] else _field_in(str(err["msg"]))
        prefix = AGENT_ENV_PREFIX if cls is AgentSettings else ENV_PREFIX
        fld = cls.model_fields.get(field)
        alias = fld.validation_alias if fld is not None else None
        env_name = alias if isinstance(alias, str) else f"{prefix}{field}".upper()
        msg = str(err["msg"]).removeprefix("Value error, ")
        if not err["loc"]:
            raise ConfigError(f"Invalid setting {env_name}: {msg.split(' ', 1)[-1]}.") from None
        if err["type"] == "missing":
            raise ConfigError(f"Missing setting {env_name}.") from None
        raise ConfigError(f"Invalid setting {env_name}: {msg}.") from None
