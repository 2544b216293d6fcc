"""The admin key: given to editors, stored only as a salted scrypt hash, checked in constant time.

``kb admin-key`` makes a key and prints the line to put in the environment:
``KB_ADMIN_KEY_HASH=scrypt$16384$8$1$<salt>$<hash>``. The key itself is never stored.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

N, R, P = 2**14, 8, 1  # scrypt's cost: about 50 ms a check, 16 MiB of memory


def new_key() -> str:
    """A fresh random admin key."""
    return secrets.token_urlsafe(32)


def hash_key(key: str, salt: bytes | None = None) -> str:
    """The stored form of ``key``."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(key.encode(), salt=salt, n=N, r=R, p=P, dklen=32)
    return f"scrypt${N}${R}${P}${salt.hex()}${digest.hex()}"


def check_key(given: str, stored: str) -> bool:
    """Whether ``given`` is the key ``stored`` was made from (constant time in the digest)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        actual = hashlib.scrypt(given.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r),
                                p=int(p), dklen=len(digest) // 2)  # fmt: skip
    except ValueError:
        return False
    return hmac.compare_digest(actual.hex(), digest)


def valid_hash(stored: str) -> bool:
    """Whether ``stored`` looks like the output of :func:`hash_key`."""
    parts = stored.split("$")
    return len(parts) == 6 and parts[0] == "scrypt" and all(parts[1:])
