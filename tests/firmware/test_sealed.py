"""Sealed bids on the gateway: X25519, ChaCha20-Poly1305, HKDF-SHA256 and seal() on the unix port.

Primitives against their RFCs' vectors (RFC 7748 sections 5.2 and 6.1, RFC
8439 sections 2.5.2 and 2.8.2, RFC 5869 appendix A) and against
`cryptography` on a few random inputs; seal() against the shared vectors
of the edge (tests/vectors/sealed.json) and opened by the edge's own
edge.market.sealed.open_bid. Lean: big-integer crypto is slow on the port.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from edge.market.sealed import DOES_NOT_OPEN, OrganiserKey, SealedBidError, open_bid
from tests.kit.firmware import run_mp

SEALED = json.loads((Path(__file__).parents[1] / "vectors" / "sealed.json").read_text())["cases"]

# RFC 7748 section 5.2 (first vector) and section 6.1 (Alice and Bob)
X25519_RFC = [
    ("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
     "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
     "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552"),
    ("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a", "09" + "00" * 31,
     "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"),
    ("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb", "09" + "00" * 31,
     "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"),
    ("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
     "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f",
     "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742"),
]
SUNSCREEN = (b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for "
             b"the future, sunscreen would be it.")


def mp_json(code: str, board=None):
    return json.loads((board.run(code) if board else run_mp(code)).stdout.strip().splitlines()[-1])


def test_x25519_rfc7748_and_cryptography():
    rnd = random.Random(21)
    extra = [(bytes(rnd.randrange(256) for _ in range(32)).hex(),
              bytes(rnd.randrange(256) for _ in range(32)).hex()) for _ in range(2)]
    cases = [(k, u) for k, u, _ in X25519_RFC] + extra
    got = mp_json(
        "import json\nfrom binascii import unhexlify as u\nfrom gateway.x25519 import x25519\n"
        f"cases = {json.dumps(cases)}\n"
        "print(json.dumps([x25519(u(k), u(x)).hex() for k, x in cases]))"
    )
    assert got[:len(X25519_RFC)] == [out for _, _, out in X25519_RFC]
    for (k, u), have in zip(cases, got, strict=True):
        ref = X25519PrivateKey.from_private_bytes(bytes.fromhex(k)).exchange(
            X25519PublicKey.from_public_bytes(bytes.fromhex(u)))
        assert have == ref.hex()


def test_chacha20_poly1305_rfc8439_and_cryptography():
    key = bytes(range(0x80, 0xA0))
    nonce = bytes.fromhex("070000004041424344454647")
    aad = bytes.fromhex("50515253c0c1c2c3c4c5c6c7")
    extra = [(os.urandom(32), os.urandom(12), os.urandom(n), os.urandom(m))
             for n, m in ((8, 44), (0, 0), (65, 3))]
    cases = [(key, nonce, SUNSCREEN, aad)] + extra
    poly_key = bytes.fromhex("85d6be7857556d337f4452fe42d506a80103808afb0db2fd4abff6af4149f51b")
    got = mp_json(
        "import json\nfrom binascii import unhexlify as u\n"
        "from gateway import chacha20poly1305 as c\n"
        f"cases = {json.dumps([[x.hex() for x in cs] for cs in cases])}\n"
        "out = [c.encrypt(u(k), u(n), u(p), u(a)).hex() for k, n, p, a in cases]\n"
        "k, n, p, a = [u(x) for x in cases[0]]\n"
        "s = c.encrypt(k, n, p, a)\n"
        "checks = [c.decrypt(k, n, s, a) == p]\n"
        "for bad in (s[:5] + bytes([s[5] ^ 1]) + s[6:], s[:-1] + bytes([s[-1] ^ 128])):\n"
        "    try:\n        c.decrypt(k, n, bad, a); checks.append('opened')\n"
        "    except ValueError as e:\n        checks.append(str(e))\n"
        f"poly = c.poly1305(u('{poly_key.hex()}'), b'Cryptographic Forum Research Group').hex()\n"
        "print(json.dumps([out, checks, poly]))"
    )
    out, checks, poly = got
    # RFC 8439 2.8.2: the first ciphertext block and the tag; 2.5.2: the Poly1305 tag
    assert out[0].startswith("d31a8d34648e60db7b86afbc53ef7ec2")
    assert out[0].endswith("1ae10b594f09e26a7e902ecbd0600691")
    assert poly == "a8061dc1305136c6c22b8baf0c0127a9"
    for (k, n, p, a), have in zip(cases, out, strict=True):
        assert have == ChaCha20Poly1305(k).encrypt(n, p, a).hex()
    assert checks == [True, "tag does not match", "tag does not match"]


def test_hkdf_sha256_rfc5869_and_cryptography():
    cases = [  # RFC 5869 A.1 and A.3, then the sealed-bid shape (44 bytes)
        ("0b" * 22, "000102030405060708090a0b0c", "f0f1f2f3f4f5f6f7f8f9", 42),
        ("0b" * 22, "", "", 42),
        (os.urandom(32).hex(), os.urandom(64).hex(), b"carbon-edge sealed bid v1".hex(), 44),
    ]
    got = mp_json(
        "import json\nfrom binascii import unhexlify as u\nfrom gateway.hkdf import hkdf_sha256\n"
        f"cases = {json.dumps(cases)}\n"
        "print(json.dumps([hkdf_sha256(u(i), u(s), u(f), n).hex() for i, s, f, n in cases]))"
    )
    assert got[0] == ("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
                      "34007208d5b887185865")
    assert got[1] == ("8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d"
                      "9d201395faa4b61a96c8")
    for (i, s, f, n), have in zip(cases, got, strict=True):
        ref = HKDF(algorithm=hashes.SHA256(), length=n, salt=bytes.fromhex(s) or None,
                   info=bytes.fromhex(f)).derive(bytes.fromhex(i))
        assert have == ref.hex()


def test_seal_matches_the_edges_vectors_and_opens_on_the_edge(board):
    vec = [[c["price"], c["qty_wh"], c["organiser_public"], c["gw"], c["interval"], c["round"],
            c["ephemeral_private"]] for c in SEALED]
    org = OrganiserKey.generate(1718445600, 2)
    fresh = [[0, 1, org.public.hex(), "gw-07", 1718445600, 2, None],
             [2**31 - 1, 2**31 - 1, org.public.hex(), "gw-07", 1718445600, 2, None]]
    got = mp_json(
        "import json\nfrom binascii import unhexlify as u\nfrom gateway import sealed\nout = []\n"
        f"for p, q, pub, gw, iv, rnd, eph in json.loads({json.dumps(json.dumps(vec + fresh))}):\n"
        "    b = sealed.seal(p, q, u(pub), gw, iv, rnd, u(eph) if eph else None)\n"
        "    out.append([b.hex(), sealed.commitment(b), sealed.key_id(u(pub))])\n"
        "bad = []\n"
        "for args in ((2**31, 1), (5, 0), (-1, 1)):\n"
        "    try:\n"
        f"        sealed.seal(args[0], args[1], u('{org.public.hex()}'), 'g', 0, 0)\n"
        "        bad.append('ok')\n"
        "    except ValueError as e:\n        bad.append(str(e))\n"
        "try:\n    sealed.seal(1, 1, bytes(32), 'g', 0, 0); bad.append('ok')\n"
        "except ValueError as e:\n    bad.append(str(e))\n"
        "print(json.dumps([out, bad]))", board
    )
    out, bad = got
    for c, (blob, com, kid) in zip(SEALED, out, strict=False):
        assert (blob, com, kid) == (c["blob"], c["commitment"], c["kid"])
    (b1, _, k1), (b2, _, _) = out[len(SEALED):]
    assert k1 == org.kid
    assert open_bid(bytes.fromhex(b1), org, "gw-07") == (0, 1)
    assert open_bid(bytes.fromhex(b2), org, "gw-07") == (2**31 - 1, 2**31 - 1)
    assert b1[:64] != b2[:64]  # a fresh ephemeral key per bid
    for wrong in (lambda: open_bid(bytes.fromhex(b1), org, "gw-08"),
                  lambda: open_bid(bytes.fromhex(b1), OrganiserKey(1718445600, 3, org.private),
                                   "gw-07")):
        with pytest.raises(SealedBidError) as e:
            wrong()
        assert e.value.reason == DOES_NOT_OPEN
    assert bad == ["price 2147483648 or qty_wh 1 out of range", "price 5 or qty_wh 0 out of range",
                   "price -1 or qty_wh 1 out of range", "organiser key is a low-order point"]
    pub = X25519PrivateKey.from_private_bytes(bytes.fromhex(SEALED[0]["ephemeral_private"]))
    assert out[0][0][:64] == pub.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


def test_organiser_key_announcements_are_verified():
    """The edge's announcement (edge.market.sealed.announcement) checked on the port."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from edge.market.sealed import announcement
    from tests.kit.firmware import TEST_EDGE_SEED, TEST_EDGE_SIGNER, sign_downlink

    edge_key = Ed25519PrivateKey.from_private_bytes(TEST_EDGE_SEED)
    org = OrganiserKey.generate(1718445600, 1)
    good = announcement("s1", org, edge_key, 1718445000000)
    other = OrganiserKey.generate(1718445600, 1)
    body = {k: v for k, v in good.items() if k not in ("sig", "signer")}
    cases = [
        good,
        {**good, "round": 2},  # changed after signing
        announcement("s1", org, Ed25519PrivateKey.generate(), 1718445000000),  # another key
        sign_downlink({**body, "kid": other.kid}),  # signed, but kid names another key
        sign_downlink({**body, "pub": "00" * 31}),
        sign_downlink({**body, "round": -1}),
    ]
    got = mp_json(
        "import json\nfrom binascii import unhexlify as u\n"
        "from gateway.downlink import check_organiser_key\nfrom gateway.ed25519 import Verifier\n"
        f"signer = '{TEST_EDGE_SIGNER}'\nv = Verifier(u(signer))\nout = []\n"
        f"for m in json.loads({json.dumps(json.dumps(cases))}):\n"
        "    try:\n"
        "        iv, rnd, pub = check_organiser_key(m, signer, v)\n"
        "        out.append([iv, rnd, pub.hex()])\n"
        "    except ValueError as e:\n"
        "        out.append([e.reason, str(e)])\n"
        "print(json.dumps(out))"
    )
    assert got == [
        [1718445600, 1, org.public.hex()],
        ["forged", "Ed25519 signature does not verify"],
        ["forged", "signer is not the configured edge key"],
        ["bad", "organiser key kid does not name its pub"],
        ["bad", "organiser key pub must be 64 lowercase hex digits"],
        ["bad", "organiser key interval and round must be non-negative integers"],
    ]
