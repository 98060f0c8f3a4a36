"""The hub's identity: its Ed25519 key, bound to the main chain it has signed.

An edge pins the hub's public id; a hub that quietly changed key would sign
main blocks no edge accepts, or worse, a second history. So a key is created
only for a database without main blocks (a fresh hub just works), and a hub
whose database already has main blocks refuses to start with a missing key
file or with a key that did not sign them (restore the key from backup).
"""

from __future__ import annotations

import logging
from pathlib import Path

from edge.chain.keys import PrivateKey, generate_key, load_private_key, public_id, save_private_key
from hub.service import mainchain
from hub.service.db import Database
from hub.service.errors import IdentityError

log = logging.getLogger("hub.service")


def check_key(key: PrivateKey, producer: str | None) -> None:
    """IdentityError unless `key` signed this main chain (or there is none yet)."""
    own = public_id(key.public_key())
    if producer is not None and producer != own:
        raise IdentityError("wrong_hub_key", f"the main chain is signed by {producer}, this "
                            f"key is {own}: use the hub's own key")


def hub_key(db: Database, path: str | Path) -> PrivateKey:
    """The hub key for this database (KeyFileError for an unreadable or unsafe file)."""
    producer = mainchain.producer(db)
    if not Path(path).exists():
        if producer is not None:
            raise IdentityError("missing_hub_key", f"hub key {path} is missing, and this "
                                f"database's main chain is signed by {producer}: restore that "
                                "key (a new one would be another hub)")
        key = generate_key()
        save_private_key(key, path)
        log.warning("created a new hub key at %s (public id %s)", path,
                    public_id(key.public_key()))
        return key
    key = load_private_key(path)
    check_key(key, producer)
    return key
