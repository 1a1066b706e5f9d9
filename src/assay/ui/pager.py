"""The runs table's pager: where a page starts, what it is called, and the pages its links lead to.

A link to the next or previous page carries the page token the search returned (``at=``, a keyset cursor:
see ``assay.query``), so the page after a million runs costs what the first does. The page number in the
URL (``page=``) is the label the links count along. ``page=-1`` is the last page, read backwards from the
end, -2 the one before it, and so on: numbered from the end, as nothing says how many pages come before,
unless the runs are counted exactly (an unfiltered table of up to ``EXACT_COUNT_UP_TO`` runs), when the
last page is page N of N and holds the remainder, so that the pages before it line up with those counted
from the start. A page number without a token (an old link, or one typed) skips runs by offset: allowed up
to ``MAX_SKIP`` runs, as its cost grows with the page.

No *last* link in an order led by a metric: its last page starts with the runs that lack the metric, and
finding those means checking every run (seconds at a million runs), where its first page is read off the
metric's index. Sorting by the column the other way shows the same end of the order at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from assay.errors import InvalidInput
from assay.query import Cursor, encode_cursor, encode_page_token, parse_order_by

#: The most runs a page number without a token may skip (page 201 of 50 runs a page).
MAX_SKIP = 10_000


@dataclass(frozen=True, slots=True)
class Page:
    """The page to show: its number (from the end when negative), the search's page token and size, and
    how many pages there are when that is known."""

    number: int
    token: str | None
    max_results: int
    pages: int | None = None

    @property
    def label(self) -> str:
        if self.number > 0:
            return f"page {self.number:,}" + ("" if self.pages is None else f" of {self.pages:,}")
        return "last page" if self.number == -1 else f"page {-self.number:,} from the end"


def page_to_show(number: int, at: str, n: int, total: int | None, order_by: Sequence[str]) -> Page:
    """The page ``number`` of ``n`` runs, at the token ``at`` when the URL has one; ``total``: how many runs
    the search finds, if known exactly. ``InvalidInput`` for a number too deep to reach by skipping."""
    pages = None if total is None else max(1, -(-total // n))
    if at:
        return Page(number if number != 0 else 1, at, n, pages)
    if number == 1 or number == 0:
        return Page(1, None, n, pages)
    if number < 0 or (pages is not None and number >= pages):
        end = encode_cursor(Cursor(before=True), parse_order_by(order_by))
        if pages is None or total is None:
            return Page(-1, end, n)
        return Page(pages, end, total - (pages - 1) * n or n, pages)
    if (number - 1) * n > MAX_SKIP:
        raise InvalidInput(
            f"page {number:,} is too far to jump to: follow next or previous from a page nearby, or open the last"
        )
    return Page(number, encode_page_token((number - 1) * n), n, pages)


def neighbours(
    page: Page, next_token: str | None, prev_token: str | None, order_by: Sequence[str]
) -> dict[str, dict[str, object]]:
    """The query of each link the page shows (first, prev, next, last), for those that lead somewhere."""
    out: dict[str, dict[str, object]] = {}
    if page.number != 1 or prev_token:
        out["first"] = {"page": 1}
    if prev_token:
        out["prev"] = {
            "page": max(1, page.number - 1) if page.number > 0 else page.number - 1,
            "at": prev_token,
        }
    if next_token:
        out["next"] = {"page": page.number + 1, "at": next_token}  # -2 + 1: the last page, -1
        order = parse_order_by(order_by)
        if not order or order[0].field.kind != "metric":
            out["last"] = {"page": -1}
    return out
