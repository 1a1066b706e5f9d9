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

#: Words that make an option or variable name a secret's name (``--db-password``, ``HF_TOKEN``...).
_SECRET_WORDS = frozenset(
    {"password", "passwd", "passphrase", "pass", "pwd", "secret", "secrets", "token", "credential",
     "credentials", "apikey", "cookie", "signature", "authorization", "bearer"}
)  # fmt: skip
#: Words that, before ``key``, make it a secret's name (``api-key``, ``AWS_SECRET_ACCESS_KEY``).
_KEY_QUALIFIERS = frozenset(
    {"api", "access", "private", "secret", "encryption", "signing", "client", "account"}
)
#: ``scheme://userinfo@`` in a URL anywhere in a string; the user part runs to the last ``@`` before the
#: path, so an unencoded ``@`` in a password does not leave the rest of it in clear.
_URL_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<userinfo>[^/\s]+)@")
#: ``name=value`` in a URL's query (``?access_token=...&sig=...``).
_QUERY_PARAM = re.compile(r"(?P<sep>[?&;])(?P<name>[^=&#\s]+)=(?P<value>[^&#\s]*)")
#: An HTTP credential written out: ``Bearer abc...``, ``Basic dXNl...``.
_AUTH_VALUE = re.compile(r"\b(Bearer|Basic|Token)\s+[A-Za-z0-9._~+/=-]+", re.IGNORECASE)
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")


def is_secret_name(name: str) -> bool:
    """Whether an option or variable called ``name`` holds a secret. Only the last dotted part counts
    (Hydra's ``db.password=...``, ``+wandb.api_key=...``), split into words at ``-``, ``_`` and case:
    ``--max-tokens`` or ``--tokenizer`` are not secrets, ``--auth-token`` and ``OPENAI_API_KEY`` are."""
    last = name.lstrip("-+~").rsplit(".", 1)[-1]
    words = [w.lower() for part in re.split(r"[-_]", last) for w in _WORD.findall(part)]
    if not words:
        return False
    if any(w in _SECRET_WORDS for w in words):
        return True
    return words[-1] == "key" and (len(words) == 1 or words[-2] in _KEY_QUALIFIERS)


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

    def mask_param(m: re.Match[str]) -> str:
        if not is_secret_name(m.group("name")) and m.group("name").lower() not in ("sig", "key", "code"):
            return m.group(0)
        return f"{m.group('sep')}{m.group('name')}={MASK}"

    text = _URL_USERINFO.sub(mask, text)
    if "://" in text:
        text = _QUERY_PARAM.sub(mask_param, text)
    return _AUTH_VALUE.sub(lambda m: f"{m.group(1)} {MASK}", text)


#: What may stand before ``=`` in a ``name=value`` word: options, variables, Hydra overrides.
_NAME = re.compile(r"[-+~]*[A-Za-z_][A-Za-z0-9_.\-]*")


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
        elif eq and _NAME.fullmatch(name) and is_secret_name(name):
            out.append(f"{name}={MASK}")
        else:
            out.append(redact_url(arg))
    return out
