"""Logging in as Django apps do it: a form login over HTTP whose session cookie the WebSocket upgrade carries.

Blocking ``http.client`` (gevent-patched in Locust's processes): ``GET`` the login page for the CSRF cookie, ``POST``
the form with the token, the ``Referer`` and ``Origin`` Django's CSRF check wants, and keep the cookies the answer
sets. The login succeeded when it set the session cookie; anything else raises :class:`LoginFailed` naming what
came back, so a user that cannot log in stops with a reason instead of connecting anonymously.
"""

from __future__ import annotations

import http.client
from http.cookies import CookieError, SimpleCookie
from urllib.parse import urlencode, urlsplit

__all__ = ["LoginFailed", "form_login"]


class LoginFailed(RuntimeError):
    """The login did not set the session cookie."""


def _cookies(response: http.client.HTTPResponse, into: dict[str, str]) -> None:
    for header in response.headers.get_all("Set-Cookie") or ():
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(header)
        except CookieError:
            continue
        for name, morsel in jar.items():
            into[name] = morsel.value


def form_login(
    base_url: str,
    login_path: str,
    fields: dict[str, str],
    *,
    session_cookie: str = "sessionid",
    csrf_cookie: str = "csrftoken",
    timeout: float = 10.0,
) -> dict[str, str]:
    """Log in at ``base_url`` (``http://host:port``) + ``login_path`` with the form ``fields``; the cookies set.

    Raises:
        LoginFailed: the login page or the form's answer did not give the session cookie; the message says what
            they answered.
        OSError: the app could not be reached.
    """
    parts = urlsplit(base_url)
    https = parts.scheme == "https"
    host = parts.hostname or "127.0.0.1"
    port = parts.port or (443 if https else 80)
    conn = (http.client.HTTPSConnection if https else http.client.HTTPConnection)(host, port, timeout=timeout)
    cookies: dict[str, str] = {}
    origin = f"{parts.scheme}://{parts.netloc}"
    try:
        conn.request("GET", login_path)
        page = conn.getresponse()
        page.read()
        _cookies(page, cookies)
        if page.status != 200:
            raise LoginFailed(f"GET {login_path} answered HTTP {page.status}, not the login form")
        form = dict(fields)
        if csrf_cookie in cookies:
            form["csrfmiddlewaretoken"] = cookies[csrf_cookie]
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items()),
            "Referer": origin + login_path,
            "Origin": origin,
        }
        conn.request("POST", login_path, body=urlencode(form), headers=headers)
        answer = conn.getresponse()
        answer.read()
        _cookies(answer, cookies)
    except http.client.HTTPException as exc:
        raise LoginFailed(f"the login at {login_path} broke off: {exc!r}") from None
    finally:
        conn.close()
    if session_cookie not in cookies:
        why = "wrong credentials, or a form with other field names" if answer.status == 200 else "see the app's log"
        raise LoginFailed(f"POST {login_path} answered HTTP {answer.status} without a {session_cookie} cookie ({why})")
    return cookies
