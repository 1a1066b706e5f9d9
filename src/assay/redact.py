"""Secrets taken out of what automatic capture stores: credentials in URLs and in command lines.

A run records its git remote and its command line as tags, which everyone who can read the run sees.
Both routinely carry secrets: ``https://user:token@github.com/org/repo.git`` remotes, and command lines
such as ``train.py --password hunter2``, ``--api-key=...`` or ``AWS_SECRET_ACCESS_KEY=... python train.py``.
They are replaced by ``***`` before anything is stored. Pure module: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

MASK = "***"

#: Option and variable names whose value is a secret (``--db-password``, ``HF_TOKEN``, ``AWS_SECRET_KEY``).
_SECRET_NAME = re.compile(
    r"(pass(word|wd|phrase)?|token|secret|credentials?|api[-_]?key|access[-_]?key|private[-_]?key|auth|"
    r"(^|[-_])key$|[-_]key[-_]|signature|cookie|session)",
    re.IGNORECASE,
)
#: ``scheme://userinfo@`` in a URL anywhere in a string.
_URL_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<userinfo>[^/@\s]+)@")


def is_secret_name(name: str) -> bool:
    """Whether an option or variable called ``name`` (dashes and case ignored) holds a secret."""
    return bool(_SECRET_NAME.search(name.strip("-")))


def redact_url(text: str) -> str:
    """``text`` with the credentials of every URL in it masked.

    Over http(s) any user part is a credential (a token often stands alone as the user name), so it goes
    whole: ``https://***@host``. Elsewhere the user name stays and the password goes:
    ``postgresql://me:***@db/x``, ``ssh://git@host`` unchanged.
    """

    def mask(m: re.Match[str]) -> str:
        scheme, userinfo = m.group("scheme"), m.group("userinfo")
        if scheme.lower() in ("http", "https"):
            return f"{scheme}://{MASK}@"
        user, sep, _ = userinfo.partition(":")
        return f"{scheme}://{user}:{MASK}@" if sep else m.group(0)

    return _URL_USERINFO.sub(mask, text)


def redact_argv(argv: Sequence[str]) -> list[str]:
    """A command line with secret values masked: ``--password X``, ``--token=X``, ``API_KEY=X`` and URL
    credentials; everything else as it was."""
    out: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            out.append(MASK)
            hide_next = False
            continue
        name, eq, _value = arg.partition("=")
        if arg.startswith("-") and not eq and is_secret_name(arg):
            out.append(arg)
            hide_next = True  # the value is the next word
        elif eq and (name.startswith("-") or name.replace("_", "").isalnum()) and is_secret_name(name):
            out.append(f"{name}={MASK}")
        else:
            out.append(redact_url(arg))
    return out
