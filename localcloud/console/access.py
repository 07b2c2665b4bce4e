"""Who may open the console: whoever holds the token this local cloud wrote at start.

The token is new at every start and lives in a file of the local cloud's home that only
its owner can read (0600). A URL carrying ``?token=`` sets a cookie (as Jupyter does); after
that the browser needs no token in the URL. Forms that act carry a second value derived
from the token, so another site cannot make the browser act (SameSite=Strict as well).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import parse_qs

PREFIX = "/_localcloud/"
TOKEN_FILE = "console-token"


def token_path(home: Path) -> Path:
    return home / TOKEN_FILE


def create_token(home: Path) -> str:
    """A fresh token, written where only this user can read it."""
    home.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(24)
    path = token_path(home)
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(token + "\n")
    return token


def read_token(home: Path) -> str | None:
    try:
        return token_path(home).read_text().strip() or None
    except FileNotFoundError:
        return None


def console_url(endpoint: str, token: str, path: str = "") -> str:
    joiner = "&" if "?" in path else "?"
    return f"{endpoint}{PREFIX}{path}{joiner}token={token}"


def form_key(token: str) -> str:
    """The value action forms carry (a page served with the cookie knows it; another site does not)."""
    return hmac.new(token.encode(), b"console-form", hashlib.sha256).hexdigest()[:32]


def cookie_name(port: int) -> str:
    """Cookies ignore ports: two local clouds on one host keep a cookie each."""
    return f"localcloud_console_{port}"


def cookie_of(headers: list[tuple[bytes, bytes]], port: int) -> str | None:
    name_wanted = cookie_name(port)
    for name, value in headers:
        if name.lower() == b"cookie":
            jar = SimpleCookie()
            try:
                jar.load(value.decode("latin-1"))
            except Exception:  # noqa: BLE001 - a malformed cookie header is no cookie
                continue
            if name_wanted in jar:
                return jar[name_wanted].value
    return None


def token_in_query(query_string: bytes) -> str | None:
    values = parse_qs(query_string.decode("latin-1")).get("token")
    return values[0] if values else None


def matches(offered: str | None, token: str) -> bool:
    return bool(offered) and hmac.compare_digest(offered.encode(), token.encode())


def set_cookie_header(token: str, port: int) -> tuple[bytes, bytes]:
    return b"set-cookie", f"{cookie_name(port)}={token}; Path={PREFIX}; HttpOnly; SameSite=Strict".encode()


def refusal_page(status: int, token_file: Path) -> str:
    """What a browser without the token sees: how to get the URL."""
    why = "This console needs its token." if status == 401 else "That token is not this local cloud's (it changes at every start)."
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>local cloud console: {status}</title>
<style>body{{font:15px/1.5 system-ui,sans-serif;margin:3em auto;max-width:40em;color:#222}}code{{background:#f2f2f2;padding:0 .3em}}</style>
</head><body><h1>{status} {"Unauthorized" if status == 401 else "Forbidden"}</h1><p>{why}</p>
<p>Open the URL with the token: run <code>make console</code> (or <code>python -m localcloud console</code>),
or use the console line that <code>make up</code> and <code>make demo</code> print.
The token is in <code>{token_file}</code>, readable by the user who started the local cloud only.</p></body></html>"""
