"""The agreement's report for the file as PDF: the report page (templates/report.html, the same one a browser
prints) rendered by WeasyPrint. WeasyPrint reads only the pages' own static files, from the package, never over
the network: the report must be the same wherever it is made."""
from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlparse

STATIC = (Path(__file__).parent / "static").resolve()
TYPES = {".css": "text/css", ".svg": "image/svg+xml", ".png": "image/png"}


def static_fetcher(url: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Serve /static/... from the package; refuse everything else (no request leaves the machine)."""
    path = urlparse(url).path
    if path.startswith("/static/"):
        file = (STATIC / path[len("/static/"):]).resolve()
        if file.is_relative_to(STATIC) and file.is_file():
            return {"string": file.read_bytes(), "mime_type": TYPES.get(file.suffix, "application/octet-stream"),
                    "redirected_url": url}
    raise ValueError(f"the report reads only the pages' static files, not {url}")


def pdf_of(html: str, *, base_url: str) -> bytes:
    from weasyprint import HTML

    return HTML(string=html, base_url=base_url, url_fetcher=static_fetcher).write_pdf()
