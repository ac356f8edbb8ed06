"""Secrets out of text before the service keeps, queues, indexes or embeds it.

One table of rules: each names a kind, a pattern, and (optionally) a check on what it matched.
A pattern with a `secret` group replaces only that group, so labels, schemes and hosts stay
readable ("password: [REDACTED:password]"); otherwise the whole match goes. Patterns are written
to be precise rather than broad: ids, order numbers, dates, UUIDs and hashes in ordinary prose
survive. No rule matches a placeholder and the table is applied until nothing changes, so
redacting redacted text changes nothing. Callers record kinds and counts, never the values.
"""

from __future__ import annotations

import re
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


def iban_valid(text: str) -> bool:
    """ISO 13616: the country and check digits moved to the end, the number mod 97 is 1."""
    compact = text.replace(" ", "")
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


# Words that follow "password is" in prose about passwords rather than in a disclosure of one.
_NOT_A_PASSWORD = frozenset(
    """a an the not too very so just also still now always never only being been set reset changed
    saved stored missing empty blank wrong incorrect invalid valid correct right ok okay fine weak
    strong long short different same expired required optional needed necessary mandatory working
    accepted rejected locked hidden encrypted hashed visible shown sensitive case-sensitive in on at
    for of to my your his her their our its it that this what which protected secure insecure
    compromised leaked forgotten known unknown none null undefined""".split()
)


def _password(value: str) -> bool:
    return value.lower() not in _NOT_A_PASSWORD


@dataclass(frozen=True)
class Rule:
    kind: str
    pattern: re.Pattern[str]
    check: Callable[[str], bool] | None = None  # on the text to replace; False keeps it


# Building blocks. Lookaheads are bounded so that no input makes a pattern quadratic.
_TOKEN = r"A-Za-z0-9_-"  # base64url, and the alphabet of most provider keys
_START = rf"(?<![{_TOKEN}])"  # a prefixed key starts a token ("sk-" but not "task-")
_B64 = r"A-Za-z0-9._~+/-"  # RFC 6750 token characters
_IS = r"""\s*(?:[:=]|\s(?:is|was|is\s+now|will\s+be|should\s+be)\b\s*:?)\s*["'`]?"""  # "is", ":", "="
_IS_OR_SPACE = rf"(?:{_IS}|\s+)"  # labels of numbers: "CVV 123" is as clear as "CVV: 123"
# A labelled value: quoted (up to the quote) or bare (up to whitespace, less the sentence's
# closing punctuation, with a letter or digit). Never a placeholder: those start with "[".
_VALUE = (
    r"""(?:(?<=["'`])[^"'`\r\n\[]{1,200}(?=["'`])"""
    r"""|(?=[^\s"'`\[]*?[A-Za-z0-9])[^\s"'`\[]+?(?=[.,;:)\]}"'`]*(?:\s|$)))"""
)
_GENERATED = rf"(?=[{_B64}=]{{0,300}}\d)(?=[{_B64}=]{{0,300}}[A-Za-z])[{_B64}=]{{12,}}"  # letters and digits

RULES: tuple[Rule, ...] = (
    # PEM blocks; one cut off before its END line is removed to the end of the text.
    Rule(
        "private_key",
        re.compile(
            r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?"
            r"(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|\Z)"
        ),
    ),
    # scheme://user:password@host: only the password goes, the user and host stay readable.
    Rule(
        "connection_string",
        re.compile(
            r"\b[a-zA-Z][a-zA-Z0-9+.-]{0,30}://[^\s:/?#@\[\]]{1,256}:"
            r"(?P<secret>[^\s@/?#\[\]]{1,256})@(?=[^\s/?#@])"
        ),
    ),
    # header.payload.signature in base64url; a JSON header always starts '{"' = "eyJ".
    Rule("jwt", re.compile(rf"{_START}eyJ[{_TOKEN}]{{10,}}\.[{_TOKEN}]{{10,}}\.[{_TOKEN}]{{8,}}")),
    # Provider keys, known by their prefixes.
    Rule("anthropic_key", re.compile(rf"{_START}sk-ant-[{_TOKEN}]{{20,}}")),
    Rule(
        "openai_key",
        re.compile(rf"{_START}sk-(?:proj-|svcacct-|admin-)?(?=[{_TOKEN}]{{0,300}}\d)[{_TOKEN}]{{20,}}"),
    ),
    Rule("github_token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{22,})")),
    Rule("slack_token", re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}")),
    Rule("google_api_key", re.compile(rf"{_START}AIza[{_TOKEN}]{{35}}(?![{_TOKEN}])")),
    Rule("learning_machine_key", re.compile(rf"{_START}lm_[{_TOKEN}]{{43}}(?![{_TOKEN}])")),  # ours
    Rule("aws_access_key_id", re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b")),
    # Any 40 characters of base64 could be an AWS secret key, so only a labelled one is recognised.
    Rule(
        "aws_secret_access_key",
        re.compile(
            r"(?i:aws[_ ]?secret(?:[_ ]?access)?[_ ]?key|secret[_ ]?access[_ ]?key)"
            rf"{_IS}(?P<secret>[A-Za-z0-9/+=]{{40}})(?![A-Za-z0-9/+=])"
        ),
    ),
    # "Bearer <token>": a token has a digit, or is too long to be a word.
    Rule(
        "bearer_token",
        re.compile(
            rf"\b(?i:bearer)(?:[ _-](?i:token){_IS}|\s+)"
            rf"(?P<secret>(?=[{_B64}]{{0,300}}\d)[{_B64}]{{12,}}=*|[{_B64}]{{24,}}=*)"
        ),
    ),
    # Other Authorization schemes (Bearer is caught above, whatever the header).
    Rule(
        "authorization",
        re.compile(
            r"""\b(?i:(?:proxy-)?authorization)["']?\s*[:=]\s*["']?(?i:basic|token|apikey|api-key)\s+"""
            rf"(?P<secret>(?=[{_B64}]{{0,300}}[\d=])[{_B64}]{{8,}}=*)"
        ),
    ),
    # "password is X", "password for the VPN: X", "DB_PASSWORD=X", "my passcode is X", "pin is 1234".
    Rule(
        "password",
        re.compile(
            r"(?<![A-Za-z])(?i:pass(?:word|wd|phrase|code)|pwd)"
            r"(?:\s+(?i:for|on|to|of)\s+(?:[^\s:=]+\s+){0,2}?[^\s:=]+)?"
            rf"{_IS}(?P<secret>{_VALUE})"
        ),
        _password,
    ),
    Rule(
        "password",
        re.compile(rf"(?<![A-Za-z])(?i:pin(?:\s+(?:code|number))?){_IS_OR_SPACE}(?P<secret>\d{{3,12}})\b"),
    ),
    # Anything else labelled as a key, token or secret whose value looks generated.
    Rule(
        "secret",
        re.compile(
            r"(?<![A-Za-z])(?i:api[_ -]?key|x-api-key|(?:access|auth|refresh|session|api)[_ -]?token|"
            rf"client[_ -]?secret|secret[_ -]?key|secret|token)s?{_IS}(?P<secret>{_GENERATED})"
        ),
    ),
    # Other payment and identity numbers, labelled; an IBAN carries its own check digits.
    Rule(
        "card_security_code",
        re.compile(
            rf"(?<![A-Za-z])(?i:cvv2?|cvc2?|csc|(?:card\s+)?security\s+code){_IS_OR_SPACE}(?P<secret>\d{{3,4}})(?!\d)"
        ),
    ),
    Rule(
        "social_security_number",
        re.compile(
            rf"(?<![A-Za-z])(?i:social\s+security(?:\s+(?:number|no\.?|#))?|ssn){_IS_OR_SPACE}"
            r"(?P<secret>\d{3}[- ]?\d{2}[- ]?\d{4})(?!\d)"
        ),
    ),
    Rule(
        "account_number",
        re.compile(
            r"(?<![A-Za-z])(?i:(?:bank\s+)?account\s+(?:number|no\.?|#)|acct\.?\s*(?:number|no\.?|#)|"
            rf"routing\s+number|sort\s+code){_IS_OR_SPACE}(?P<secret>\d(?:[ -]?\d){{5,33}})(?!\d)"
        ),
    ),
    Rule("iban", re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b"), iban_valid),
    # 13-19 digits, bare or in groups of 4 (Amex 4-6-5, Diners 4-6-4), starting as the card networks
    # do (2-6) and Luhn-valid: timestamps, ids, phone numbers and dates are not taken for cards.
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


# A replacement can expose a secret to a rule that ran before it ("...1111ghp_..." only starts a
# token once the card before it is a placeholder), so the table is applied until nothing changes.
MAX_PASSES = 8  # two in practice; the bound only guards against a contrived chain


def redact(text: str) -> tuple[str, list[str]]:
    """The text with each secret replaced by `[REDACTED:<kind>]`, and one kind per secret replaced."""
    found: list[str] = []
    for _ in range(MAX_PASSES):
        before = len(found)
        for rule in RULES:
            text = rule.pattern.sub(_replacer(rule, found), text)
        if len(found) == before:
            break
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


def holds_secret(text: str) -> bool:
    """A secret is in the text, or was there and has been redacted already."""
    return bool(PLACEHOLDER.search(text)) or bool(redact(text)[1])
