"""Plain HTTP for the console tests (urllib: the requests a browser or a script sends)."""

from __future__ import annotations

import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from email.message import Message


@dataclass
class Answer:
    status: int
    headers: Message
    text: str


class NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *arguments: object, **options: object) -> None:
        return None


def fetch(url: str, *, form: dict[str, str] | None = None, headers: dict[str, str] | None = None,
          follow: bool = True) -> Answer:
    """GET ``url`` (POST ``form`` when given); the answer whatever its status."""
    data = None if form is None else urllib.parse.urlencode(form).encode()
    request = urllib.request.Request(url, data=data, headers=headers or {})
    opener = urllib.request.build_opener() if follow else urllib.request.build_opener(NoRedirects)
    try:
        with opener.open(request, timeout=60) as response:
            return Answer(response.status, response.headers, response.read().decode())
    except urllib.error.HTTPError as error:
        return Answer(error.code, error.headers, error.read().decode())


def form_secret(page: str) -> str:
    """The console's form secret, from a page with an operation's form."""
    found = re.search(r'name="form_secret" value="([^"]+)"', page)
    assert found is not None, page
    return found.group(1)
