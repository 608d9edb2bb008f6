"""Errors that the CLI turns into one clear line and an exit code, and the one
scrubbing routine for everything policycheck echoes from its input.

Whatever reaches stderr or a report may have come from a file or a cloud response
that nobody reviewed: a 1 MB value, ANSI escapes, a URL with a password in it.
:func:`scrub` (messages) and :func:`safe_text` (names and ids in the model) make it
bounded, visible and free of credentials, once, for every source.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

#: Exit codes, decided here once: 0 clean, 1 findings at/above --fail-on,
#: 2 usage or input error, 3 input incomplete.
EXIT_OK, EXIT_FINDINGS, EXIT_INPUT, EXIT_INCOMPLETE = 0, 1, 2, 3

#: Longest message printed; longer ones are cut (the start names file and field).
MAX_MESSAGE = 480
#: Longest single word (value, path, URL, ARM id) kept whole inside a message.
MAX_WORD = 240


class InputError(Exception):
    """Bad input (file, profile, plan, cloud response, credential): exit 2.

    The message is shown to the user as is, on one line; it must name the
    problem and where it is, and must never contain secrets.
    """


def one_line(text: str) -> str:
    """Collapse a message to one line so stderr stays greppable."""
    return " ".join(str(text).split())


# ------------------------------------------------------------------ scrubbing

#: ``scheme://user:password@`` (the userinfo ends at the last ``@`` of the authority).
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^\s/?#\"'<>]*@")
#: Access key ids, SigV4 query fragments, JWTs and bearer tokens that SDK errors echo.
_KEY_LIKE = re.compile(r"\b(?:AKIA|ASIA|AIDA|AROA)[A-Z0-9]{12,}\b")
_SIGV4_FRAGMENT = re.compile(r"(Credential|Signature|X-Amz-Security-Token)=[^\s,&\"']+")
_JWT = re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]*")
_BEARER = re.compile(r"(?i)\bbearer\s+[^\s\"']+")
_LONG_WORD = re.compile(rf"\S{{{MAX_WORD + 1},}}")
#: Environment variables that hold secrets themselves.
_SECRET_VARIABLES = (
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AZURE_CLIENT_SECRET",
    "AZURE_PASSWORD",
    "AZURE_CLIENT_CERTIFICATE_PASSWORD",
)
#: Environment variables whose URLs may carry ``user:password@`` (endpoints, proxies).
_URL_VARIABLE = re.compile(r"(?i)(URL|ENDPOINT|PROXY|HOST)")
#: Secrets a run learned (assumed-role credentials, option values), never printed.
_LEARNED: set[str] = set()


def remember_secret(*values: str | None) -> None:
    """Add values that :func:`scrub` must remove from every later message."""
    _LEARNED.update(v for v in values if v and len(v) >= 4)


def remember_url_credentials(url: str | None) -> None:
    """The user and password of ``url`` (as written and percent-decoded) are secrets."""
    if not url or "@" not in url:
        return
    from urllib.parse import unquote, urlsplit

    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return
    for value in (parts.username, parts.password):
        if value:
            remember_secret(value, unquote(value))


def _secrets() -> list[str]:
    found = set(_LEARNED)
    for name, value in os.environ.items():
        if name in _SECRET_VARIABLES and len(value) >= 4:
            found.add(value)
        elif "@" in value and "://" in value and _URL_VARIABLE.search(name):
            from urllib.parse import unquote, urlsplit

            try:
                parts = urlsplit(value.strip())
            except ValueError:
                continue
            for part in (parts.username, parts.password):
                if part and len(part) >= 4:
                    found.update((part, unquote(part)))
    return sorted(found, key=len, reverse=True)


def _escape(char: str) -> str:
    code = ord(char)
    if char == "\n":
        return "\\n"
    if char == "\t":
        return "\\t"
    if char == "\r":
        return "\\r"
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def visible(text: str) -> str:
    """Control characters, ANSI escapes and invisible format characters (bidi
    overrides, zero-width spaces) as visible ``\\x1b``-style escapes: input text
    never drives the terminal it is printed on."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else _escape(c) for c in text)


def safe_text(text: str) -> str:
    """A name or id from input, fit for any report: visible and without URL credentials.

    Not cut: names identify things, two long names must stay two names.
    """
    if text.isprintable() and "://" not in text:
        return text  # the common case, decided in C
    return _URL_USERINFO.sub(r"\1***@", visible(text))


def _shorten(match: re.Match[str]) -> str:
    word = match.group(0)
    return f"{word[: MAX_WORD // 3]}…[{len(word)} characters]…{word[-MAX_WORD // 6 :]}"


def scrub(text: str, secrets: Iterable[str] = (), limit: int = MAX_MESSAGE) -> str:
    """A message fit for stderr, logs and reports: one line, visible characters,
    no credentials (URL passwords, keys, tokens, ``secrets``), long values cut."""
    clean = visible(one_line(str(text)))
    clean = _URL_USERINFO.sub(r"\1***@", clean)
    for secret in sorted({*(s for s in secrets if s), *_secrets()}, key=len, reverse=True):
        clean = clean.replace(secret, "***")
    clean = _KEY_LIKE.sub("***", clean)
    clean = _SIGV4_FRAGMENT.sub(r"\1=***", clean)
    clean = _BEARER.sub("Bearer ***", _JWT.sub("***", clean))
    clean = _LONG_WORD.sub(_shorten, clean)
    return clean if len(clean) <= limit else clean[: limit - 1] + "…"
