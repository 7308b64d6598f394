"""What only the GCS store does: generations, and riding out GCS's transient errors.

The emulator cannot fail on purpose, so a small loopback proxy sits between the client and the
emulator and fails chosen requests the way GCS can: answering 429/503 without passing the request
on, or passing it on and answering 503 anyway, so the client never learns its write landed.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest
from google.cloud import storage
from google.cloud.storage.retry import DEFAULT_RETRY

from vidpipe_dagster.resources.gcs import COPIED_FROM, GcsBlobStore
from vidpipe_dagster.resources.storage import ObjectAlreadyExists, publish_file, remember_origin

# The production backoff, sped up so a retried request costs milliseconds here.
FAST_RETRY = DEFAULT_RETRY.with_delay(initial=0.01, maximum=0.05)
KEY = "projects/p/scenes/001/clip/attempt-001.mp4"


@dataclass
class Fault:
    method: str
    path_contains: str
    status: int
    after_forwarding: bool = False


@dataclass
class FaultyProxy:
    upstream: str
    faults: list[Fault] = field(default_factory=list)
    # (method, path, status the emulator answered or None when the request was not passed on)
    log: list[tuple[str, str, int | None]] = field(default_factory=list)
    url: str = ""

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        body = request.rfile.read(int(request.headers.get("Content-Length", 0)))
        fault = next(
            (f for f in self.faults if f.method == request.command and f.path_contains in request.path), None
        )
        if fault is not None:
            self.faults.remove(fault)
        answered = None
        if fault is None or fault.after_forwarding:
            answered, headers, payload = self._forward(request, body)
        if fault is not None:
            answered_by_proxy = json.dumps({"error": {"code": fault.status, "message": "injected"}}).encode()
            headers, payload = {"Content-Type": "application/json"}, answered_by_proxy
        self.log.append((request.command, request.path, answered))
        request.send_response(fault.status if fault else answered)
        for name, value in headers.items():
            request.send_header(name, value)
        request.send_header("Content-Length", str(len(payload)))
        request.end_headers()
        request.wfile.write(payload)

    def _forward(self, request: BaseHTTPRequestHandler, body: bytes) -> tuple[int, dict[str, str], bytes]:
        upstream = urlsplit(self.upstream)
        connection = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=30)
        try:
            headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "connection")}
            connection.request(request.command, request.path, body=body, headers=headers)
            response = connection.getresponse()
            payload = response.read()
        finally:
            connection.close()
        kept = {
            name: value.replace(self.upstream, self.url)  # resumable sessions name the server to continue on
            for name, value in response.getheaders()
            if name.lower() not in ("content-length", "transfer-encoding", "connection")
        }
        return response.status, kept, payload

    def uploads(self) -> list[int | None]:
        return [status for method, path, status in self.log if path.startswith("/upload/")]


@pytest.fixture
def proxy(gcs_emulator: str, gcs_bucket: str, monkeypatch) -> Iterator[FaultyProxy]:
    faulty = FaultyProxy(upstream=gcs_emulator)

    class Handler(BaseHTTPRequestHandler):  # HTTP/1.0: one request per connection, none left open
        def do_GET(self) -> None:
            faulty.handle(self)

        do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    faulty.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", faulty.url)
    try:
        yield faulty
    finally:
        server.shutdown()
        server.server_close()


def emulator_blob(emulator: str, bucket: str, key: str) -> storage.Blob | None:
    """The object as the emulator itself has it, bypassing any proxy."""
    client = storage.Client(project=None, client_options={"api_endpoint": emulator})
    return client.bucket(bucket).get_blob(f"objects/{key}")


def test_each_write_records_the_generation_gcs_gave_it_and_a_conflict_keeps_it(gcs_emulator, gcs_bucket, tmp_path):
    store = GcsBlobStore(gcs_bucket, "objects")
    first = store.put_bytes(KEY, b"first", "video/mp4")

    with pytest.raises(ObjectAlreadyExists):
        store.put_bytes(KEY, b"second")

    stored = emulator_blob(gcs_emulator, gcs_bucket, KEY)
    assert first.generation == stored.generation
    assert first.uri == f"gs://{gcs_bucket}/objects/{KEY}"
    assert (stored.download_as_bytes(), stored.content_type) == (b"first", "video/mp4")


def test_a_store_is_named_by_its_url_and_a_bad_url_is_refused():
    assert GcsBlobStore.from_url("gs://media/vidpipe/prod/").uri("a.json") == "gs://media/vidpipe/prod/a.json"
    assert GcsBlobStore.from_url("gs://media").uri("a.json") == "gs://media/a.json"
    with pytest.raises(ValueError, match="expected gs://bucket"):
        GcsBlobStore.from_url("gs:///prefix")


@pytest.mark.parametrize("status", [429, 503])
def test_a_write_refused_with_a_transient_error_is_retried(proxy, gcs_emulator, gcs_bucket, status):
    proxy.faults.append(Fault("POST", "/upload/", status))
    store = GcsBlobStore(gcs_bucket, "objects", retry=FAST_RETRY)

    stored = store.put_bytes(KEY, b"clip")

    assert proxy.uploads() == [None, 200]
    assert emulator_blob(gcs_emulator, gcs_bucket, KEY).generation == stored.generation
    assert store.get_bytes(KEY) == b"clip"


def test_a_write_that_landed_but_lost_its_answer_is_not_reported_as_a_conflict(proxy, gcs_emulator, gcs_bucket):
    proxy.faults.append(Fault("POST", "/upload/", 503, after_forwarding=True))
    store = GcsBlobStore(gcs_bucket, "objects", retry=FAST_RETRY)

    stored = store.put_bytes(KEY, b"clip")

    # The first try created the object; the retry met it (412) and recognised it as its own.
    assert proxy.uploads() == [200, 412]
    assert emulator_blob(gcs_emulator, gcs_bucket, KEY).generation == stored.generation
    assert store.get_bytes(KEY) == b"clip"


def test_another_writers_object_is_a_conflict_even_when_met_on_a_retry(proxy, gcs_emulator, gcs_bucket):
    store = GcsBlobStore(gcs_bucket, "objects", retry=FAST_RETRY)
    theirs = store.put_bytes(KEY, b"theirs")
    proxy.faults.append(Fault("POST", "/upload/", 503))

    with pytest.raises(ObjectAlreadyExists):
        store.put_bytes(KEY, b"ours")

    assert proxy.uploads() == [200, None, 412]
    assert emulator_blob(gcs_emulator, gcs_bucket, KEY).generation == theirs.generation
    assert store.get_bytes(KEY) == b"theirs"


def test_a_large_upload_retries_a_failed_chunk_and_hashes_each_byte_once(proxy, gcs_bucket, tmp_path):
    source = tmp_path / "clip.mp4"
    source.write_bytes(os.urandom(9 * 1024 * 1024))
    proxy.faults.append(Fault("PUT", "/upload/", 503))
    store = GcsBlobStore(gcs_bucket, "objects", retry=FAST_RETRY)

    stored = store.put_file(KEY, source)

    assert [method for method, path, status in proxy.log if status is None] == ["PUT"]
    copy = store.get_file(KEY, tmp_path / "copy.mp4")
    assert copy.read_bytes() == source.read_bytes()
    assert stored.sha256 == hashlib.sha256(source.read_bytes()).hexdigest()


def test_a_download_refused_with_a_transient_error_is_retried(proxy, gcs_bucket, tmp_path):
    store = GcsBlobStore(gcs_bucket, "objects", retry=FAST_RETRY)
    store.put_bytes(KEY, b"clip")
    proxy.faults.append(Fault("GET", "/download/", 503))

    assert store.get_file(KEY, tmp_path / "copy.mp4").read_bytes() == b"clip"
    assert [status for method, path, status in proxy.log if path.startswith("/download/")] == [None, 200]


def test_a_reused_file_is_stored_by_a_copy_inside_gcs_and_stays_create_only(proxy, gcs_emulator, gcs_bucket, tmp_path):
    store = GcsBlobStore(gcs_bucket, "objects", retry=FAST_RETRY)
    answer = store.put_bytes("paid-requests/ab/abc/charge-1/clip.mp4", b"a paid clip", "video/mp4")
    downloaded = store.get_file(answer.key, tmp_path / "clip.mp4")
    remember_origin(downloaded, answer.key, answer.sha256)
    proxy.log.clear()

    stored = publish_file(store, KEY, downloaded, "video/mp4")

    # One rewrite inside GCS, no upload: the bytes never left the bucket. It is create-only on
    # GCS (ifGenerationMatch=0); fake-gcs-server ignores preconditions on rewrite, copy and
    # compose, so here the request is all that can be checked.
    assert [(method, "rewriteTo" in path, "ifGenerationMatch=0" in path, status) for method, path, status in proxy.log] == [
        ("POST", True, True, 200)
    ]
    copy, original = emulator_blob(gcs_emulator, gcs_bucket, KEY), emulator_blob(gcs_emulator, gcs_bucket, answer.key)
    assert (copy.md5_hash, copy.crc32c, copy.content_type) == (original.md5_hash, original.crc32c, "video/mp4")
    assert copy.metadata[COPIED_FROM] == answer.key and stored.copied_from == answer.key
    assert (stored.sha256, stored.generation) == (answer.sha256, copy.generation)

