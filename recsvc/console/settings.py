"""The console's one settings object, read from RECSVC_CONSOLE_* environment variables."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["ROLES", "ConsoleSettings", "SignInToken", "parse_tokens"]

# Each role sees what the one before it sees, and more.
ROLES = ("viewer", "marketer", "admin")


@dataclass(frozen=True, slots=True)
class SignInToken:
    """One sign-in token: who it names, the role it grants, and the SHA-256 of the token
    (the token itself is not kept once parsed)."""

    name: str
    role: str
    digest: bytes


def parse_tokens(value: str) -> tuple[SignInToken, ...]:
    """``name:role:token`` entries separated by commas; ValueError naming the entry's
    position (never the token) on anything else."""
    out: list[SignInToken] = []
    for n, entry in enumerate((e.strip() for e in value.split(",")), start=1):
        if not entry:
            continue
        parts = entry.split(":", 2)
        if len(parts) != 3 or not parts[0] or not parts[2]:
            raise ValueError(f"entry {n} is not name:role:token")
        name, role, token = parts
        if role not in ROLES:
            raise ValueError(f"entry {n} ({name}) has role {role!r}, not one of {ROLES}")
        if len(token) < 16:
            raise ValueError(f"entry {n} ({name}): tokens need at least 16 characters")
        out.append(SignInToken(name, role, hashlib.sha256(token.encode()).digest()))
    names = [t.name for t in out]
    if len(set(names)) != len(names):
        raise ValueError("token names must be unique (they name who did what)")
    return tuple(out)


class ConsoleSettings(BaseSettings):
    """Everything the console can be told. It reads the table the service serves and the
    service's metrics, and asks the service for recommendations; AWS credentials come from
    the usual AWS_* variables or the task role."""

    # hide_input_in_errors: a rejected value may be a token; errors name the field only.
    model_config = SettingsConfigDict(env_prefix="RECSVC_CONSOLE_", frozen=True, extra="ignore",
                                      hide_input_in_errors=True)

    host: str = Field("0.0.0.0", description="Address the console's HTTP server binds to.")
    port: int = Field(8080, ge=0, le=65535, description="HTTP port; 0 picks a free one.")
    tokens: SecretStr = Field(
        SecretStr(""),
        description="Sign-in tokens: comma-separated name:role:token, role one of viewer "
        "(no personal data), marketer (masked previews, exports), admin (lookup). The name "
        "is who the export history and the audit log record. Empty: nobody can sign in.",
    )
    session_secret: SecretStr = Field(
        SecretStr(""),
        description="Key that signs the session cookie; the same on every console task. "
        "Empty: a random key per process (sessions end when it restarts).",
    )
    session_max_age_s: int = Field(
        8 * 3600, ge=60, description="A sign-in lasts this long (seconds)."
    )
    cookie_secure: bool = Field(
        True,
        description="Send the session cookie over HTTPS only; false only for plain-HTTP "
        "local runs (make serve, tests).",
    )
    table: str = Field(
        "recsvc", min_length=3,
        description="DynamoDB table of the generations (RECSVC_TABLE of the service); the "
        "export history and the lookup audit log are kept there too.",
    )
    aws_region: str = Field("us-east-1", description="AWS region of DynamoDB and S3.")
    dynamodb_endpoint_url: str | None = Field(
        None, description="DynamoDB endpoint; unset on AWS, a moto URL locally."
    )
    s3_endpoint_url: str | None = Field(None, description="S3 endpoint; unset on AWS.")
    store_timeout_s: float = Field(
        3.0, gt=0, description="Upper bound of one DynamoDB call of a page."
    )
    history_generations: int = Field(
        90, ge=2, le=1000, description="Generations the charts cover (newest first)."
    )
    summaries_ttl_s: float = Field(
        60.0, ge=0,
        description="Longest reuse of the read generation summaries (they change when the "
        "job publishes: a list without the served generation's summary is read again "
        "within 2 s); 0 reads them on every page.",
    )
    preview_members: int = Field(
        20, ge=1, le=200, description="Members a segment page previews (masked addresses)."
    )
    recsvc_target: str = Field(
        "127.0.0.1:50051",
        description="HOST:PORT of the recommendation service's gRPC API (Lookup asks it "
        "for the shopper's current recommendations).",
    )
    recsvc_tls: bool = Field(False, description="Call the service over TLS.")
    recommend_token: SecretStr = Field(
        SecretStr(""),
        description="Bearer token for Recommend, when the service's RECSVC_RECOMMEND_TOKENS "
        "closes it.",
    )
    recommend_timeout_s: float = Field(2.0, gt=0, description="Deadline of Lookup's call.")
    metrics_urls: str = Field(
        "",
        description="Comma-separated /metrics URLs of the service (RECSVC_METRICS_PORT). A "
        "host name that resolves to several addresses (a Cloud Map service) is scraped at "
        "each; the figures are summed. Empty: no live figures.",
    )
    metrics_interval_s: float = Field(
        5.0, gt=0, description="How often the service's metrics are scraped."
    )
    metrics_window_s: float = Field(
        60.0, gt=0, description="Live figures (calls/s, p99, ...) cover this many seconds."
    )
    export_uri: str = Field(
        "",
        description="Where exports are written: s3://bucket/prefix or a local directory "
        "(<uri>/<segment>/<generation>/<format>.<ext>). Empty: exports are refused.",
    )
    pinpoint_application_id: str = Field(
        "", description="Pinpoint project that pinpoint-* exports may be imported into."
    )
    pinpoint_role_arn: str = Field(
        "", description="IAM role Pinpoint assumes to read an export from S3."
    )
    ses_contact_list: str = Field(
        "", description="SES v2 contact list that ses-* exports may be imported into."
    )
    access_log: bool = Field(True, description="One JSON line per request (path, status, ms).")
    log_level: str = Field("INFO", description="Python logging level.")

    @field_validator("log_level")
    @classmethod
    def _level(cls, v: str) -> str:
        v = v.upper()
        if v not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError(f"unknown log level {v!r}")
        return v

    @field_validator("tokens")
    @classmethod
    def _tokens(cls, v: SecretStr) -> SecretStr:
        parse_tokens(v.get_secret_value())  # fail at start, not at the first sign-in
        return v

    @property
    def sign_in_tokens(self) -> tuple[SignInToken, ...]:
        return parse_tokens(self.tokens.get_secret_value())

    @property
    def metrics_url_list(self) -> tuple[str, ...]:
        return tuple(u.strip() for u in self.metrics_urls.split(",") if u.strip())

    @classmethod
    def from_env(cls, **overrides: object) -> ConsoleSettings:
        """Read RECSVC_CONSOLE_* variables; ``overrides`` win (CLI flags)."""
        return cls(**{k: v for k, v in overrides.items() if v is not None})  # type: ignore[arg-type]
