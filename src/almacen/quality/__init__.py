"""Declarative quality rules and the gate that quarantines failing rows, never dropping them."""

from almacen.quality.gate import Split, split
from almacen.quality.rules import (JSON_INTEGER, JSON_STRING, TIMESTAMP, Allowed, Check, NotBefore, NotFuture, NotNull,
                                   NotSeen, Parsed, Range, References, Rule, Typed, Unique, ValidText)

__all__ = ["JSON_INTEGER", "JSON_STRING", "TIMESTAMP", "Allowed", "Check", "NotBefore", "NotFuture", "NotNull", "NotSeen", "Parsed", "Range", "References", "Rule", "Split", "Typed", "Unique",
           "ValidText", "split"]
