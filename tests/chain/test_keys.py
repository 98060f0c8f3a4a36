"""Ed25519 known answers (RFC 8032 section 7.1) and key-file handling."""

from __future__ import annotations

import os
import stat

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.chain.keys import (
    KeyFileError,
    generate_key,
    load_private_key,
    public_id,
    save_private_key,
    sign,
    verify_signature,
)

RFC8032 = [
    (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
    (
        "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "af82",
        "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    ),
]


@pytest.mark.parametrize("secret,public,message,signature", RFC8032)
def test_rfc8032_vectors(secret, public, message, signature):
    key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(secret))
    assert public_id(key.public_key()) == public
    assert sign(key, bytes.fromhex(message)).hex() == signature
    assert verify_signature(public, bytes.fromhex(message), bytes.fromhex(signature))
    assert not verify_signature(public, bytes.fromhex(message) + b"x", bytes.fromhex(signature))


def test_saved_key_is_owner_only_and_round_trips(tmp_path):
    key = generate_key()
    path = save_private_key(key, tmp_path / "edge.pem")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    loaded = load_private_key(path)
    assert public_id(loaded.public_key()) == public_id(key.public_key())


def test_refuses_to_overwrite(tmp_path):
    path = save_private_key(generate_key(), tmp_path / "k.pem")
    with pytest.raises(KeyFileError, match="exists"):
        save_private_key(generate_key(), path)


@pytest.mark.parametrize("mode", [0o644, 0o604, 0o640])
def test_refuses_keys_others_can_read(tmp_path, mode):
    path = save_private_key(generate_key(), tmp_path / "k.pem")
    os.chmod(path, mode)
    with pytest.raises(KeyFileError, match="chmod 600"):
        load_private_key(path)


def test_refuses_garbage_and_missing(tmp_path):
    bad = tmp_path / "bad.pem"
    bad.write_text("not a key")
    os.chmod(bad, 0o600)
    with pytest.raises(KeyFileError, match="not an unencrypted PEM"):
        load_private_key(bad)
    with pytest.raises(KeyFileError, match="no key file"):
        load_private_key(tmp_path / "missing.pem")


def test_bad_public_ids_never_verify():
    assert not verify_signature("zz", b"", b"\x00" * 64)
    assert not verify_signature("00" * 31, b"", b"\x00" * 64)
