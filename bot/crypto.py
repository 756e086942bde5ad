"""Encryption at rest, blind indexes and the audit MAC, under the keys of bot/keys.py.

Personal data is sealed with a per-candidate data key (AES-256-GCM), itself sealed with the
master data key; destroying a candidate's data key makes every value sealed with it unreadable.
Lookups compare keyed hashes (HMAC-SHA256) of normalised values, never clear text.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bot.keys import KEY_BYTES, Keys

SEALED_PREFIX = "v1:"
NONCE_BYTES = 12


class Unreadable(Exception):
    """A sealed value whose key is gone (an erased candidate) or that was tampered with."""


def is_sealed(value: object) -> bool:
    return isinstance(value, str) and value.startswith(SEALED_PREFIX)


def seal(key: bytes, plaintext: str, context: str) -> str:
    """`v1:` + base64(nonce + AES-GCM ciphertext), bound to `context` (the row it belongs to)."""
    nonce = secrets.token_bytes(NONCE_BYTES)
    sealed = AESGCM(key).encrypt(nonce, plaintext.encode(), context.encode())
    return SEALED_PREFIX + base64.b64encode(nonce + sealed).decode()


def unseal(key: bytes, value: str, context: str) -> str:
    try:
        raw = base64.b64decode(value.removeprefix(SEALED_PREFIX), validate=True)
        return AESGCM(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode()).decode()
    except (InvalidTag, ValueError) as error:
        raise Unreadable(context) from error


class Vault:
    """Seals and unseals personal data, computes blind indexes and audit MACs."""

    def __init__(self, keys: Keys) -> None:
        self.keys = keys

    # candidate data keys

    @staticmethod
    def new_data_key() -> bytes:
        return secrets.token_bytes(KEY_BYTES)

    def wrap(self, data_key: bytes, candidate_id: int) -> str:
        encoded = base64.b64encode(data_key).decode()
        return seal(self.keys.data, encoded, f"candidate-key:{candidate_id}")

    def unwrap(self, wrapped: str, candidate_id: int) -> bytes:
        return base64.b64decode(unseal(self.keys.data, wrapped, f"candidate-key:{candidate_id}"))

    # values sealed with the master key (transient chat state, erasure reasons)

    def seal_master(self, plaintext: str, context: str) -> str:
        return seal(self.keys.data, plaintext, context)

    def unseal_master(self, value: str, context: str) -> str:
        return unseal(self.keys.data, value, context)

    # lookups

    def blind_index(self, kind: str, normalized: str) -> str:
        """A keyed hash of a normalised value: equal values match, nothing else is revealed."""
        message = f"{kind}\0{normalized}".encode()
        return hmac.new(self.keys.index, message, hashlib.sha256).hexdigest()

    # the audit chain

    def event_mac(self, prev_mac: str, content: list[Any]) -> str:
        material = prev_mac + "\n" + json.dumps(content, sort_keys=True, separators=(",", ":"))
        return hmac.new(self.keys.audit, material.encode(), hashlib.sha256).hexdigest()
