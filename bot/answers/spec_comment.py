"""The spec comment: how the bot writes it, and the check that what is implemented is exactly
what the approver read.

The spec phase posts the comment ``spec_comment`` renders from an ``EmbeddedSpec``: the visible
sections (``render_sections``, from the structured spec), a header and a footer, and the spec
itself hidden as base64 JSON with a digest. The implementation phase takes the comment as it
stands now (``approved_spec``) and renders it again from its hidden part: the sections from the
structured spec exactly as the spec phase renders them, the rest from the fields stored beside
it. The result must be the comment's text. So an edit of the hidden part alone (digest recomputed
or not), of the visible text alone, or of one against the other, is refused: the model implements
the structured spec, and that spec is what the approver read. The check needs no secret; the
digest's HMAC, when the operator set a webhook secret, adds that an edit of both parts together
is refused too.

Not a change of the spec: the line endings GitHub's web editor saves (CRLF), ticked task-list
boxes (anyone who can write may tick an acceptance check), and a failure notice the spec phase
puts above a kept revision when a later run failed (``NOTICE_RE``; it is the bot's account of
the failure, never given to a model).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from bot.answers.spec_doc import EmbeddedSpec, SpecData, SpecTampered, embed, extract
from bot.safety import neutralise
from bot.templates import render

NOTICE_START = "<!-- model-routing:spec-failed issue={n} -->"
NOTICE_END = "<!-- model-routing:spec-failed-end -->"
NOTICE_RE = re.compile(r"<!-- model-routing:spec-failed issue=\d+ -->.*?<!-- model-routing:spec-failed-end -->\n*", re.DOTALL)
MISMATCH = "its visible text and its machine-readable part no longer agree (one of them was edited)"
_TICKED = re.compile(r"^([ \t]*[-*+] )\[[xX]\]", re.MULTILINE)


def displayable(spec: SpecData) -> SpecData:
    """Paths are shown in code spans; a backtick or newline in one would end the span early."""
    files = [f.model_copy(update={"path": re.sub(r"[`\n]", "_", f.path)}) for f in spec.files_to_change]
    return spec.model_copy(update={"files_to_change": files})


def render_sections(spec: SpecData, secrets: Sequence[str]) -> str:
    """The spec's visible sections as the posted comment shows them (every post is neutralised
    on its way out, ``bot.github.writes``): the one rendering both phases use."""
    return neutralise(render("comments/spec_sections.md.j2", spec=displayable(spec)), secrets).strip()


def spec_comment(doc: EmbeddedSpec, mark: str, key: str | None) -> str:
    """The spec comment's body for ``doc`` (``doc.markdown`` its visible sections), before
    ``bot.github.writes`` neutralises it on its way out."""
    return render(
        "comments/spec.md.j2",
        mark=mark,
        issue=doc.issue,
        title=doc.spec.title.replace("\n", " ").strip(),
        revision=doc.revision,
        requested_by=doc.requested_by,
        trigger=doc.trigger,
        sections=doc.markdown,
        approve_label=doc.approve_label,
        embedded=embed(doc, key),
        footer=doc.footer,
    )


def _comparable(body: str, mark: str) -> str:
    """The spec as the comment shows it: its marker, a failure notice above it, line endings
    and ticked boxes aside (see the module's doc)."""
    text = NOTICE_RE.sub("", body.replace("\r\n", "\n").replace(mark, "", 1)).strip()
    return _TICKED.sub(r"\1[ ]", text.removeprefix("---").strip())


def approved_spec(body: str, mark: str, key: str | None, secrets: Sequence[str]) -> EmbeddedSpec | None:
    """The spec in the comment ``body`` when it is exactly what the comment shows; None when the
    comment holds no spec; ``SpecTampered`` (its reason, said once) when it cannot be used."""
    doc = extract(body, key)
    if doc is None:
        return None
    again = doc.model_copy(update={"markdown": render_sections(doc.spec, secrets)})
    if _comparable(neutralise(spec_comment(again, mark, key), secrets), mark) != _comparable(body, mark):
        raise SpecTampered(MISMATCH)
    return doc
