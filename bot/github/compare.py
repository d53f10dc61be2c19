"""Two commits compared, as GitHub's compare API answers (``GET /repos/{o}/{r}/compare/A...B``).

A comparison ``A...B`` says whether B only added commits to A (``ahead``), lost some
(``behind``), or both (``diverged``: a force-push or a rebase), which merge base the two share,
and what changed from that merge base to B. GitHub's limits, which a caller must name when it
meets them: the file list holds at most 300 files (on the first page only, whatever the
paging), and without paging only the last 250 commits are listed, so the commits are read
page by page to the last one (every page after the first at once: the first says how many).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from bot.aio import bounded
from bot.github.pull_reads import ChangedFile, changed_file
from bot.github.rest import http_status

if TYPE_CHECKING:
    from bot.github.session import Session

MAX_COMPARE_FILES = 300  # GitHub lists at most this many files of a comparison
COMMITS_PER_PAGE = 100


@dataclass(frozen=True)
class Comparison:
    base: str
    head: str
    status: str  # ahead | behind | diverged | identical
    ahead_by: int
    behind_by: int
    merge_base: str
    files: list[ChangedFile]  # from the merge base to head, in GitHub's order
    commits: tuple[str, ...] = ()  # head's commits that base lacks, oldest first (when read)
    merges: int = 0  # of those, commits with more than one parent
    requests: int = 1

    @property
    def files_capped(self) -> bool:
        """GitHub stopped listing files: the comparison may change more than it shows."""
        return len(self.files) >= MAX_COMPARE_FILES


def _side(ref: str) -> str:
    return quote(ref, safe="/:")


async def compare(session: Session, base: str, head: str, commits: bool = False) -> Comparison | None:
    """``base...head``; None when GitHub does not know one side or finds no common ancestor
    (404): a commit dropped by a force-push and collected since, say. With ``commits``, every
    commit is listed (page after page); without, one page of one commit is asked for."""
    path = f"/repos/{session.repo}/compare/{_side(base)}...{_side(head)}"
    per_page = COMMITS_PER_PAGE if commits else 1

    async def page(n: int) -> dict[str, Any]:
        resp = await session.gh.arequest("GET", path, params={"per_page": per_page, "page": n})
        data = resp.json()
        return data if isinstance(data, dict) else {}

    try:
        first = await page(1)
    except Exception as exc:
        if http_status(exc) == 404:
            return None
        raise
    listed = [c for c in first.get("commits") or [] if isinstance(c, dict)]
    total = int(first.get("total_commits") or first.get("ahead_by") or 0)
    pages = -(-total // per_page) if commits else 1
    more = await bounded(session.fetch_limit, [partial(page, n) for n in range(2, pages + 1)])
    for data in more:
        listed += [c for c in data.get("commits") or [] if isinstance(c, dict)]
    return Comparison(
        base=base, head=head, status=str(first.get("status") or ""),
        ahead_by=int(first.get("ahead_by") or 0), behind_by=int(first.get("behind_by") or 0),
        merge_base=str((first.get("merge_base_commit") or {}).get("sha") or ""),
        files=[changed_file(f) for f in first.get("files") or [] if isinstance(f, dict)],
        commits=tuple(str(c.get("sha") or "") for c in listed) if commits else (),
        merges=sum(1 for c in listed if len(c.get("parents") or []) > 1) if commits else 0,
        requests=pages,
    )
