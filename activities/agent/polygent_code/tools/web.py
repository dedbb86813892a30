"""WebFetch: GET one http(s) page and hand back its text (HTML reduced to readable text).

Only http and https, on every redirect too; the body is cut at `MAX_BYTES` and the text at
`MAX_CHARS`, so a huge or endless response cannot fill the agent's memory or the context.
"""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from ..models import ToolSpec
from .base import ToolContext, ToolError, ToolResult, schema, text_arg

MAX_BYTES = 2 * 1024 * 1024
MAX_CHARS = 50_000
MAX_REDIRECTS = 5
TIMEOUT = 30.0
SKIP = frozenset({"script", "style", "noscript", "template", "svg", "head"})
BLOCKS = frozenset(
    {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "section",
     "article", "header", "footer", "table", "ul", "ol", "blockquote"}
)  # fmt: skip


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in SKIP:
            self.skipping += 1
        elif tag in BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in SKIP and self.skipping:
            self.skipping -= 1
        elif tag in BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)


def html_text(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).splitlines())
    return "\n".join(line for line in lines if line)


def _checked(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ToolError(f"Only http and https URLs can be fetched, not {url!r}.")
    return url


class WebFetchTool:
    spec = ToolSpec(
        "WebFetch",
        "Fetch a web page or file over http(s) and return its text (HTML is reduced to text).",
        schema(
            {
                "url": {"type": "string", "description": "The http or https URL."},
                "prompt": {"type": "string", "description": "What you are looking for."},
            },
            ["url"],
        ),
    )

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        url = _checked(text_arg(args, "url"))
        async with httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=False) as client:
            for _ in range(MAX_REDIRECTS + 1):
                try:
                    async with client.stream("GET", url) as response:
                        if response.is_redirect and "location" in response.headers:
                            url = _checked(urljoin(url, response.headers["location"]))
                            continue
                        body = bytearray()
                        async for chunk in response.aiter_bytes():
                            body += chunk
                            if len(body) >= MAX_BYTES:
                                del body[MAX_BYTES:]
                                break
                        status = response.status_code
                        kind = response.headers.get("content-type", "")
                        charset = response.charset_encoding or "utf-8"
                except httpx.HTTPError as exc:
                    raise ToolError(
                        f"Fetching {url} failed: {exc or type(exc).__name__}."
                    ) from None
                break
            else:
                raise ToolError(f"{url} redirected more than {MAX_REDIRECTS} times.")
        text = body.decode(charset, errors="replace")
        if "html" in kind or text.lstrip()[:15].lower().startswith(("<!doctype html", "<html")):
            text = html_text(text)
        if len(text) > MAX_CHARS:
            text = text[:MAX_CHARS] + f"\n(… cut at {MAX_CHARS} characters)"
        head = f"{url} → HTTP {status} ({kind or 'no content type'})\n\n"
        return ToolResult(head + text, is_error=status >= 400)
