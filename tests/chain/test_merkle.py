"""RFC 6962 trees: published vectors, a recursive reference, and tampering."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.chain import merkle, native
from edge.chain.merkle import (
    CPU,
    EMPTY_ROOT,
    inclusion_proof,
    leaf_hash,
    merkle_root,
    node_hash,
    root_from_proof,
    verify_inclusion,
)

# The reference tree of RFC 6962's authors (certificate-transparency's
# merkle_tree_test): these eight leaves and the roots of their prefixes.
RFC6962_LEAVES = [
    bytes.fromhex(h)
    for h in ["", "00", "10", "2021", "3031", "40414243", "5051525354555657",
              "606162636465666768696a6b6c6d6e6f"]
]
RFC6962_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


def mth(leaves: list[bytes]) -> bytes:
    """RFC 6962 section 2.1, written as the RFC states it (recursive split)."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1 << ((n - 1).bit_length() - 1)
    return hashlib.sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:])).digest()


def path(m: int, leaves: list[bytes]) -> list[bytes]:
    """RFC 6962 section 2.1.1 PATH(m, D[n])."""
    n = len(leaves)
    if n == 1:
        return []
    k = 1 << ((n - 1).bit_length() - 1)
    if m < k:
        return path(m, leaves[:k]) + [mth(leaves[k:])]
    return path(m - k, leaves[k:]) + [mth(leaves[:k])]


def test_fips_180_4_sha256_examples():
    assert hashlib.sha256(b"abc").hexdigest() == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )
    two_block = b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
    assert hashlib.sha256(two_block).hexdigest() == (
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
    )
    assert CPU.sha256_many([b"a" * 1_000_000])[0].hex() == (
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
    )


@pytest.mark.parametrize("size", range(1, 9))
def test_rfc6962_reference_roots(size):
    assert merkle_root(RFC6962_LEAVES[:size]).hex() == RFC6962_ROOTS[size - 1]


def test_empty_tree_is_hash_of_nothing():
    assert merkle_root([]) == EMPTY_ROOT == mth([])


@settings(max_examples=60, deadline=None)
@given(leaves=st.lists(st.binary(max_size=300), max_size=300))
def test_native_and_hashlib_hashers_agree(leaves):
    fast = native.load()
    if fast is None:
        pytest.skip("no C compiler or libcrypto: the native loop is not built here")
    assert fast.merkle_root(leaves) == merkle.root_of_hashes(CPU.leaf_hashes(leaves), CPU) \
        if leaves else True
    assert fast.leaf_hashes(tuple(leaves)) == CPU.leaf_hashes(leaves)
    assert fast.sha256_many(leaves) == CPU.sha256_many(leaves)
    digests = CPU.leaf_hashes(leaves[: len(leaves) & ~1])
    assert fast.node_hashes(digests) == CPU.node_hashes(digests)


def test_native_hasher_refuses_non_bytes():
    fast = native.load()
    if fast is None:
        pytest.skip("no C compiler or libcrypto: the native loop is not built here")
    with pytest.raises(TypeError):
        fast.leaf_hashes([b"a", "not bytes"])


@pytest.mark.parametrize("size", [1, 2, 3, 1000, 4097])
def test_every_hasher_gives_the_rfc_root(size):
    leaves = [i.to_bytes(4, "big") for i in range(size)]
    want = mth(leaves)
    assert merkle_root(leaves) == want
    assert merkle_root(leaves, CPU) == want


leaf_lists = st.lists(st.binary(max_size=40), min_size=1, max_size=70)


@settings(max_examples=150, deadline=None)
@given(leaves=leaf_lists, data=st.data())
def test_every_proof_verifies_and_matches_rfc_path(leaves, data):
    root = merkle_root(leaves)
    assert root == mth(leaves)
    index = data.draw(st.integers(0, len(leaves) - 1))
    proof = inclusion_proof(leaves, index)
    assert proof == path(index, leaves)
    assert verify_inclusion(leaves[index], index, len(leaves), proof, root)


@settings(max_examples=150, deadline=None)
@given(leaves=leaf_lists, data=st.data())
def test_any_change_breaks_the_proof(leaves, data):
    root = merkle_root(leaves)
    n = len(leaves)
    index = data.draw(st.integers(0, n - 1))
    proof = inclusion_proof(leaves, index)
    leaf = leaves[index]
    # a changed leaf
    changed = data.draw(st.binary(max_size=40).filter(lambda b: b != leaf))
    assert not verify_inclusion(changed, index, n, proof, root)
    # a flipped bit in any proof step
    if proof:
        step = data.draw(st.integers(0, len(proof) - 1))
        bit = data.draw(st.integers(0, 255))
        bad = bytearray(proof[step])
        bad[bit // 8] ^= 1 << (bit % 8)
        tampered = proof[:step] + [bytes(bad)] + proof[step + 1 :]
        assert not verify_inclusion(leaf, index, n, tampered, root)
        # a dropped or an extra step
        assert not verify_inclusion(leaf, index, n, proof[:-1], root)
    assert not verify_inclusion(leaf, index, n, proof + [b"\x00" * 32], root)
    # a changed root
    bit = data.draw(st.integers(0, 255))
    bad_root = bytearray(root)
    bad_root[bit // 8] ^= 1 << (bit % 8)
    assert not verify_inclusion(leaf, index, n, proof, bytes(bad_root))


def test_proof_for_out_of_range_index_is_refused():
    with pytest.raises(IndexError):
        inclusion_proof([b"a", b"b"], 2)
    with pytest.raises(merkle.ProofError):
        root_from_proof(leaf_hash(b"a"), 5, 2, [])


def test_node_hashes_needs_pairs():
    with pytest.raises(ValueError):
        CPU.node_hashes([b"\x00" * 32])
    a, b = leaf_hash(b"a"), leaf_hash(b"b")
    assert CPU.node_hashes([a, b]) == [node_hash(a, b)]
