"""`vidpipe review`: a project's review page and its cut, served on 127.0.0.1.

The objects are fetched from the blob store (a local directory or a GCS bucket) into a temporary
folder and served from there with byte ranges, which a browser needs to seek in a video. Only the
objects of the cut being reviewed are served; the page's "needs attention" banner is filled in
from the database at request time.
"""

from __future__ import annotations

import re
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from vidpipe_dagster.artifacts import read_manifest
from vidpipe_dagster.domain import InvalidInput, StoredArtifact
from vidpipe_dagster.resources.ledger import AttemptLedger, AttemptStatus
from vidpipe_dagster.resources.storage import BlobStore
from vidpipe_dagster.review.page import attention_banner

ATTENTION_SLOT = "<!--vidpipe:attention-->"
CUT_ASSETS = ("final_video", "preview_video")
_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")


def latest_cut(ledger: AttemptLedger, store: BlobStore, project: str) -> StoredArtifact:
    """The newest accepted cut of a project: the final cut, else the newest preview."""
    for asset in CUT_ASSETS:
        accepted = [r for r in ledger.attempts(asset, project) if r.status == AttemptStatus.ACCEPTED]
        if accepted:
            return read_manifest(store, asset, project, max(accepted, key=lambda r: r.updated_at).attempt)
    raise InvalidInput(f"project {project!r} has no cut to review yet: neither a final cut nor a preview")


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(first, last) byte of a `Range: bytes=a-b` header, None for the whole file; ValueError if unsatisfiable."""
    match = _RANGE.match(header or "")
    if match is None:
        return None
    first, last = match.groups()
    if not first:
        first, last = max(0, size - int(last)), size - 1
    else:
        first, last = int(first), min(int(last) if last else size - 1, size - 1)
    if first > last or first >= size:
        raise ValueError(header)
    return first, last


def _handler(files: dict[str, Path], page_path: str, attention: Callable[[], str | None]) -> type[BaseHTTPRequestHandler]:
    class ReviewHandler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's name
            pass

        def do_GET(self) -> None:  # noqa: N802 - the base class's name
            path = self.path.split("?", 1)[0]
            if path == "/":
                self.send_response(HTTPStatus.FOUND)
                self.send_header("Location", page_path)
                self.end_headers()
                return
            if path not in files:
                self.send_error(HTTPStatus.NOT_FOUND)
                return
            if path == page_path:
                message = attention()
                body = files[path].read_text().replace(ATTENTION_SLOT, attention_banner(message) if message else "").encode()
                self._send(HTTPStatus.OK, "text/html; charset=utf-8", body)
                return
            self._send_file(files[path])

        def _send(self, status: HTTPStatus, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _send_file(self, source: Path) -> None:
            size = source.stat().st_size
            try:
                span = byte_range(self.headers.get("Range"), size)
            except ValueError:
                self.send_response(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE)
                self.send_header("Content-Range", f"bytes */{size}")
                self.end_headers()
                return
            first, last = span or (0, size - 1)
            self.send_response(HTTPStatus.PARTIAL_CONTENT if span else HTTPStatus.OK)
            self.send_header("Content-Type", "video/mp4" if source.suffix == ".mp4" else "application/octet-stream")
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Length", str(last - first + 1))
            if span:
                self.send_header("Content-Range", f"bytes {first}-{last}/{size}")
            self.end_headers()
            with source.open("rb") as stream:
                stream.seek(first)
                remaining = last - first + 1
                try:
                    while remaining and (chunk := stream.read(min(remaining, 1 << 20))):
                        self.wfile.write(chunk)
                        remaining -= len(chunk)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the browser seeked elsewhere and dropped this range

    return ReviewHandler


@contextmanager
def review_server(store: BlobStore, cut: StoredArtifact, attention: Callable[[], str | None], port: int = 0) -> Iterator[str]:
    """Serve the cut's review page and video on 127.0.0.1 (`port` 0: any free one); yields the page's URL."""
    with tempfile.TemporaryDirectory(prefix="vidpipe-review-") as folder:
        files = {}
        for name, stored in cut.objects.items():
            if name.endswith((".mp4", ".html")):
                files["/" + stored.key] = store.get_file(stored.key, Path(folder) / name)
        page = next((path for path in files if path.endswith(".html")), None)
        if page is None:
            raise InvalidInput(f"{cut.asset}[{cut.partition}] attempt {cut.attempt} was made before review pages existed; cut it again")
        server = ThreadingHTTPServer(("127.0.0.1", port), _handler(files, page, attention))
        thread = threading.Thread(target=server.serve_forever, name="vidpipe-review", daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}{page}"
        finally:
            server.shutdown()
            server.server_close()
