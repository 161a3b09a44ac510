"""plotly.js's basic bundle served where Dash loads plotly.js from (cold first paint).

Every figure the dashboard draws is a scatter or bar trace, which the basic partial bundle
(scatter, bar, pie; ``vendor/``, MIT, from the npm package ``plotly.js-basic-dist-min``) holds:
1.1 MB instead of the full bundle's 4.8 MB. Parsing and compiling the full bundle was one
~1.3-1.5 s task on the main thread of a cold page load in headless Chromium (the bundle not
yet in the browser's code cache). Served from memory with an ETag (Dash re-reads and
re-hashes its 4.8 MB file on every request, 304s included). The bundle is used only while
its version is the one plotly.py ships (the figures' JSON is written for that version);
otherwise Dash serves its own.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import flask
from werkzeug.wrappers import Response

VERSION = "3.7.0"
BUNDLE = Path(__file__).parent / "vendor" / f"plotly-basic-{VERSION}.min.js"
# the path dash-renderer loads plotly.js from when serving locally (its _dashPlotlyJSURL)
DASH_PATH = "_dash-component-suites/plotly/package_data/plotly.min.js"
TRACE_TYPES = frozenset(("scatter", "bar", "pie"))

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Bundle:
    body: bytes
    etag: str

    def response(self) -> Response:
        if self.etag in flask.request.if_none_match:
            return Response(status=304, headers={"ETag": f'"{self.etag}"'})
        response = Response(self.body, mimetype="application/javascript")
        response.set_etag(self.etag)
        return response


def shipped_version() -> str:
    """The plotly.js version plotly.py (and so Dash) ships."""
    from plotly.offline import get_plotlyjs_version

    return str(get_plotlyjs_version())


def install(server: flask.Flask, pathname_prefix: str) -> bool:
    """Serve the basic bundle at Dash's plotly.js path; False (Dash's own) on a version skew."""
    if shipped_version() != VERSION:
        _log.warning("plotly.js %s shipped, basic bundle is %s: serving the full bundle",
                     shipped_version(), VERSION)  # fmt: skip
        return False
    body = BUNDLE.read_bytes()
    bundle = _Bundle(body, hashlib.sha256(body).hexdigest()[:32])
    path = f"{pathname_prefix.rstrip('/')}/{DASH_PATH}"

    def serve() -> Response | None:
        return bundle.response() if flask.request.path == path else None

    server.before_request(serve)
    return True
