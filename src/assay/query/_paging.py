"""Where a page of a run search starts (a keyset cursor), and the opaque page tokens that carry it.

A search's order is total: its keys, then the start time (newest first) and the run id as tie-breakers. A
page is found by seeking past the sort key values of the run it follows (or precedes), never by skipping
rows, so the page after a million runs costs what the first does, and runs logged between two page fetches
neither repeat nor push a run off the page it was due on.

A token is ``base64url(b"k" + msgpack([order fingerprint, before, keys]))``: opaque to clients (they pass it
back), checked on the way in. Offset tokens (``o:<n>``), what earlier versions issued and what lists held
in memory still use, are read too: a search given one skips that many runs (its cost grows with the
offset) and hands out keyset tokens from there. Pure module: no I/O.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import msgpack

from assay.errors import InvalidInput
from assay.query._ast import OrderKey

#: One sort key value of a run as the store reads it: a number, a text, or None (the run lacks it).
SortValue = int | float | str | None


@dataclass(frozen=True, slots=True)
class Cursor:
    """A position in a search's order: just after the run whose sort key values (tie-breakers included)
    are ``keys``, or just before it with ``before`` (the page before, read backwards). ``keys=None`` is
    the start of the results, or with ``before`` their end: the last page."""

    keys: tuple[SortValue, ...] | None = None
    before: bool = False


def order_fingerprint(order_by: Sequence[OrderKey]) -> int:
    """A short hash of the order a cursor belongs to: its keys mean nothing in another order."""
    text = "|".join(f"{k.field.kind}.{k.field.key}:{int(k.descending)}" for k in order_by)
    return zlib.crc32(text.encode())


def encode_page_token(offset: int) -> str:
    """A token that starts a page ``offset`` items in (the lists answered whole from memory page this way)."""
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode()


def _bad_token(token: str) -> InvalidInput:
    return InvalidInput(
        f"page token {token!r} is not one this server issued: pass the token from the last page"
    )


def _raw(token: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(token.encode())
    except (ValueError, binascii.Error, UnicodeEncodeError):
        raise _bad_token(token) from None


def _offset(token: str, raw: bytes) -> int:
    kind, _, num = raw.partition(b":")
    if kind == b"o" and num.isdigit():
        return int(num)
    raise _bad_token(token)


def decode_page_token(token: str | None) -> int:
    """The offset an offset token starts at (0 for no token); ``InvalidInput`` for any other token."""
    return 0 if not token else _offset(token, _raw(token))


def encode_cursor(cursor: Cursor, order_by: Sequence[OrderKey]) -> str:
    """The token of ``cursor`` in a search ordered by ``order_by``."""
    packed = msgpack.packb([order_fingerprint(order_by), cursor.before, cursor.keys], use_bin_type=True)
    return base64.urlsafe_b64encode(b"k" + packed).decode()


def decode_cursor(token: str | None, order_by: Sequence[OrderKey]) -> Cursor | int:
    """Where the page of ``token`` starts in a search ordered by ``order_by``: a cursor, or an offset for an
    offset token (0 for no token). ``InvalidInput`` for a token this module did not make, or one made for
    another order. The store checks the keys against its sort keys (their number and types)."""
    if not token:
        return 0
    raw = _raw(token)
    if not raw.startswith(b"k"):
        return _offset(token, raw)
    try:
        fingerprint, before, keys = msgpack.unpackb(raw[1:], use_list=True, raw=False)
    except (ValueError, TypeError, msgpack.UnpackException):
        raise _bad_token(token) from None
    if not isinstance(before, bool) or not (keys is None or isinstance(keys, list)):
        raise _bad_token(token)
    if keys is not None and not all(
        x is None or (isinstance(x, int | float | str) and not isinstance(x, bool)) for x in keys
    ):
        raise _bad_token(token)
    if fingerprint != order_fingerprint(order_by):
        raise InvalidInput(
            f"page token {token!r} belongs to a search in another order: pass the same order_by as for the "
            "page that gave it, or no token to start again"
        )
    return Cursor(None if keys is None else tuple(keys), before)


def page_cursors(
    start: Cursor | int,
    first: tuple[SortValue, ...] | None,
    last: tuple[SortValue, ...] | None,
    more: bool,
) -> tuple[Cursor | None, Cursor | None]:
    """The (next, previous) cursors of a page read from ``start``, whose first and last runs have the sort
    key values ``first`` and ``last`` (None: an empty page), with ``more`` runs beyond it in the direction
    it was read. None where there is no such page: no next page after the last, no previous before the
    first. A page read forwards from a cursor has a previous page (the runs before it; perhaps fewer, or
    none, if runs were deleted meanwhile), one read backwards has a next page."""
    if isinstance(start, Cursor) and start.before:
        prev = Cursor(first, before=True) if more and first is not None else None
        if start.keys is None:  # the last page
            return None, prev
        return Cursor(last if last is not None else start.keys), prev
    following = Cursor(last) if more and last is not None else None
    if isinstance(start, int) or start.keys is None:
        at_start = start == 0 or isinstance(start, Cursor)
        return following, None if at_start or first is None else Cursor(first, before=True)
    return following, Cursor(first if first is not None else start.keys, before=True)


__all__ = [
    "Cursor",
    "SortValue",
    "decode_cursor",
    "decode_page_token",
    "encode_cursor",
    "encode_page_token",
    "order_fingerprint",
    "page_cursors",
]
