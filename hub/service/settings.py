"""Hub settings (pydantic-settings): CARBON_HUB_* variables, then what the command line says.

Read once by `carbon-edge hub serve` and handed to `create_app` and to the
uvicorn workers as an object (hub.service.server); nothing is written back
into the environment. Secrets never come from the command line: the operator
token is CARBON_HUB_OPERATOR_TOKEN or the file named by
CARBON_HUB_OPERATOR_TOKEN_FILE / --operator-token-file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DB = "sqlite:///hub.db"
ENV_PREFIX = "CARBON_HUB_"
MiB = 1 << 20


class SettingsError(ValueError):
    """A setting that cannot be used (one sentence for the operator)."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    #: SQLAlchemy URL: sqlite:///path.db or postgresql+psycopg://user@host/db
    database_url: str = DEFAULT_DB
    #: The hub's Ed25519 key (PEM, mode 0600); created on first start of an empty database,
    #: refused when missing for a database that already has main blocks.
    hub_key_path: str = "hub-key.pem"
    #: Seconds between scheduled main-chain blocks; 0 turns the schedule off.
    main_interval_s: float = Field(default=60.0, ge=0)
    #: Accepted clock difference for signed edge requests (contract: +-300 s).
    request_window_s: int = Field(default=300, ge=1, le=3600)
    #: Most blocks one POST /v1/edges/{id}/blocks may carry (413 above).
    max_blocks_per_request: int = Field(default=64, ge=1, le=256)
    #: Most transactions over all blocks of one POST (413 above).
    max_txs_per_request: int = Field(default=100_000, ge=1, le=1_000_000)
    #: Body of POST /v1/edges/{id}/blocks, bytes (413 as soon as more arrives).
    max_ingest_body_bytes: int = Field(default=16 * MiB, ge=4096, le=256 * MiB)
    #: Body of every other /v1 route, bytes.
    max_body_bytes: int = Field(default=1 * MiB, ge=4096, le=64 * MiB)
    #: Bearer token for operator endpoints; None (and no file) disables them.
    operator_token: SecretStr | None = None
    #: A file holding the operator token (first line); used when operator_token is unset.
    operator_token_file: Path | None = None
    #: TLS for `hub serve`: certificate chain and private key (PEM); both or neither.
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    #: The allocation loop's file (JSON; docs/hub.md, "The allocation loop"); None: defaults.
    allocation_config: Path | None = None
    #: Run the allocation loop every market period (off by default).
    allocation_schedule: bool = False
    #: Record the validator scoring every epoch (off by default).
    scoring_schedule: bool = False

    @model_validator(mode="after")
    def _tls_pair(self) -> Settings:
        if (self.ssl_certfile is None) != (self.ssl_keyfile is None):
            raise ValueError("ssl_certfile and ssl_keyfile go together")
        return self

    def token(self) -> str | None:
        """The operator token from the setting or its file; SettingsError when unusable."""
        if self.operator_token is not None:
            value = self.operator_token.get_secret_value()
        elif self.operator_token_file is not None:
            try:
                lines = self.operator_token_file.read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError) as exc:
                raise SettingsError(f"operator token file {self.operator_token_file}: "
                                    f"{exc.__class__.__name__}: {exc}") from None
            value = lines[0].strip() if lines else ""
        else:
            return None
        if len(value) < 16:
            raise SettingsError("the operator token must have at least 16 characters")
        return value

    @classmethod
    def load(cls, **overrides: Any) -> Settings:
        """CARBON_HUB_* variables, then explicit overrides (None = not given)."""
        return cls(**{k: v for k, v in overrides.items() if v is not None})
