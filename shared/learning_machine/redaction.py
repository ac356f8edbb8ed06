"""Secrets out of text before the service keeps, queues, indexes or embeds it.

One table of rules: each names a kind, a pattern, and (optionally) a check on what it matched.
A pattern with a `secret` group replaces only that group, so labels, schemes and hosts stay
readable ("password: [REDACTED:password]"); otherwise the whole match goes. Patterns are written
to be precise rather than broad: ids, order numbers, dates, UUIDs and hashes in ordinary prose
survive. Placeholders never match any rule, so redacting redacted text changes nothing.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

PLACEHOLDER = re.compile(r"\[REDACTED:[a-z_]+\]")


def placeholder(kind: str) -> str:
    return f"[REDACTED:{kind}]"


def luhn_valid(digits: str) -> bool:
    numbers = [int(c) for c in digits if c.isdigit()]
    total = 0
    for position, number in enumerate(reversed(numbers)):
        if position % 2:
            number = number * 2 - 9 if number > 4 else number * 2
        total += number
    return total % 10 == 0


# Words that follow "password is" in prose about passwords rather than in a disclosure of one.
_NOT_A_PASSWORD = frozenset(
    """a an the not too very so just also still now always never only being been set reset changed
    saved stored missing empty blank wrong incorrect invalid valid correct right ok okay fine weak
    strong long short different same expired required optional needed necessary mandatory correct
    working accepted rejected locked hidden encrypted hashed visible shown sensitive case-sensitive
    in on at for of to my your his her their our its it that this what which protected secure
    insecure compromised leaked forgotten known unknown none null undefined""".split()
)


def _password(value: str) -> bool:
    return value.lower() not in _NOT_A_PASSWORD


@dataclass(frozen=True)
class Rule:
    kind: str
    pattern: re.Pattern[str]
    check: Callable[[str], bool] | None = None  # on the text replaced; False keeps it


# A value after a label: quoted (anything up to the quote) or bare (up to whitespace, without
# the sentence's trailing punctuation). Never a placeholder: those start with "[".
_VALUE = (
    r"""(?:(?<=["'`])[^"'`\r\n\[]{1,200}(?=["'`])"""
    r"""|[^\s"'`\[]+?(?=[.,;:)\]}"'`]*(?:\s|$)))"""
)
_IS = r"""\s*(?:[:=]|\s(?:is|was|is\s+now|will\s+be|should\s+be)\b\s*:?)\s*["'`]?"""
_TOKEN_CHARS = r"A-Za-z0-9_-"

RULES: tuple[Rule, ...] = (
    # PEM blocks; a block cut off before its END line is still removed to the end of the text.
    Rule(
        "private_key",
        re.compile(
            r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----[\s\S]*?(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----|\Z)"
        ),
    ),
    # scheme://user:password@host: only the password goes.
    Rule(
        "connection_string",
        re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]{0,30}://[^\s:/?#@\[\]]{1,256}:(?P<secret>[^\s@/?#\[\]]{1,256})@[^\s/?#@]"),
    ),
    # header.payload.signature, base64url, the header always starting '{"' = "eyJ".
    Rule("jwt", re.compile(rf"\beyJ[{_TOKEN_CHARS}]{{10,}}\.[{_TOKEN_CHARS}]{{10,}}\.[{_TOKEN_CHARS}]{{8,}}")),
    # Provider keys, recognised by their prefixes.
    Rule("anthropic_key", re.compile(rf"\bsk-ant-[{_TOKEN_CHARS}]{{20,}}")),
    Rule("openai_key", re.compile(rf"\bsk-(?:proj-|svcacct-|admin-)?(?=[{_TOKEN_CHARS}]*\d)[{_TOKEN_CHARS}]{{20,}}")),
    Rule("github_token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{22,})")),
    Rule("slack_token", re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}")),
    Rule("google_api_key", re.compile(rf"\bAIza[{_TOKEN_CHARS}]{{35}}(?![{_TOKEN_CHARS}])")),
    Rule("learning_machine_key", re.compile(rf"\blm_[{_TOKEN_CHARS}]{{43}}(?![{_TOKEN_CHARS}])")),
    Rule("aws_access_key_id", re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b")),
    # 40 characters of base64 are any AWS secret key, so only a labelled one is recognised.
    Rule(
        "aws_secret_access_key",
        re.compile(
            r"(?i:aws[_ ]?secret(?:[_ ]?access)?[_ ]?key|secret[_ ]?access[_ ]?key)"
            + _IS
            + r"(?P<secret>[A-Za-z0-9/+=]{40})(?![A-Za-z0-9/+=])"
        ),
    ),
    # "Bearer <token>": a token has a digit, or is long enough not to be a word.
    Rule(
        "bearer_token",
        re.compile(
            r"\b(?i:bearer)(?:[ _-](?i:token)" + _IS + r"|\s+)"
            r"(?P<secret>(?=[A-Za-z0-9._~+/-]*\d)[A-Za-z0-9._~+/-]{12,}=*"
            r"|[A-Za-z0-9._~+/-]{24,}=*)"
        ),
    ),
    Rule(
        "authorization",
        re.compile(
            r"""\b(?i:(?:proxy-)?authorization)["']?\s*[:=]\s*["']?(?i:basic|token|apikey|api-key)\s+"""
            r"(?P<secret>(?=[A-Za-z0-9._~+/-]*[\d=])[A-Za-z0-9._~+/-]{8,}=*)"
        ),
    ),
    # "password is X", "password for the VPN: X", "DB_PASSWORD=X", "my passcode is X".
    Rule(
        "password",
        re.compile(
            r"(?<![A-Za-z])(?i:pass(?:word|wd|phrase|code)|pwd)"
            r"(?:\s+(?i:for|on|to|of)\s+(?:[^\s:=]+\s+){0,2}?[^\s:=]+)?"
            + _IS
            + rf"(?P<secret>{_VALUE})"
        ),
        _password,
    ),
    Rule("password", re.compile(r"(?<![A-Za-z])(?i:pin(?:\s+(?:code|number))?)" + _IS + r"(?P<secret>\d{3,12})\b")),
    # Anything labelled as a key, token or secret whose value looks generated (letters and digits).
    Rule(
        "secret",
        re.compile(
            r"(?<![A-Za-z])(?i:api[_ -]?key|x-api-key|(?:access|auth|refresh|session|api)[_ -]?token|"
            r"client[_ -]?secret|secret[_ -]?key|secret|token)s?"
            + _IS
            + r"(?P<secret>(?=[A-Za-z0-9._~+/=-]*\d)(?=[A-Za-z0-9._~+/=-]*[A-Za-z])[A-Za-z0-9._~+/=-]{12,})"
        ),
    ),
    # 13-19 digits, alone or in groups of 4 (Amex 4-6-5, Diners 4-6-4), starting as the card networks
    # do (2-6), and Luhn-valid: timestamps, ids, phone numbers and dates are not cards.
    Rule(
        "card_number",
        re.compile(
            r"(?<![\w.+-])(?=[2-6])(?:\d{13,19}|\d{4}([ -])\d{4}\1\d{4}\1\d{1,4}(?:\1\d{1,3})?"
            r"|\d{4}([ -])\d{6}\2\d{4,5})(?![\w-]|\.\d)"
        ),
        luhn_valid,
    ),
)

KINDS: tuple[str, ...] = tuple(dict.fromkeys(rule.kind for rule in RULES))


def redact(text: str) -> tuple[str, list[str]]:
    """The text with each secret replaced by `[REDACTED:<kind>]`, and one kind per secret replaced."""
    found: list[str] = []
    for rule in RULES:
        text = rule.pattern.sub(_replacer(rule, found), text)
    return text, found


def _replacer(rule: Rule, found: list[str]) -> Callable[[re.Match[str]], str]:
    group = "secret" if "secret" in rule.pattern.groupindex else 0

    def replace(match: re.Match[str]) -> str:
        if rule.check is not None and not rule.check(match.group(group)):
            return match.group(0)
        found.append(rule.kind)
        start, end = (bound - match.start() for bound in match.span(group))
        whole = match.group(0)
        return whole[:start] + placeholder(rule.kind) + whole[end:]

    return replace


def redact_text(text: str) -> str:
    """Only the redacted text; for validators and writers that do not report what was removed."""
    return redact(text)[0]


def redact_optional(text: str | None) -> str | None:
    return None if text is None else redact_text(text)


def count(kinds: list[str]) -> dict[str, int]:
    return dict(Counter(kinds))


def holds_secret(text: str) -> bool:
    """A secret is in the text, or was there and has been redacted already."""
    return bool(PLACEHOLDER.search(text)) or bool(redact(text)[1])
