"""The console is not an open admin endpoint: it answers only with the token this start
of the local cloud wrote to a file its owner alone can read."""

from __future__ import annotations

import stat

from localcloud.console.access import create_token, read_token, token_path


def test_the_token_file_is_readable_by_its_owner_only(localcloud, console):
    mode = stat.S_IMODE(token_path(localcloud.home).stat().st_mode)
    assert mode == 0o600, oct(mode)
    assert len(console.token) >= 32


def test_each_start_writes_a_new_token(tmp_path):
    first = create_token(tmp_path)
    second = create_token(tmp_path)
    assert first != second
    assert read_token(tmp_path) == second
    assert stat.S_IMODE(token_path(tmp_path).stat().st_mode) == 0o600


def test_without_the_token_the_console_says_how_to_get_its_url(console):
    for path in ("", "journey?sha=" + "0" * 64, "parts/topology", "static/console.js"):
        status, _headers, body = console.request(path, cookie=None)
        assert status == 401, (path, status)
        assert "make console" in body and "console-token" in body


def test_a_wrong_token_is_refused(console):
    status, _headers, body = console.request("?token=not-this-one", cookie=None)
    assert status == 403
    assert "make console" in body
    status, _headers, _body = console.request("parts/topology", cookie="stale-token-of-an-earlier-start")
    assert status == 403


def test_the_token_in_the_url_becomes_a_cookie_and_leaves_the_url(console):
    status, headers, _body = console.request(f"journey?sha={'a' * 64}&token={console.token}", cookie=None)
    assert status == 303
    assert headers["location"] == f"/_localcloud/journey?sha={'a' * 64}"
    cookie = headers["set-cookie"]
    assert cookie.startswith(f"localcloud_console_{console.port}={console.token};")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/_localcloud/" in cookie
    status, _headers, body = console.request("")
    assert status == 200 and 'data-src="/_localcloud/parts/topology"' in body


def test_an_action_needs_the_form_key_as_well_as_the_cookie(console, orders):
    data = {"queue": orders.arns["dlq"]}
    status, _headers, body = console.request("actions/redrive", data=data)
    assert status == 403 and "reload the page" in body
    status, _headers, _body = console.request("actions/redrive", data={**data, "key": console.key}, cookie=None)
    assert status == 401


def test_health_stays_open_and_tells_no_token(console):
    status, _headers, body = console.request("health", cookie=None)
    assert status == 200
    assert console.token not in body
