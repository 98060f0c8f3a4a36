"""Hub settings: one pydantic model, read from the command line or CARBON_HUB_* variables.

Plain pydantic rather than pydantic-settings: five values do not need another
dependency, and the CLI passes them explicitly anyway.
"""

from __future__ import annotations

import os
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_DB = "sqlite:///hub.db"
ENV_PREFIX = "CARBON_HUB_"


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: SQLAlchemy URL: sqlite:///path.db or postgresql+psycopg://user@host/db
    database_url: str = DEFAULT_DB
    #: The hub's Ed25519 key (PEM, mode 0600); created on first start when absent.
    hub_key_path: str = "hub-key.pem"
    #: Seconds between scheduled main-chain blocks; 0 turns the schedule off.
    main_interval_s: float = Field(default=60.0, ge=0)
    #: Accepted clock difference for signed edge requests (contract: +-300 s).
    request_window_s: int = Field(default=300, ge=1)
    #: Most blocks one POST may carry.
    max_blocks_per_request: int = Field(default=64, ge=1, le=10_000)
    #: Bearer token for operator endpoints (make a main block, publish prices); None disables them.
    operator_token: str | None = None

    @classmethod
    def from_env(cls, **overrides: Any) -> Settings:
        """Settings from CARBON_HUB_<FIELD> variables, then explicit overrides (None = unset)."""
        values: dict[str, Any] = {}
        for name in cls.model_fields:
            env = os.environ.get(ENV_PREFIX + name.upper())
            if env is not None:
                values[name] = env
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls.model_validate(values)
