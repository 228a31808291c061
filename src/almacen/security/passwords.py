"""The password policy of new passwords (`users add`, `users reset-password`), after NIST SP 800-63B rev. 4.

Passwords here are the only factor (there is no second one), so rev. 4 §3.1.1.2 asks for at least 15
characters; the maximum is 128 (the standard asks to allow at least 64). Every printable character is
allowed, spaces included, and there are no composition rules (no "one digit, one capital"): length and
a blocklist do the work. The blocklist refuses, compared case-insensitively:

- passwords that are empty or only whitespace;
- repetitive ones: one character or chunk repeated (`aaaa…`, `abab…`, `passwordpassword`, `aaaaaaab`);
- sequential ones: made mostly of runs in alphabet, digit or keyboard order (`abcdefghijkl`,
  `123456789012`, `qwertyuiop12345`), a run of one character repeated counting as one character;
- context-specific words: the username (or a part of it, like `lopez` of `ana.lopez`) and the name
  of the service, `almacen`;
- the 19,640 common passwords of `common-passwords.txt.gz` (Django's list, BSD licence; provenance in
  `common-passwords-LICENSE.txt`), also when only digits, symbols or spaces were added around one
  (`iloveyou2026!!!`) or its words were split apart (`i-love-you-1234`).

Control characters (tab, newline, NUL …) are refused too: no login form can type them, so one is a
paste mistake. Each refusal is a ValueError naming the user and every reason found.
"""

from __future__ import annotations

import functools
import gzip
import re
import unicodedata
from pathlib import Path

from almacen.errors import UsageError

MIN_LENGTH = 15
"""NIST SP 800-63B rev. 4: at least 15 characters for a password that is the only authentication factor"""
MAX_LENGTH = 128
"""at least 64 must be allowed; longer than 128 is almost certainly a paste of something else"""
SERVICE_WORDS = ("almacen",)
"""words specific to this service that users are likely to pick"""
COMMON_PASSWORDS = Path(__file__).with_name("common-passwords.txt.gz")
SEQUENCES = (
    "abcdefghijklmnopqrstuvwxyz",
    "0123456789",
    "qwertyuiopasdfghjklzxcvbnm",
    "qwertyuiopasdfghjklñzxcvbnm",
    "qazwsxedcrfvtgbyhnujmikolp",
    "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p",
    "1q2w3e4r5t6y7u8i9o0p",
    "!@#$%^&*()_+",
)
"""orders people type in: alphabet and digits (wrapping round, 7890123), keyboard rows and columns"""
_CORE_MIN = 4
"""a common password is looked for inside digits and symbols only when at least this long"""


@functools.cache
def common_passwords() -> frozenset[str]:
    """The shipped list of common passwords, case-folded; read once, at the first password checked."""
    with gzip.open(COMMON_PASSWORDS, "rt", encoding="utf-8") as lines:
        return frozenset(word for line in lines if (word := _fold(line.strip())))


@functools.cache
def _sequences() -> tuple[str, ...]:
    """Each sequence and its reverse, repeated so that every wrapped-round run is a substring."""
    long = [s * (MAX_LENGTH // len(s) + 2) for s in SEQUENCES]
    return tuple(long + [s[::-1] for s in long])


def check_password(username: str, password: str) -> None:
    """Refuse an unfit new password with a UsageError naming `username` and every reason; None when fit."""
    reasons = problems(username, password)
    if reasons:
        raise UsageError(f"password for user {username} refused: it {'; it '.join(reasons)}")


def problems(username: str, password: str) -> list[str]:
    """Why `password` is unfit for `username` (empty when it is fit), each reason a short phrase."""
    text = unicodedata.normalize("NFKC", password)
    folded = _fold(password)
    reasons = []
    if not text.strip():
        reasons.append("is empty or only whitespace")
    if len(text) < MIN_LENGTH:
        reasons.append(f"is too short ({len(text)} characters, at least {MIN_LENGTH})")
    if len(text) > MAX_LENGTH:
        reasons.append(f"is too long ({len(text)} characters, at most {MAX_LENGTH})")
        return reasons  # the pattern checks below are not worth running on a pasted document
    if any(unicodedata.category(c) in ("Cc", "Cs") for c in text):
        reasons.append("holds a control character (tab, newline …): type it with printable characters and spaces")
    if folded.strip():
        if _repetitive(folded):
            reasons.append("repeats one character or chunk (like aaaa… or abab…)")
        elif _sequential(folded):
            reasons.append("is mostly characters in sequence (like abcd…, 1234…, qwerty…)")
    reasons += [f"contains {why}" for why in _context(username, folded)]
    if _common(folded):
        reasons.append("is a common password, or one with only digits, symbols or spaces added")
    return reasons


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def _collapse(text: str) -> str:
    """Runs of one character as one character: `aaabbb1111` -> `ab1`."""
    return re.sub(r"(.)\1+", r"\1", text, flags=re.DOTALL)


def _periodic(text: str) -> bool:
    """Whether `text` is one chunk repeated (`abcabc`): it is exactly when it occurs inside itself doubled."""
    return len(text) > 1 and text in (text + text)[1:-1]


def _repetitive(folded: str) -> bool:
    collapsed = _collapse(folded.strip())
    return _periodic(folded) or _periodic(collapsed) or len(collapsed) <= 3


def _sequential(folded: str) -> bool:
    """Mostly runs of typing order: the collapsed text splits into few such runs (on average over 4 long)."""
    collapsed = _collapse(folded)
    runs, i = 0, 0
    while i < len(collapsed):
        j = i + 1
        while j < len(collapsed) and any(collapsed[i : j + 1] in s for s in _sequences()):
            j += 1
        runs, i = runs + 1, j
    return runs <= max(3, len(collapsed) // 4)


def _context(username: str, folded: str) -> list[str]:
    """The username (or its parts of 3 letters or more) and the service's name, where `folded` holds them.

    Words of 5 characters or more count anywhere; shorter ones only standing apart from other letters,
    so `ana` refuses `ana-2026…` and `soy ana …` but not `banana …`.
    """
    name = _fold(username)
    parts = {name, *(p for p in re.split(r"[._\-\d]+", name) if len(p) >= 3)} - {""}
    found = []
    for word in sorted(parts, key=len, reverse=True):
        if len(word) < 3 and word == name:
            continue
        if _holds(folded, word):
            found.append("the username" if word == name else f"part of the username ({word!r})")
            break
    found += [f"the name of the service ({word!r})" for word in SERVICE_WORDS if _holds(folded, word)]
    return found


def _holds(folded: str, word: str) -> bool:
    if len(word) >= 5:
        return word in folded
    return re.search(rf"(?<![^\W\d_]){re.escape(word)}(?![^\W\d_])", folded) is not None


def _common(folded: str) -> bool:
    """In the list as typed, with digits, symbols and spaces stripped from its ends, or its letters alone."""
    listed = common_passwords()
    core = re.sub(r"^[\W\d_]+|[\W\d_]+$", "", folded)
    letters = re.sub(r"[\W\d_]+", "", core)
    return (
        folded in listed
        or folded.strip() in listed
        or any(len(c) >= _CORE_MIN and c in listed for c in (core, letters))
    )
