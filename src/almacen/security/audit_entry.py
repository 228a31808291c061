"""What an audit entry is and how it is sealed: its columns and actions, the canonical text its MAC
covers, the audit key, the anchor checkpoints' MAC, and who may be named as its actor.

`hash` = HMAC-SHA256 (hex), under the audit key, of the canonical JSON array
`[seq, at, actor, action, target, details, prev_hash]`; a checkpoint's MAC covers
`["almacen-audit-anchor", first, seq, hash, at]`, so one can never pass as the other. The log itself
(writing, folding, anchoring, verifying) is `almacen.security.audit`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
from datetime import datetime, timezone

import pyarrow as pa

from almacen.config.settings import ConfigError
from almacen.lake import Lake
from almacen.security.demo import is_demo_lake
from almacen.security.users import USERNAME

GENESIS = "0" * 64
KEY_ENV = "ALMACEN_AUDIT_KEY"
MIN_KEY_BYTES = 32
DEMO_AUDIT_KEY = b"almacen-demo-audit-key-not-secret"
"""the public audit key of demo lakes (`_system/DEMO`): anyone can re-chain a demo lake's log"""
ANCHOR_TAG = "almacen-audit-anchor"
"""the first element of a checkpoint's signed array, so a checkpoint's MAC can never pass as an entry's"""
ACTOR_KINDS = ("cli", "system")
"""actors that are not users are `<kind>:<name>`: `cli:<os user>` for the command line, `system:<job>`"""
_SYSTEM_ACTOR = re.compile(rf"(?:{'|'.join(ACTOR_KINDS)}):[A-Za-z0-9_.@$+-]{{1,64}}")
ACTIONS = frozenset(
    {
        "login.ok",
        "login.failed",
        "logout",
        "data.read",
        "export",
        "user.add",
        "user.remove",
        "user.set_role",
        "user.reset_password",
        "user.unlock",
        "user.logout",
        "token.create",
        "token.revoke",
        "publish",
        "pipeline.run",
        "access.denied",
        "request.failed",
    }
)
SECRET_WORDS = ("password", "secret", "token_value", "bearer")
SCHEMA = pa.schema(
    [
        ("seq", pa.int64()),
        ("at", pa.timestamp("us", tz="UTC")),
        ("actor", pa.string()),
        ("action", pa.string()),
        ("target", pa.string()),
        ("details", pa.string()),
        ("prev_hash", pa.string()),
        ("hash", pa.string()),
    ]
)


def canonical(seq: int, at: datetime, actor: str, action: str, target: str, details: str, prev_hash: str) -> bytes:
    """The canonical JSON (UTF-8) of an entry and the hash before it: what its MAC covers."""
    return json.dumps(
        [
            seq,
            at.astimezone(timezone.utc).isoformat(timespec="microseconds"),
            actor,
            action,
            target,
            details,
            prev_hash,
        ],
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode("utf-8")


def entry_hash(
    key: bytes, seq: int, at: datetime, actor: str, action: str, target: str, details: str, prev_hash: str
) -> str:
    """The HMAC-SHA256 (hex) under the audit key of the canonical JSON of an entry and the hash before it."""
    return hmac.new(key, canonical(seq, at, actor, action, target, details, prev_hash), hashlib.sha256).hexdigest()


def checkpoint_mac(key: bytes, first: int, seq: int, digest: str, at: str) -> str:
    """The HMAC-SHA256 (hex) of an anchor checkpoint: `["almacen-audit-anchor", first, seq, hash, at]`."""
    text = json.dumps([ANCHOR_TAG, first, seq, digest, at], ensure_ascii=False, separators=(",", ":"))
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).hexdigest()


def resolve_key(lake: Lake, key: bytes | None = None) -> bytes:
    """The audit key: `key`, else `ALMACEN_AUDIT_KEY`, else the public demo key on a demo lake only.

    Outside demo lakes the key must hold at least 32 bytes and may not be the demo key."""
    if key is None:
        text = os.environ.get(KEY_ENV, "")
        if text:
            key = text.encode("utf-8")
        elif is_demo_lake(lake):
            return DEMO_AUDIT_KEY
        else:
            raise ConfigError(
                f"{KEY_ENV} is not set: the audit log of {lake.root} is chained and anchored with a "
                f"secret key (32+ bytes) kept outside the lake; set {KEY_ENV} (or audit_key)"
            )
    if not key:
        raise ConfigError(f"{KEY_ENV} is empty: the audit log needs a secret key of {MIN_KEY_BYTES}+ bytes")
    if (len(key) < MIN_KEY_BYTES or key == DEMO_AUDIT_KEY) and not is_demo_lake(lake):
        why = "is the public demo key" if key == DEMO_AUDIT_KEY else f"has {len(key)} bytes"
        raise ConfigError(
            f"{KEY_ENV} {why}: outside a demo lake the audit key must be a secret of at least {MIN_KEY_BYTES} bytes"
        )
    return key


def check_actor(actor: str) -> None:
    """Refuse an actor that is neither a username nor `<kind>:<name>` (kind `cli` or `system`)."""
    if USERNAME.fullmatch(actor) or _SYSTEM_ACTOR.fullmatch(actor):
        return
    raise ValueError(
        f"audit actor {actor!r} is neither a username ({USERNAME.pattern}) nor "
        f"<kind>:<name> with kind {' or '.join(ACTOR_KINDS)} (e.g. cli:root)"
    )


def details_text(details: dict | None) -> str:
    """Canonical JSON of an entry's details; refuses keys that would hold a password or secret."""
    details = details or {}
    _refuse_secrets(details)
    return json.dumps(details, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def _refuse_secrets(value: object) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if any(word in str(key).lower() for word in SECRET_WORDS):
                raise ValueError(f"audit details may not hold {key!r}: passwords and token secrets are never logged")
            _refuse_secrets(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _refuse_secrets(item)
