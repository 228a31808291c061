"""Declarative quality rules and the gate that quarantines failing rows, never dropping them."""

from almacen.quality.gate import Gate, InputError, Split, inputs_of, split
from almacen.quality.rules import (JSON_INTEGER, JSON_STRING, TIMESTAMP, Allowed, Check, Input, NotBefore, NotFuture,
                                   NotNull, NotSeen, Parsed, Range, References, Rule, Typed, Unique, ValidText)

__all__ = ["JSON_INTEGER", "JSON_STRING", "TIMESTAMP", "Allowed", "Check", "Gate", "Input", "InputError", "NotBefore",
           "NotFuture", "NotNull", "NotSeen", "Parsed", "Range", "References", "Rule", "Split", "Typed", "Unique",
           "ValidText", "inputs_of", "split"]
