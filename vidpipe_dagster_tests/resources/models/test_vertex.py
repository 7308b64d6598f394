"""The `vertex` backend against a loopback server that answers in Vertex AI's REST shapes.

google-genai is pointed at the server through `VertexSettings.base_url`, with a static access
token, so no Application Default Credentials lookup and no traffic beyond 127.0.0.1 happens. Each
test scripts the answers, then checks both what vidpipe sent (paths, models, config, images) and
what it made of each answer.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import threading
import time
import wave
from collections import defaultdict, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import av
import pytest
from dagster import Definitions, asset, materialize
from PIL import Image

from vidpipe_dagster.creative.rubric import CATEGORY_WEIGHTS
from vidpipe_dagster.domain import (
    Brief,
    Character,
    Continuity,
    InvalidInput,
    JudgeIssue,
    Location,
    MusicCue,
    Scene,
    StateLine,
    Storyboard,
    StoryboardMetadata,
)
from vidpipe_dagster.creative.compose import reference_prompt
from vidpipe_dagster.media.ffmpeg import run_ffmpeg
from vidpipe_dagster.timing import default_durations
from vidpipe_dagster.resources.models.protocols import ImageModel, QualityJudge, TextModel, VideoModel
from vidpipe_dagster.resources.models.vertex import (
    AudioPhrasesInvalid,
    ModelRefused,
    StoryboardInvalid,
    VertexImageModel,
    VertexJudge,
    VertexRequestFailed,
    VertexResponseError,
    VertexSettings,
    VertexTextModel,
    VertexTimeout,
    VertexUnavailable,
    VertexVideoModel,
    vertex_model_resources,
)
from vidpipe_dagster.resources.models.vertex_helpers import SAFE_SUFFIX
from vidpipe_dagster_tests.audio_tracks import write_sections

TOKEN = "ya29.test-secret-token-0123456789"
PROJECT = "test-project"
LOCATION = "us-central1"
MODEL_PREFIX = f"/v1beta1/projects/{PROJECT}/locations/{LOCATION}/publishers/google/models/"


# --- The loopback server -----------------------------------------------------------------------


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # dict -> JSON; str/bytes -> sent as is
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


@dataclass
class Request:
    method: str
    path: str
    model: str
    action: str
    headers: dict[str, str]
    body: Any


class FakeVertex:
    """Records every request and answers each `:action` from its own script, in order."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self._script: dict[str, deque[Reply]] = defaultdict(deque)
        self._lock = threading.Lock()
        self.url = ""

    def script(self, action: str, *replies: Reply | dict) -> None:
        with self._lock:
            for reply in replies:
                self._script[action].append(reply if isinstance(reply, Reply) else Reply(body=reply))

    def sent(self, action: str) -> list[Request]:
        return [r for r in self.requests if r.action == action]

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            body = raw
        path = handler.path.split("?", 1)[0]
        resource, _, action = path.rpartition(":")
        model = resource.rsplit("/models/", 1)[-1] if "/models/" in resource else ""
        with self._lock:
            self.requests.append(Request(handler.command, path, model, action, dict(handler.headers), body))
            queue = self._script.get(action)
            reply = queue.popleft() if queue else None
        if reply is None:
            reply = Reply(
                status=500,
                body={"error": {"code": 500, "message": f"no scripted reply for {action}", "status": "INTERNAL"}},
            )
        if reply.delay_s:
            time.sleep(reply.delay_s)
        payload = reply.body if isinstance(reply.body, (bytes, str)) else json.dumps(reply.body)
        data = payload.encode() if isinstance(payload, str) else payload
        try:
            handler.send_response(reply.status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(data)))
            for name, value in reply.headers.items():
                handler.send_header(name, value)
            handler.end_headers()
            handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout test)


@pytest.fixture
def fake_vertex() -> Iterator[FakeVertex]:
    fake = FakeVertex()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            fake.handle(self)

        do_GET = do_POST  # noqa: N815

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}/"
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def settings(fake_vertex: FakeVertex) -> VertexSettings:
    return VertexSettings(
        project=PROJECT,
        location=LOCATION,
        base_url=fake_vertex.url,
        access_token=TOKEN,
        request_timeout_s=5,
        max_attempts=3,
        backoff_initial_s=0.01,
        backoff_max_s=0.05,
    )


@pytest.fixture(autouse=True)
def _no_ambient_google_credentials(monkeypatch):
    # Nothing here may fall back to a developer's own key or ADC.
    for name in ("GOOGLE_API_KEY", "GEMINI_API_KEY", "GOOGLE_GENAI_USE_VERTEXAI", "GOOGLE_GENAI_API_VERSION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/adc.json")


# --- Answers in Vertex's REST shape -----------------------------------------------------------


def gemini_answer(text: str, finish: str = "STOP") -> dict:
    return {
        "candidates": [{"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": finish}],
        "usageMetadata": {"promptTokenCount": 120, "candidatesTokenCount": 80, "totalTokenCount": 200},
        "modelVersion": "gemini-test",
    }


def gemini_image_answer(png: bytes) -> dict:
    return {
        "candidates": [
            {
                "content": {
                    "role": "model",
                    "parts": [{"text": "Here it is."}, {"inlineData": {"mimeType": "image/png", "data": b64(png)}}],
                },
                "finishReason": "STOP",
            }
        ],
        "usageMetadata": {"promptTokenCount": 1300, "candidatesTokenCount": 1290, "totalTokenCount": 2590},
    }


PROMPT_BLOCKED = {
    "promptFeedback": {"blockReason": "SAFETY", "blockReasonMessage": "violence"},
    "usageMetadata": {"promptTokenCount": 10},
}
ANSWER_BLOCKED = {
    "candidates": [
        {
            "finishReason": "SAFETY",
            "safetyRatings": [{"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": True}],
        }
    ]
}


def quota_exceeded(retry_after: str | None = None) -> Reply:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return Reply(
        status=429,
        body={
            "error": {
                "code": 429,
                "message": "Resource exhausted. Please try again later.",
                "status": "RESOURCE_EXHAUSTED",
            }
        },
        headers=headers,
    )


UNAVAILABLE = Reply(
    status=503,
    body={"error": {"code": 503, "message": "The service is currently unavailable.", "status": "UNAVAILABLE"}},
)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(text: str) -> bytes:
    """Base64 in either alphabet: google-genai sends inline parts URL-safe, Veo images standard."""
    text = text.replace("-", "+").replace("_", "/")
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def png_bytes(size=(64, 64), color=(30, 120, 200)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def vision_json() -> str:
    character = {
        "id": "mara", "name": "Mara", "age": "sixty", "build": "wiry", "face": "weathered, grey eyes",
        "hair": "white braid", "wardrobe": "grey wool coat, yellow boots", "accessories": ["brass key"],
    }
    location = {
        "id": "lighthouse", "name": "Lighthouse", "description": "white tower on black rocks", "time_of_day": "dusk",
        "weather": "storm", "palette": ["slate", "amber"], "key_elements": ["spiral stairs", "the lamp"],
        "light_sources": ["the lamp", "storm light through the windows"],
    }
    return json.dumps(
        {
            "title": "Harbor Light", "logline": "A keeper relights the lamp.", "visual_style": "painterly",
            "palette": ["slate", "amber"], "arc": {"beginning": "dread", "middle": "struggle", "end": "relief"},
            "characters": [character], "locations": [location],
        }
    )


def draft_scene(number: int, **changes) -> dict:
    return {
        "number": number, "description": f"Mara climbs, beat {number}", "mood": "tense", "intensity": "high",
        "tempo": "moderate", "shot_type": "wide shot", "camera_angle": "low angle", "camera_movement": "slow push in",
        "composition": "Mara on the left third",
        "lighting": {"key_light": "the lamp", "quality": "hard", "colour_temperature": "warm 2700 K", "motivated_sources": ["the lamp"]},
        "time_of_day": "dusk", "weather": "storm", "sound": "wind", "dialogue": "", "continuity_notes": "same coat",
        "characters": ["mara"], "wardrobe": [], "location": "lighthouse", "transition_in": "continuous",
        "changes": [{"subject": "mara", "aspect": "wet", "value": "soaked"}] if number == 1 else [],
        **changes,
    }


def scenes_json(numbers, **changes) -> str:
    return json.dumps({"scenes": [draft_scene(number, **changes) for number in numbers]})


def storyboard_answers(scenes: int = 2) -> list[dict]:
    """The two answers of a short storyboard: the director's vision, then one batch of scenes."""
    return [gemini_answer(vision_json()), gemini_answer(scenes_json(range(1, scenes + 1)))]

BRIEF = Brief(project_id="harbor", prompt="A lighthouse keeper relights the lamp in a storm", scene_count=2, seed=7)


def board() -> Storyboard:
    return Storyboard(
        metadata=StoryboardMetadata(title="Harbor Light", logline="A keeper relights the lamp.", style="painterly"),
        characters=[Character(id="mara", name="Mara", description="keeper, 60, grey wool coat")],
        locations=[Location(id="lighthouse", name="Lighthouse", description="white tower on black rocks")],
        scenes=[
            Scene(
                number=1,
                duration_s=6,
                description="Mara climbs the stairs",
                shot_type="wide shot",
                camera_angle="low angle",
                camera_movement="slow push in",
                lighting="dusk",
                characters=["mara"],
                location="lighthouse",
            ),
        ],
    )


def user_text(request: Request, content: int = 0) -> str:
    return "".join(part.get("text", "") for part in request.body["contents"][content]["parts"])


def inline_parts(request: Request) -> list[dict]:
    """The inline media parts of the first content, with the MIME type under "mimeType".

    google-genai 3.x writes the blob's MIME type as "mime_type" on Vertex (the API's proto-JSON
    parser takes either spelling); accept both.
    """
    parts = [dict(part["inlineData"]) for part in request.body["contents"][0]["parts"] if "inlineData" in part]
    for part in parts:
        part.setdefault("mimeType", part.get("mime_type"))
    return parts


@pytest.fixture(scope="module")
def veo_mp4(tmp_path_factory) -> bytes:
    """A real 2 s H.264 clip (what Veo returns, smaller)."""
    path = tmp_path_factory.mktemp("veo") / "veo.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = 320, 176, "yuv420p"
        for index in range(48):
            frame = av.VideoFrame.from_image(Image.new("RGB", (320, 176), (index * 5, 80, 160)))
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path.read_bytes()


def video_facts(path: Path) -> tuple[int, int, str, float]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(video=0))
        return stream.width, stream.height, stream.codec_context.name, frames / float(stream.average_rate)


# --- Resources satisfy the protocols and load without I/O ------------------------------------


def test_resources_satisfy_protocols_and_load_without_io(monkeypatch, fake_vertex):
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", PROJECT)
    monkeypatch.setenv("VIDPIPE_VERTEX_BASE_URL", fake_vertex.url)
    monkeypatch.setenv("VIDPIPE_VERTEX_ACCESS_TOKEN", TOKEN)
    monkeypatch.setenv("VIDPIPE_VERTEX_MAX_ATTEMPTS", "2")
    monkeypatch.setenv("VIDPIPE_VERTEX_VIDEO_MODEL", "veo-2.0-generate-001")
    resources = vertex_model_resources()
    assert isinstance(resources["text_model"], TextModel)
    assert isinstance(resources["image_model"], ImageModel)
    assert isinstance(resources["video_model"], VideoModel)
    assert isinstance(resources["quality_judge"], QualityJudge)
    Definitions(resources=resources)  # loading definitions talks to nobody
    assert fake_vertex.requests == []
    assert resources["text_model"].settings.max_attempts == 2
    assert TOKEN not in repr(resources)

    monkeypatch.setenv("VIDPIPE_VERTEX_MAX_ATTEMPTS", "many")
    with pytest.raises(ValueError, match="VIDPIPE_VERTEX_MAX_ATTEMPTS"):
        vertex_model_resources()


def test_resources_from_env_run_in_dagster(monkeypatch, fake_vertex):
    """EnvVar-configured resources resolve at run time and reach the loopback server."""
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", PROJECT)
    monkeypatch.setenv("GOOGLE_CLOUD_LOCATION", LOCATION)
    monkeypatch.setenv("VIDPIPE_VERTEX_BASE_URL", fake_vertex.url)
    monkeypatch.setenv("VIDPIPE_VERTEX_ACCESS_TOKEN", TOKEN)
    monkeypatch.setenv("VIDPIPE_VERTEX_TEXT_MODEL", "gemini-2.5-flash")
    fake_vertex.script("generateContent", *storyboard_answers())

    @asset
    def storyboard(text_model: VertexTextModel) -> dict:
        board_, call = text_model.write_storyboard(BRIEF)
        return {"scenes": len(board_.scenes), "model": call.model}

    result = materialize([storyboard], resources=vertex_model_resources())
    assert result.success
    assert result.output_for_node("storyboard") == {"scenes": 2, "model": "gemini-2.5-flash"}
    request = fake_vertex.requests[0]
    assert len(fake_vertex.requests) == 2  # the vision, then the scenes
    assert request.path == f"{MODEL_PREFIX}gemini-2.5-flash:generateContent"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"


# --- Storyboard ---------------------------------------------------------------------------------


def test_the_vision_then_the_scenes_each_with_its_schema(settings, fake_vertex):
    fake_vertex.script("generateContent", *storyboard_answers())
    model = VertexTextModel(settings=settings)
    storyboard, call = model.write_storyboard(BRIEF)

    director, scenes = fake_vertex.requests
    for request in (director, scenes):
        assert request.method == "POST"
        assert request.path == f"{MODEL_PREFIX}gemini-2.5-pro:generateContent"
        assert request.headers["Authorization"] == f"Bearer {TOKEN}"
        assert request.headers.get("X-Server-Timeout") == "5"  # every request carries the timeout
        config = request.body["generationConfig"]
        assert config["responseMimeType"] == "application/json"
        assert config["seed"] == BRIEF.seed and config["candidateCount"] == 1
    vision_schema = director.body["generationConfig"]["responseSchema"]
    assert {"logline", "visual_style", "palette", "arc", "characters", "locations"} <= set(vision_schema["properties"])
    assert {"age", "build", "face", "hair", "wardrobe", "accessories"} <= set(vision_schema["properties"]["characters"]["items"]["properties"])
    assert {"time_of_day", "weather", "palette", "key_elements", "light_sources"} <= set(vision_schema["properties"]["locations"]["items"]["properties"])
    assert "director" in director.body["systemInstruction"]["parts"][0]["text"]
    assert BRIEF.prompt in user_text(director) and "2 scenes" in user_text(director)
    scene_schema = scenes.body["generationConfig"]["responseSchema"]["properties"]["scenes"]["items"]["properties"]
    assert {"mood", "intensity", "tempo", "composition", "lighting", "sound", "dialogue", "wardrobe", "transition_in", "changes"} <= set(scene_schema)
    assert {"key_light", "quality", "colour_temperature", "motivated_sources"} <= set(scene_schema["lighting"]["properties"])
    assert '"name":"Mara"' in user_text(scenes)  # the scenes are written on the vision

    assert [s.duration_s for s in storyboard.scenes] == default_durations(BRIEF.scene_count, BRIEF.seed)
    assert storyboard.characters[0].wardrobe == "grey wool coat, yellow boots"
    assert storyboard.vision.arc.end == "relief" and storyboard.metadata.aspect_ratio == BRIEF.aspect_ratio
    assert storyboard.scenes[0].transition_in == "cut"  # the first scene always opens anew
    assert storyboard.scenes[0].lighting.colour_temperature == "warm 2700 K"
    assert storyboard.scenes[0].changes[0].value == "soaked"
    assert storyboard.rules and all(rule.source in ("always", "preset") for rule in storyboard.rules)
    assert call.model == "gemini-2.5-pro"
    assert call.usage["prompt_tokens"] == 240 and call.usage["output_tokens"] == 160
    assert call.usage["requests"] == 2 and call.seconds >= 0
    assert call.prompts == [user_text(director), user_text(scenes)]  # stored with the storyboard


def test_storyboard_scene_durations_and_music_fix_count_lengths_and_cues(settings, fake_vertex):
    fake_vertex.script("generateContent", gemini_answer(vision_json()), gemini_answer(scenes_json(range(1, 4))))
    music = [MusicCue(section=label, mood="dark", intensity="high", tempo="fast") for label in ("intro", "verse", "drop")]
    storyboard, _ = VertexTextModel(settings=settings).write_storyboard(BRIEF, scene_durations=[4, 6, 8], music=music)
    assert [s.duration_s for s in storyboard.scenes] == [4, 6, 8]
    assert [s.music.section for s in storyboard.scenes] == ["intro", "verse", "drop"]
    prompt = user_text(fake_vertex.requests[1])
    assert "- scene 2: 6 s; music: verse, dark mood, high intensity, fast tempo" in prompt


def test_a_long_film_is_written_in_batches_each_on_the_scene_before(settings, fake_vertex):
    fake_vertex.script(
        "generateContent",
        gemini_answer(vision_json()),
        *(gemini_answer(scenes_json(numbers)) for numbers in (range(1, 11), range(11, 21), range(21, 26))),
    )
    storyboard, call = VertexTextModel(settings=settings).write_storyboard(BRIEF, scene_durations=[4] * 25)
    assert [s.number for s in storyboard.scenes] == list(range(1, 26))
    batches = fake_vertex.requests[1:]
    assert len(batches) == 3 and call.usage["requests"] == 4
    assert "Write scenes 11 to 20 now" in user_text(batches[1]) and "- scene 20: 4 s" in user_text(batches[1])
    assert "- scene 21" not in user_text(batches[1])
    assert '"number":10' in user_text(batches[1]).split("The scene just before")[1]
    assert "Write scenes 21 to 25 now" in user_text(batches[2])


def test_a_batch_that_breaks_the_schema_gets_one_corrective_turn_naming_the_fields(settings, fake_vertex):
    bad = scenes_json(range(1, 3), transition_in="dissolve", location="attic")
    fake_vertex.script("generateContent", gemini_answer(vision_json()), gemini_answer(bad), gemini_answer(scenes_json(range(1, 3))))
    storyboard, call = VertexTextModel(settings=settings).write_storyboard(BRIEF)
    assert len(storyboard.scenes) == 2
    contents = fake_vertex.requests[2].body["contents"]
    assert [c["role"] for c in contents] == ["user", "model", "user"]
    assert contents[1]["parts"][0]["text"] == bad
    correction = contents[2]["parts"][0]["text"]
    assert "scenes.0.location: 'attic' is not a location id of the vision" in correction
    assert "scenes.1.transition_in" in correction
    assert call.usage["corrective_retries"] == 1 and call.usage["requests"] == 3


def test_a_batch_invalid_twice_is_a_clear_error_naming_the_fields(settings, fake_vertex):
    fake_vertex.script(
        "generateContent",
        gemini_answer(vision_json()),
        gemini_answer(scenes_json(range(1, 4))),  # the brief asks for 2
        gemini_answer(scenes_json(range(1, 3), intensity="loud")),
    )
    with pytest.raises(StoryboardInvalid, match=r"could not write scenes 1-2 of the storyboard: its answer was invalid twice.*scenes.0.intensity"):
        VertexTextModel(settings=settings).write_storyboard(BRIEF)
    assert "expected exactly 2 scenes (1-2), got 3" in user_text(fake_vertex.requests[2], 2)


def test_a_truncated_vision_gets_its_corrective_turn_then_a_clear_error(settings, fake_vertex):
    truncated = vision_json()[:120]
    fake_vertex.script("generateContent", gemini_answer(truncated, finish="MAX_TOKENS"), gemini_answer("sorry, no JSON today"))
    with pytest.raises(
        StoryboardInvalid,
        match=r"gemini-2.5-pro could not write the director's vision: its answer was invalid twice.*not valid JSON",
    ):
        VertexTextModel(settings=settings).write_storyboard(BRIEF)
    assert len(fake_vertex.requests) == 2
    assert fake_vertex.requests[1].body["contents"][1]["parts"][0]["text"] == truncated


def test_the_state_request_names_the_scene_the_state_and_the_schema(settings, fake_vertex):
    fake_vertex.script("generateContent", *storyboard_answers())
    model = VertexTextModel(settings=settings)
    storyboard, _ = model.write_storyboard(BRIEF)
    record = Continuity(after_scene=1, state=[StateLine(subject="mara", aspect="wet", value="soaked", since_scene=1)])
    stranger = {"changes": [{"subject": "bram", "aspect": "wet", "value": "soaked"}]}
    good = {"changes": [{"subject": "mara", "aspect": "props", "value": "the brass key"}, {"subject": "lighthouse", "aspect": "smoke", "value": "haze"}]}
    fake_vertex.script("generateContent", gemini_answer(json.dumps(stranger)), gemini_answer(json.dumps(good)))
    changes, call = model.scene_changes(storyboard=storyboard, scene=storyboard.scenes[1], record=record)

    request = fake_vertex.requests[2]
    assert set(request.body["generationConfig"]["responseSchema"]["properties"]["changes"]["items"]["properties"]) == {"subject", "aspect", "value"}
    assert "script supervisor" in request.body["systemInstruction"]["parts"][0]["text"]
    text = user_text(request)
    assert "Scene 2 (JSON)" in text and "mara, wet: soaked (since scene 1)" in text and "mara (Mara)" in text
    correction = user_text(fake_vertex.requests[3], 2)
    assert "changes.0.subject: 'bram' is not in scene 2" in correction
    assert [(c.subject, c.aspect) for c in changes] == [("mara", "props"), ("lighthouse", "smoke")]
    assert call.prompts == [text]
    assert call.usage["corrective_retries"] == 1


def test_malformed_response_body_is_a_clear_error(settings, fake_vertex):
    fake_vertex.script("generateContent", Reply(body='{"candidates": [ {"content": '))
    with pytest.raises(
        VertexResponseError, match="gemini-2.5-pro could not write the director's vision: the response body is not valid JSON"
    ):
        VertexTextModel(settings=settings).write_storyboard(BRIEF)
    assert len(fake_vertex.requests) == 1  # not retried: a broken body does not heal


def test_safety_block_then_success_after_sanitizing(settings, fake_vertex):
    brief = BRIEF.model_copy(update={"prompt": "A bloody knife fight on the lighthouse stairs"})
    fake_vertex.script("generateContent", PROMPT_BLOCKED, *storyboard_answers())
    storyboard, call = VertexTextModel(settings=settings).write_storyboard(brief)
    assert len(storyboard.scenes) == 2
    first, second = (user_text(r) for r in fake_vertex.requests[:2])
    assert "bloody knife" in first
    assert "bloody" not in second and "knife" not in second
    assert "red paint tool fight" in second and second.endswith(SAFE_SUFFIX)
    assert call.usage["safety_retries"] == 1


def test_safety_block_twice_raises_model_refused(settings, fake_vertex):
    fake_vertex.script("generateContent", PROMPT_BLOCKED, ANSWER_BLOCKED)
    with pytest.raises(ModelRefused) as refused:
        VertexTextModel(settings=settings).write_storyboard(BRIEF)
    message = str(refused.value)
    assert "gemini-2.5-pro refused to write the director's vision" in message
    assert "answer blocked: SAFETY" in message and "sanitized prompt" in message
    assert refused.value.model == "gemini-2.5-pro" and refused.value.reason == "answer blocked: SAFETY"
    assert len(fake_vertex.requests) == 2


def test_quota_429_backs_off_then_succeeds(settings, fake_vertex, caplog):
    fake_vertex.script("generateContent", quota_exceeded(retry_after="0"), UNAVAILABLE, *storyboard_answers())
    with caplog.at_level(logging.WARNING):
        storyboard, call = VertexTextModel(settings=settings).write_storyboard(BRIEF)
    assert len(storyboard.scenes) == 2
    assert len(fake_vertex.requests) == 4
    assert all(r.path == f"{MODEL_PREFIX}gemini-2.5-pro:generateContent" for r in fake_vertex.requests)
    assert call.usage["retries"] == 2 and call.usage["requests"] == 4
    assert "HTTP 429 RESOURCE_EXHAUSTED" in caplog.text and "attempt 1 of 3" in caplog.text


def test_quota_429_until_max_attempts_is_a_clear_error(settings, fake_vertex):
    fake_vertex.script("generateContent", quota_exceeded(), quota_exceeded(), quota_exceeded())
    with pytest.raises(
        VertexUnavailable, match=r"gemini-2.5-pro could not write the director's vision: HTTP 429 .* after 3 attempts"
    ) as error:
        VertexTextModel(settings=settings).write_storyboard(BRIEF)
    assert error.value.status == 429
    assert len(fake_vertex.requests) == 3


def test_bad_request_is_not_retried(settings, fake_vertex):
    fake_vertex.script(
        "generateContent",
        Reply(status=400, body={"error": {"code": 400, "message": "Unsupported model", "status": "INVALID_ARGUMENT"}}),
    )
    with pytest.raises(VertexRequestFailed, match="HTTP 400 INVALID_ARGUMENT: Unsupported model"):
        VertexTextModel(settings=settings).write_storyboard(BRIEF)
    assert len(fake_vertex.requests) == 1


def test_request_timeout(settings, fake_vertex):
    slow = settings.model_copy(update={"request_timeout_s": 0.3, "max_attempts": 2})
    fake_vertex.script(
        "generateContent",
        Reply(body=gemini_answer(vision_json()), delay_s=1.0),
        Reply(body=gemini_answer(vision_json()), delay_s=1.0),
    )
    started = time.monotonic()
    with pytest.raises(VertexTimeout, match="request timed out"):
        VertexTextModel(settings=slow).write_storyboard(BRIEF)
    assert time.monotonic() - started < 3
    assert len(fake_vertex.requests) == 2


def test_no_credential_in_logs_errors_or_metadata(settings, fake_vertex, caplog):
    # A hostile error body that echoes the token back must not leak it either.
    echo = Reply(
        status=400, body={"error": {"code": 400, "message": f"bad token {TOKEN}", "status": "INVALID_ARGUMENT"}}
    )
    fake_vertex.script("generateContent", quota_exceeded("0"), PROMPT_BLOCKED, *storyboard_answers(), echo)
    model = VertexTextModel(settings=settings)
    with caplog.at_level(logging.DEBUG):
        _, call = model.write_storyboard(BRIEF)
        with pytest.raises(VertexRequestFailed) as failed:
            model.write_storyboard(BRIEF)
    assert fake_vertex.requests[0].headers["Authorization"] == f"Bearer {TOKEN}"  # it was used...
    assert TOKEN not in call.model_dump_json()  # ...but appears nowhere else
    assert TOKEN not in str(failed.value) and "***" in str(failed.value)
    assert TOKEN not in caplog.text
    assert all(TOKEN not in str(record.args) for record in caplog.records)
    assert TOKEN not in repr(model)


# --- Audio phrases -----------------------------------------------------------------------------


def phrases_answer(*starts: float, intensity: str = "High") -> dict:
    phrase = {"mood": "dark", "intensity": intensity, "tempo": "fast"}
    return gemini_answer(
        json.dumps({"phrases": [{"start_s": start, "label": f"phrase {i}", **phrase} for i, start in enumerate(starts, 1)]})
    )


@pytest.fixture
def track(tmp_path) -> Path:
    """3 s of 16-bit stereo WAV at 22.05 kHz (265 KB) that changes at 2 s."""
    return write_sections(tmp_path / "track.wav", [(2.0, 220, 0.3), (1.0, 440, 0.6)])


@pytest.mark.parametrize(("suffix", "mime_type"), [("wav", "audio/wav"), ("mp3", "audio/mp3")])
def test_audio_phrases_send_the_track_inline_and_parse_the_starts(settings, fake_vertex, track, suffix, mime_type):
    audio = track.with_suffix(f".{suffix}")
    if audio != track:
        run_ffmpeg(["-n", "-i", str(track), str(audio)], "encoding the test track")
    fake_vertex.script("generateContent", phrases_answer(0.0, 2.1, 1.0, 2.1, 3.4))
    phrases, call = VertexTextModel(settings=settings).audio_phrases(audio, 3.0)

    (request,) = fake_vertex.requests
    assert request.path == f"{MODEL_PREFIX}gemini-2.5-pro:generateContent"
    (part,) = inline_parts(request)
    assert part["mimeType"] == mime_type and unb64(part["data"]) == audio.read_bytes()
    config = request.body["generationConfig"]
    assert config["responseMimeType"] == "application/json" and config["temperature"] == 0
    schema = config["responseSchema"]
    assert schema["type"] == "OBJECT" and schema["properties"]["phrases"]["type"] == "ARRAY"
    items = schema["properties"]["phrases"]["items"]
    assert {name: field["type"] for name, field in items["properties"].items()} == {
        "start_s": "NUMBER", "label": "STRING", "mood": "STRING", "intensity": "STRING", "tempo": "STRING"
    }
    assert "cuts pictures to music" in request.body["systemInstruction"]["parts"][0]["text"]
    assert "3.0 seconds long" in user_text(request)

    # Sorted, once each (the first answer for a start wins); a start past the track's end left out.
    assert [(p.start_s, p.section) for p in phrases] == [(0.0, "phrase 1"), (1.0, "phrase 3"), (2.1, "phrase 2")]
    assert {(p.mood, p.intensity, p.tempo) for p in phrases} == {("dark", "high", "fast")}
    assert call.model == "gemini-2.5-pro"
    assert call.usage["input_audio_bytes"] == audio.stat().st_size and call.usage["phrases"] == 3


def test_audio_phrases_of_a_large_track_send_a_16_khz_mono_copy(settings, fake_vertex, track):
    fake_vertex.script("generateContent", phrases_answer(2.0))
    phrases, _ = VertexTextModel(settings=settings, max_inline_bytes=200_000).audio_phrases(track, 3.0)
    (part,) = inline_parts(fake_vertex.requests[0])
    assert part["mimeType"] == "audio/wav"
    with wave.open(io.BytesIO(unb64(part["data"]))) as copy:
        assert (copy.getnchannels(), copy.getframerate()) == (1, 16_000)
        assert copy.getnframes() == pytest.approx(3 * 16_000, abs=100)
    assert [p.start_s for p in phrases] == [2.0]


def test_audio_phrases_off_the_intensity_scale_are_named(settings, fake_vertex, track):
    fake_vertex.script("generateContent", phrases_answer(0.0, intensity="loud"), phrases_answer(0.0))
    phrases, call = VertexTextModel(settings=settings).audio_phrases(track, 3.0)
    assert "phrases.0.intensity: Input should be 'low', 'medium', 'high' or 'extreme'" in user_text(fake_vertex.requests[1], 2)
    assert phrases[0].intensity == "high" and call.usage["corrective_retries"] == 1


def test_audio_too_long_to_send_is_refused_before_any_request(settings, fake_vertex, track):
    with pytest.raises(InvalidInput, match="too long for gemini-2.5-pro to hear in one request"):
        VertexTextModel(settings=settings, max_inline_bytes=50_000).audio_phrases(track, 3.0)
    assert fake_vertex.requests == []


def test_audio_phrases_out_of_range_get_a_correction_turn_then_a_clear_error(settings, fake_vertex, track):
    fake_vertex.script("generateContent", phrases_answer(2100.0), gemini_answer("the chorus starts at 2 s"))
    with pytest.raises(
        AudioPhrasesInvalid,
        match=r"gemini-2.5-pro could not find the phrases of the audio track: its answer was invalid twice.*phrases is not valid JSON",
    ):
        VertexTextModel(settings=settings).audio_phrases(track, 3.0)
    _, second = fake_vertex.requests
    assert len(inline_parts(second)) == 1  # the corrective turn hears the track again
    assert "start_s [2100.0] lie outside the 3.0 s track" in second.body["contents"][2]["parts"][0]["text"]


# --- Images ------------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:The generate_images method is deprecated")
def test_reference_image_with_imagen(settings, fake_vertex, tmp_path):
    fake_vertex.script(
        "predict", {"predictions": [{"bytesBase64Encoded": b64(png_bytes((1024, 1024))), "mimeType": "image/png"}]}
    )
    out = tmp_path / "mara.png"
    call = VertexImageModel(settings=settings, reference_model="imagen-4.0-generate-001").reference_image(
        prompt=reference_prompt(board().characters[0], board()), subject=board().characters[0], storyboard=board(),
        out=out, size=(640, 360),
    )
    (request,) = fake_vertex.requests
    assert request.path == f"{MODEL_PREFIX}imagen-4.0-generate-001:predict"
    assert (
        "Mara" in request.body["instances"][0]["prompt"] and "grey wool coat" in request.body["instances"][0]["prompt"]
    )
    parameters = request.body["parameters"]
    assert parameters["sampleCount"] == 1 and parameters["aspectRatio"] == "16:9"
    assert parameters["includeRaiReason"] is True and parameters["outputOptions"]["mimeType"] == "image/png"
    assert "negativePrompt" in parameters
    assert Image.open(out).size == (640, 360)
    assert call.model == "imagen-4.0-generate-001" and call.usage["images"] == 1


@pytest.mark.filterwarnings("ignore:The generate_images method is deprecated")
def test_reference_image_rai_filtered_then_sanitized(settings, fake_vertex, tmp_path):
    villain = Character(id="raider", name="Raider", description="a pirate with a bloody knife")
    fake_vertex.script(
        "predict",
        {"predictions": [{"raiFilteredReason": "39322892: violence"}]},
        {"predictions": [{"bytesBase64Encoded": b64(png_bytes()), "mimeType": "image/png"}]},
    )
    call = VertexImageModel(settings=settings, reference_model="imagen-4.0-generate-001").reference_image(
        prompt=reference_prompt(villain, board()), subject=villain, storyboard=board(), out=tmp_path / "r.png", size=(256, 256)
    )
    first, second = (r.body["instances"][0]["prompt"] for r in fake_vertex.requests)
    assert "bloody knife" in first and "bloody" not in second and SAFE_SUFFIX in second
    assert call.usage["safety_retries"] == 1


def test_reference_image_with_gemini_image_model(settings, fake_vertex, tmp_path):
    fake_vertex.script("generateContent", gemini_image_answer(png_bytes((300, 300))))
    out = tmp_path / "harbor.png"
    VertexImageModel(settings=settings).reference_image(
        prompt="the place", subject=board().locations[0], storyboard=board(), out=out, size=(256, 256)
    )
    (request,) = fake_vertex.requests
    assert user_text(request) == "the place"  # the composed prompt is sent as it is stored
    assert request.path == f"{MODEL_PREFIX}gemini-2.5-flash-image:generateContent"
    assert inline_parts(request) == []
    assert Image.open(out).size == (256, 256)


def test_keyframe_sends_references_and_previous_frame(settings, fake_vertex, tmp_path):
    references = [tmp_path / "mara.png", tmp_path / "lighthouse.png"]
    references[0].write_bytes(png_bytes(color=(255, 0, 0)))
    references[1].write_bytes(png_bytes(color=(0, 255, 0)))
    previous = tmp_path / "previous.png"
    previous.write_bytes(png_bytes(color=(0, 0, 255)))
    fake_vertex.script("generateContent", gemini_image_answer(png_bytes((1344, 768))))
    out = tmp_path / "start.png"
    call = VertexImageModel(settings=settings).keyframe(
        prompt="Mara reaches the lamp room",
        storyboard=board(),
        scene=board().scenes[0],
        references=references,
        previous_frame=previous,
        out=out,
        size=(640, 360),
    )
    (request,) = fake_vertex.requests
    assert request.path == f"{MODEL_PREFIX}gemini-2.5-flash-image:generateContent"
    images = inline_parts(request)
    assert [part["mimeType"] for part in images] == ["image/png"] * 3
    assert [unb64(part["data"]) for part in images] == [p.read_bytes() for p in (*references, previous)]
    texts = user_text(request)
    assert "Mara reaches the lamp room" in texts and "Reference image 1: mara" in texts and "Previous frame" in texts
    config = request.body["generationConfig"]
    assert "IMAGE" in config["responseModalities"] and config["imageConfig"]["aspectRatio"] == "16:9"
    image = Image.open(out)
    assert image.format == "PNG" and image.size == (640, 360)
    assert (
        call.model == "gemini-2.5-flash-image"
        and call.usage["input_images"] == 3
        and call.usage["total_tokens"] == 2590
    )


def test_keyframe_image_blocked_twice(settings, fake_vertex, tmp_path):
    blocked = {"candidates": [{"finishReason": "IMAGE_SAFETY", "content": {"parts": []}}]}
    fake_vertex.script("generateContent", blocked, blocked)
    with pytest.raises(
        ModelRefused, match="gemini-2.5-flash-image refused to draw a keyframe of scene 1.*IMAGE_SAFETY"
    ):
        VertexImageModel(settings=settings).keyframe(
            prompt="x",
            storyboard=board(),
            scene=board().scenes[0],
            references=[],
            previous_frame=None,
            out=tmp_path / "k.png",
            size=(64, 64),
        )
    assert not (tmp_path / "k.png").exists()


# --- Veo ---------------------------------------------------------------------------------------

OPERATION = f"projects/{PROJECT}/locations/{LOCATION}/publishers/google/models/veo-3.1-generate-001/operations/op-1234"


def pending() -> dict:
    return {"name": OPERATION}


def done_with(video: dict | None = None, **response: Any) -> dict:
    body: dict = {"@type": "type.googleapis.com/cloud.ai.large_models.vision.GenerateVideoResponse", **response}
    if video is not None:
        body["videos"] = [video]
    return {"name": OPERATION, "done": True, "response": body}


def clip_args(tmp_path: Path, **overrides: Any) -> dict:
    start = tmp_path / "start.png"
    end = tmp_path / "end.png"
    start.write_bytes(png_bytes(color=(10, 10, 10)))
    end.write_bytes(png_bytes(color=(250, 250, 250)))
    args = dict(
        prompt="Mara climbs the spiral stairs",
        scene=board().scenes[0],
        start_frame=start,
        end_frame=end,
        out=tmp_path / "clip.mp4",
        size=(640, 360),
        seed=4242,
    )
    return {**args, **overrides}


def test_veo_pending_pending_done(settings, fake_vertex, tmp_path, veo_mp4):
    fake_vertex.script("predictLongRunning", pending())
    fake_vertex.script(
        "fetchPredictOperation",
        pending(),
        pending(),
        done_with({"bytesBase64Encoded": b64(veo_mp4), "mimeType": "video/mp4"}),
    )
    model = VertexVideoModel(settings=settings, poll_interval_s=0.01)
    args = clip_args(tmp_path)
    call = model.clip(**args)

    submit = fake_vertex.sent("predictLongRunning")[0]
    assert submit.path == f"{MODEL_PREFIX}veo-3.1-generate-001:predictLongRunning"
    instance = submit.body["instances"][0]
    assert instance["prompt"] == "Mara climbs the spiral stairs"
    assert unb64(instance["image"]["bytesBase64Encoded"]) == args["start_frame"].read_bytes()
    assert unb64(instance["lastFrame"]["bytesBase64Encoded"]) == args["end_frame"].read_bytes()
    assert instance["image"]["mimeType"] == instance["lastFrame"]["mimeType"] == "image/png"
    parameters = submit.body["parameters"]
    assert parameters["durationSeconds"] == 6 and parameters["aspectRatio"] == "16:9"
    assert parameters["sampleCount"] == 1 and parameters["seed"] == 4242 and parameters["generateAudio"] is False
    assert "watermark" in parameters["negativePrompt"] and "storageUri" not in parameters
    assert "resolution" not in parameters  # 360p is no Veo resolution: Veo's default, conformed below

    polls = fake_vertex.sent("fetchPredictOperation")
    assert len(polls) == 3
    assert all(p.path == f"{MODEL_PREFIX}veo-3.1-generate-001:fetchPredictOperation" for p in polls)
    assert all(p.body == {"operationName": OPERATION} for p in polls)

    width, height, codec, seconds = video_facts(args["out"])
    assert (width, height, codec) == (640, 360, "h264") and seconds == pytest.approx(2.0, abs=0.1)
    assert [p.name for p in tmp_path.iterdir() if "veo-" in p.name] == []  # the raw download is gone
    assert call.model == "veo-3.1-generate-001"
    assert call.usage["polls"] == 3 and call.usage["operations"] == 1 and call.usage["video_seconds"] == 6
    assert call.usage["conformed"] == 1  # 320x176 came back: re-encoded to the project's size


def test_veo_poll_timeout_names_the_operation(settings, fake_vertex, tmp_path):
    fake_vertex.script("predictLongRunning", pending())
    fake_vertex.script("fetchPredictOperation", *[pending() for _ in range(200)])
    model = VertexVideoModel(settings=settings, poll_interval_s=0.02, operation_timeout_s=0.3)
    with pytest.raises(VertexTimeout, match=f"operation {OPERATION} was not done after 0.3s") as timeout:
        model.clip(**clip_args(tmp_path))
    assert isinstance(timeout.value, TimeoutError)
    assert 3 <= len(fake_vertex.sent("fetchPredictOperation")) <= 20
    assert not (tmp_path / "clip.mp4").exists()


def test_veo_rai_filtered_then_sanitized(settings, fake_vertex, tmp_path, veo_mp4):
    fake_vertex.script("predictLongRunning", pending(), pending())
    fake_vertex.script(
        "fetchPredictOperation",
        done_with(
            raiMediaFilteredCount=1, raiMediaFilteredReasons=["Unable to generate: violence. Support code 58061214"]
        ),
        done_with({"bytesBase64Encoded": b64(veo_mp4), "mimeType": "video/mp4"}),
    )
    args = clip_args(tmp_path, prompt="The raider kills the keeper with a gun")
    call = VertexVideoModel(settings=settings, poll_interval_s=0.01).clip(**args)
    first, second = (r.body["instances"][0]["prompt"] for r in fake_vertex.sent("predictLongRunning"))
    assert first == args["prompt"]
    assert "kills" not in second and "gun" not in second and second.endswith(SAFE_SUFFIX)
    # the images are sent again unchanged
    assert fake_vertex.sent("predictLongRunning")[1].body["instances"][0]["lastFrame"]["bytesBase64Encoded"] == b64(
        args["end_frame"].read_bytes()
    )
    assert call.usage["safety_retries"] == 1 and args["out"].exists()


def test_veo_filtered_twice_raises_model_refused(settings, fake_vertex, tmp_path):
    fake_vertex.script("predictLongRunning", pending(), pending())
    filtered = done_with(raiMediaFilteredCount=1, raiMediaFilteredReasons=["violence"])
    fake_vertex.script("fetchPredictOperation", filtered, filtered)
    with pytest.raises(ModelRefused, match="veo-3.1-generate-001 refused to render the clip of scene 1.*violence"):
        VertexVideoModel(settings=settings, poll_interval_s=0.01).clip(**clip_args(tmp_path))


def test_veo_operation_error_is_a_clear_error(settings, fake_vertex, tmp_path):
    fake_vertex.script("predictLongRunning", pending())
    fake_vertex.script(
        "fetchPredictOperation",
        {"name": OPERATION, "done": True, "error": {"code": 13, "message": "Internal error encountered."}},
    )
    with pytest.raises(Exception, match=f"operation {OPERATION} failed with code 13: Internal error"):
        VertexVideoModel(settings=settings, poll_interval_s=0.01).clip(**clip_args(tmp_path))


def test_veo_429_on_submit_backs_off(settings, fake_vertex, tmp_path, veo_mp4):
    fake_vertex.script("predictLongRunning", quota_exceeded("0"), pending())
    fake_vertex.script(
        "fetchPredictOperation", done_with({"bytesBase64Encoded": b64(veo_mp4), "mimeType": "video/mp4"})
    )
    call = VertexVideoModel(settings=settings, poll_interval_s=0.01).clip(**clip_args(tmp_path))
    assert len(fake_vertex.sent("predictLongRunning")) == 2 and call.usage["retries"] == 1


def test_veo_output_to_gcs_is_streamed_down(settings, fake_vertex, tmp_path, veo_mp4, gcs_bucket):
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    bucket = storage.Client(project="test", credentials=AnonymousCredentials()).bucket(gcs_bucket)
    bucket.blob("veo/abc/sample_0.mp4").upload_from_string(veo_mp4, content_type="video/mp4")
    fake_vertex.script("predictLongRunning", pending())
    fake_vertex.script(
        "fetchPredictOperation",
        done_with({"gcsUri": f"gs://{gcs_bucket}/veo/abc/sample_0.mp4", "mimeType": "video/mp4"}),
    )
    model = VertexVideoModel(settings=settings, poll_interval_s=0.01, output_gcs_uri=f"gs://{gcs_bucket}/veo/")
    args = clip_args(tmp_path)
    model.clip(**args)
    storage_uri = fake_vertex.sent("predictLongRunning")[0].body["parameters"]["storageUri"]
    assert (
        storage_uri.startswith(f"gs://{gcs_bucket}/veo/")
        and storage_uri.endswith("/")
        and len(storage_uri) > len(f"gs://{gcs_bucket}/veo/") + 8
    )
    assert video_facts(args["out"])[:3] == (640, 360, "h264")


def test_veo2_gets_its_own_duration_range_and_no_audio_flag(settings, fake_vertex, tmp_path, veo_mp4):
    four_seconds = board().scenes[0].model_copy(update={"duration_s": 4})
    fake_vertex.script("predictLongRunning", pending())
    fake_vertex.script(
        "fetchPredictOperation", done_with({"bytesBase64Encoded": b64(veo_mp4), "mimeType": "video/mp4"})
    )
    model = VertexVideoModel(settings=settings, model="veo-2.0-generate-001", poll_interval_s=0.01)
    call = model.clip(**clip_args(tmp_path, scene=four_seconds))
    (submit,) = fake_vertex.sent("predictLongRunning")
    assert submit.path == f"{MODEL_PREFIX}veo-2.0-generate-001:predictLongRunning"
    assert submit.body["parameters"]["durationSeconds"] == 5 and "generateAudio" not in submit.body["parameters"]
    assert call.usage["video_seconds"] == 4


@pytest.fixture(scope="module")
def veo_720p_with_sound(tmp_path_factory) -> bytes:
    """What Veo 3 returns at 720p with sound: H.264 yuv420p 1280x720 at 24 fps, AAC stereo 48 kHz."""
    path = tmp_path_factory.mktemp("veo720") / "veo.mp4"
    run_ffmpeg(
        [
            "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=24:duration=2",
            "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=2",
            "-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
            "-c:a", "aac", "-ac", "2", "-ar", "48000", "-shortest", str(path),
        ],  # fmt: skip
        "making a 720p clip with sound",
    )
    return path.read_bytes()


def veo_returns(fake_vertex: FakeVertex, video: bytes) -> None:
    """Veo takes the request and is done at the first poll, with `video` inline."""
    fake_vertex.script("predictLongRunning", pending())
    fake_vertex.script("fetchPredictOperation", done_with({"bytesBase64Encoded": b64(video), "mimeType": "video/mp4"}))


def test_veo_is_asked_for_the_resolution_and_its_sound_and_a_conforming_clip_is_stored_unchanged(
    settings, fake_vertex, tmp_path, veo_720p_with_sound
):
    veo_returns(fake_vertex, veo_720p_with_sound)
    args = clip_args(tmp_path, size=(1280, 720), audio=True)
    call = VertexVideoModel(settings=settings, poll_interval_s=0.01).clip(**args)

    parameters = fake_vertex.sent("predictLongRunning")[0].body["parameters"]
    assert parameters["resolution"] == "720p" and parameters["generateAudio"] is True
    stored = args["out"].read_bytes()
    assert hashlib.sha256(stored).hexdigest() == hashlib.sha256(veo_720p_with_sound).hexdigest()
    assert call.usage["conformed"] == 0


def test_veo_sound_the_cut_does_not_use_is_dropped_without_re_encoding_the_picture(
    settings, fake_vertex, tmp_path, veo_720p_with_sound
):
    veo_returns(fake_vertex, veo_720p_with_sound)
    args = clip_args(tmp_path, size=(1280, 720), audio=False)
    VertexVideoModel(settings=settings, poll_interval_s=0.01).clip(**args)
    assert fake_vertex.sent("predictLongRunning")[0].body["parameters"]["generateAudio"] is False
    with av.open(str(args["out"])) as stored, av.open(io.BytesIO(veo_720p_with_sound)) as returned:
        assert not stored.streams.audio
        packets = [bytes(p) for p in stored.demux(video=0) if p.size]
        assert packets == [bytes(p) for p in returned.demux(video=0) if p.size]  # the picture is stream-copied


def test_veo_1080p_is_asked_for_and_a_silent_clip_gets_a_silent_track_when_sound_is_kept(
    settings, fake_vertex, tmp_path, veo_mp4
):
    veo_returns(fake_vertex, veo_mp4)
    args = clip_args(tmp_path, size=(1920, 1080), audio=True)
    VertexVideoModel(settings=settings, poll_interval_s=0.01).clip(**args)
    assert fake_vertex.sent("predictLongRunning")[0].body["parameters"]["resolution"] == "1080p"
    assert video_facts(args["out"])[:2] == (1920, 1080)  # re-encoded at the project's size, never smaller
    with av.open(str(args["out"])) as stored:
        (sound,) = stored.streams.audio
        assert (sound.codec_context.name, sound.codec_context.channels, sound.codec_context.sample_rate) == ("aac", 2, 48000)


# --- Judge -------------------------------------------------------------------------------------

ALL_PASS = dict.fromkeys(CATEGORY_WEIGHTS, "PASS")
COAT_ISSUE = {
    "department": "costume",
    "category": "character_consistency",
    "severity": "major",
    "description": "Mara's coat turns blue",
    "timestamp_s": 2.5,
    "location_in_frame": None,
    "suggested_fix": "keep Mara's grey wool coat",
}


def judge_answer(issues: list[dict] | None = None, rule: str = "", **grades: str) -> dict:
    return gemini_answer(
        json.dumps(
            {
                "grades": {name: {"rating": grade, "details": "seen"} for name, grade in {**ALL_PASS, **grades}.items()},
                "issues": issues if issues is not None else ([COAT_ISSUE] if grades else []),
                "feedback": "Hold the wardrobe.",
                "rule_suggestion": rule,
            }
        )
    )


def test_judge_request_carries_the_rubric_and_the_previous_frame(settings, fake_vertex, tmp_path, veo_mp4):
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(veo_mp4)
    previous = tmp_path / "previous-end.png"
    previous.write_bytes(png_bytes(color=(200, 40, 40)))
    fake_vertex.script("generateContent", judge_answer(character_consistency="MAJOR", rule="Wardrobe never changes colour."))
    verdict = VertexJudge(settings=settings).judge(
        media=clip, scene=board().scenes[0], storyboard=board(), prompt="Mara climbs",
        previous_frame=previous, previous_description="Mara unlocks the lighthouse door", rules=["Exact character counts."],
    )

    (request,) = fake_vertex.requests
    assert request.path == f"{MODEL_PREFIX}gemini-2.5-flash:generateContent"
    first, video = inline_parts(request)
    assert first["mimeType"] == "image/png" and unb64(first["data"]) == previous.read_bytes()
    assert video["mimeType"] == "video/mp4" and unb64(video["data"]) == veo_mp4
    text = user_text(request)
    for expected in (
        "narrative_fidelity (weight 30%)", "character_consistency (weight 25%)", "technical_quality (weight 20%)",
        "emotional_authenticity (weight 15%)", "continuity (weight 10%)", "MAJOR = a clear flaw",
        "Previous scene: Mara unlocks the lighthouse door", "previous scene's last frame", "- Exact character counts.",
        "Generation prompt: Mara climbs", "grey wool coat",
    ):
        assert expected in text, expected
    schema = request.body["generationConfig"]["responseSchema"]["properties"]
    assert {"grades", "issues", "feedback", "rule_suggestion"} == set(schema)  # no score: it is computed
    assert set(schema["grades"]["properties"]) == set(CATEGORY_WEIGHTS)

    assert verdict.grades["character_consistency"] == "MAJOR" and verdict.score == 0.85
    assert verdict.issues[0].model_dump() == COAT_ISSUE
    assert verdict.rule_suggestion == "Wardrobe never changes colour."
    assert verdict.call.model == "gemini-2.5-flash" and verdict.call.usage["total_tokens"] == 200


def test_judge_large_clip_sends_sampled_frames(settings, fake_vertex, tmp_path, veo_mp4):
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(veo_mp4)
    fake_vertex.script("generateContent", judge_answer())
    verdict = VertexJudge(settings=settings, max_inline_bytes=1, sample_frames=4).judge(
        media=clip, scene=board().scenes[0], storyboard=board(), prompt="p"
    )
    frames = inline_parts(fake_vertex.requests[0])
    assert [f["mimeType"] for f in frames] == ["image/jpeg"] * 4
    assert "4 evenly spaced frames" in user_text(fake_vertex.requests[0])
    assert verdict.call.usage["input_images"] == 4 and verdict.score == 1.0


def test_judge_keyframe_and_an_unknown_grade_gets_a_correction_turn(settings, fake_vertex, tmp_path):
    image = tmp_path / "start.png"
    image.write_bytes(png_bytes())
    fake_vertex.script("generateContent", judge_answer(continuity="GREAT"), judge_answer(continuity="MINOR", issues=[]))
    verdict = VertexJudge(settings=settings).judge(media=image, scene=board().scenes[0], storyboard=board(), prompt="p")
    (still,) = inline_parts(fake_vertex.requests[0])  # the keyframe once, no previous frame given
    assert still["mimeType"] == "image/png"
    assert "no in-between moment" in user_text(fake_vertex.requests[0])
    correction = fake_vertex.requests[1].body["contents"][2]["parts"][0]["text"]
    assert "judge.grades.continuity: Input should be 'PASS', 'MINOR', 'MAJOR' or 'FAIL'" in correction
    assert verdict.grades["continuity"] == "MINOR" and verdict.score == 0.97


# --- Correction by rewrite ---------------------------------------------------------------------


def test_rewrite_request_carries_the_old_prompt_and_the_issues(settings, fake_vertex):
    old = "Mara climbs the spiral stairs of the lighthouse, lantern in hand, slow push in."
    new = old + " Mara wears her grey wool coat, unchanged, buttoned; exactly one lantern; no blue clothing."
    fake_vertex.script("generateContent", gemini_answer(new))
    issue = JudgeIssue.model_validate(COAT_ISSUE)
    rewritten, call = VertexTextModel(settings=settings).rewrite_prompt(prompt=old, issues=[issue], problems=["40% of frames are black"])

    (request,) = fake_vertex.requests
    text = user_text(request)
    assert old in text and "Mara's coat turns blue" in text and "keep Mara's grey wool coat" in text
    assert "[major, costume, character_consistency]" in text and "40% of frames are black" in text
    assert "responseMimeType" not in request.body.get("generationConfig", {})  # free text, not JSON
    assert "never remove" in request.body["systemInstruction"]["parts"][0]["text"]
    assert rewritten == new and call.model == "gemini-2.5-pro"


def test_a_rewrite_that_drops_part_of_the_prompt_gives_way_to_the_deterministic_one(settings, fake_vertex):
    old = "Mara climbs the spiral stairs of the lighthouse, lantern in hand, slow push in."
    fake_vertex.script("generateContent", gemini_answer("Mara in a grey coat."))
    rewritten, call = VertexTextModel(settings=settings).rewrite_prompt(
        prompt=old, issues=[JudgeIssue.model_validate(COAT_ISSUE)], problems=[]
    )
    assert rewritten.startswith(old) and "keep Mara's grey wool coat" in rewritten
    assert call.usage["rewrite_fallbacks"] == 1


# --- The judged loop of the scene assets, with the judge (and Veo) on the loopback server ----------


def vertex_project(instance, project: str, **brief: Any):
    """A one-scene project set up with the local backend; its scenes then run with `defs_with`."""
    from vidpipe_dagster.definitions import build_defs
    from vidpipe_dagster.in_process import execute_partition
    from vidpipe_dagster.intake import submit_brief

    defs = build_defs()
    submit_brief(instance, defs.resources["blob_store"].open(), {"project_id": project, "prompt": "a keeper climbs the lighthouse", "scene_count": 1, **brief})
    execute_partition(defs, instance, "project_setup", project, project)
    return defs


def run_assets(defs, instance, partition: str, assets: list[str], run_config: dict | None = None):
    from dagster import AssetKey

    return defs.resolve_job_def("scene").execute_in_process(
        instance=instance, partition_key=partition, asset_selection=[AssetKey(a) for a in assets],
        run_config=run_config or {}, raise_on_error=False,
    )


def step_failure(result) -> str:
    return next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE").event_specific_data.error_display_string


def test_a_major_character_grade_fails_the_clip_at_the_defaults_and_passes_with_a_brief_threshold_of_half(
    vidpipe_env, instance, settings, fake_vertex
):
    from vidpipe_dagster.definitions import build_defs

    judged = build_defs(quality_judge=VertexJudge(settings=settings))
    for project, brief, expected_attempts in (("strict", {}, 3), ("lenient", {"quality": {"accept": 0.5}}, 1)):
        local = vertex_project(instance, project, **brief)
        assert run_assets(local, instance, f"{project}|001", ["scene_keyframes"]).success
        fake_vertex.requests.clear()
        fake_vertex.script("generateContent", *[judge_answer(character_consistency="MAJOR") for _ in range(expected_attempts)])

        result = run_assets(judged, instance, f"{project}|001", ["scene_clip"])

        assert result.success
        assert len(fake_vertex.sent("generateContent")) == expected_attempts  # one judge call per attempt
        metadata = result.asset_materializations_for_node("scene_clip")[0].metadata
        assert metadata["attempts"].value == expected_attempts and metadata["score"].value == pytest.approx(0.85)
        records = judged.resources["ledger"].attempts("scene_clip", f"{project}|001")
        accepted = next(r for r in records if r.status.value == "accepted")
        assert accepted.scores["grades"]["character_consistency"] == "MAJOR"
        assert accepted.scores["issues"][0]["suggested_fix"] == "keep Mara's grey wool coat"
        if project == "strict":
            assert accepted.scores["passed"] is False and accepted.scores["verdict"] == "MINOR_ISSUES"
            assert "below the quality bar" in metadata["quality_flag"].value
        else:
            assert accepted.scores["passed"] is True and accepted.scores["verdict"] == "ACCEPT"
            assert accepted.scores["thresholds"]["accept"] == 0.5


def test_a_keyframe_judged_fail_is_retried_and_no_veo_call_is_made_from_it(vidpipe_env, instance, settings, fake_vertex):
    from vidpipe_dagster.artifacts import load_materialized
    from vidpipe_dagster.definitions import build_defs

    vertex_project(instance, "bad-frame", quality={"max_attempts": 2})
    defs = build_defs(quality_judge=VertexJudge(settings=settings), video_model=VertexVideoModel(settings=settings, poll_interval_s=0.01))
    all_fail = {name: "FAIL" for name in CATEGORY_WEIGHTS}
    fake_vertex.script("generateContent", judge_answer(**all_fail), judge_answer(**all_fail))

    result = run_assets(defs, instance, "bad-frame|001", ["scene_keyframes", "scene_clip"])

    assert not result.success
    assert "the start keyframe of scene 001: no attempt of 2 reached the pass bar 0.7" in step_failure(result)
    assert len(fake_vertex.sent("generateContent")) == 2  # judged twice: drawn, then redrawn from a rewritten prompt
    assert fake_vertex.sent("predictLongRunning") == []  # no clip was paid for
    store = defs.resources["blob_store"].open()
    assert load_materialized(instance, store, "scene_keyframes", "bad-frame|001") is None

    # FAIL, then PASS: the second drawing is kept, and both are recorded like a clip's attempts.
    # Another film: the same requests would get the answers already paid for, not new judgements.
    vertex_project(instance, "good-frame", quality={"max_attempts": 2}, prompt="a keeper climbs the lighthouse at dawn")
    fake_vertex.script("generateContent", judge_answer(**all_fail), judge_answer(), judge_answer())
    result = run_assets(defs, instance, "good-frame|001", ["scene_keyframes"])
    assert result.success and fake_vertex.sent("predictLongRunning") == []
    keyframes = load_materialized(instance, store, "scene_keyframes", "good-frame|001")
    start_rows = keyframes.facts["quality"]["start"]
    assert [row["verdict"] for row in start_rows] == ["FAIL", "ACCEPT"]
    assert start_rows[1]["previous_prompt"] == start_rows[0]["prompt"] and "keep Mara's grey wool coat" in start_rows[1]["prompt"]
    assert (keyframes.data["width"], keyframes.data["height"]) == (1280, 720)  # vertex's default resolution
    metadata = result.asset_materializations_for_node("scene_keyframes")[0].metadata
    assert isinstance(metadata["score"].value, float) and metadata["attempts"].value == 3


@pytest.mark.parametrize(
    ("brief", "field"),
    [
        ({"quality": {"accept": 1.5}}, "brief.quality.accept"),
        ({"quality": {"pass": -0.2}}, "brief.quality.pass"),
        ({"quality": {"major": 2}}, "brief.quality.major"),
        ({"resolution": "4k"}, "brief.resolution"),
    ],
)
def test_bad_thresholds_or_resolution_are_refused_naming_the_field_before_anything_is_stored(
    vidpipe_env, instance, fake_vertex, brief, field
):
    from vidpipe_dagster.definitions import build_defs
    from vidpipe_dagster.domain import InvalidBrief
    from vidpipe_dagster.intake import submit_brief

    defs = build_defs()
    with pytest.raises(InvalidBrief, match=field.replace(".", r"\.")):
        submit_brief(instance, defs.resources["blob_store"].open(), {"project_id": "refused", "prompt": "x", **brief})
    assert [path for path in (vidpipe_env / "objects").rglob("*") if path.is_file()] == []  # nothing stored
    assert fake_vertex.requests == []


@pytest.mark.parametrize(
    ("quality", "message"),
    [
        ({"accept": 0.6, "pass_": 0.8}, "quality.pass (0.8) is above quality.accept (0.6)"),
        ({"accept": 1.5}, "accept"),
        ({"major": -0.1}, "major"),
    ],
)
def test_bad_launchpad_thresholds_fail_the_step_before_any_model_call(vidpipe_env, instance, settings, fake_vertex, quality, message):
    from vidpipe_dagster.definitions import build_defs

    vertex_project(instance, "contradiction")
    defs = build_defs(quality_judge=VertexJudge(settings=settings), video_model=VertexVideoModel(settings=settings))
    result = run_assets(defs, instance, "contradiction|001", ["scene_keyframes"], {"ops": {"scene_keyframes": {"config": {"quality": quality}}}})
    assert not result.success and message in step_failure(result)
    assert fake_vertex.requests == []
    assert defs.resources["ledger"].attempts("scene_keyframes", "contradiction|001") == []


def test_the_judge_of_a_cut_scene_sees_the_previous_scenes_last_frame_and_description(
    vidpipe_env, instance, settings, fake_vertex, tmp_path
):
    from vidpipe_dagster.artifacts import load_materialized
    from vidpipe_dagster.definitions import build_defs
    from vidpipe_dagster.domain import Storyboard
    from vidpipe_dagster.media.frames import extract_last_frame

    local = vertex_project(
        instance, "cut-judge", prompt="a keeper walks the harbor at dawn, then the forest at night", scene_count=2,
        scene_hints=["the keeper on the harbor wall at dawn", "the keeper in the pine forest at night"],
    )
    store = local.resources["blob_store"].open()
    board = Storyboard.model_validate(load_materialized(instance, store, "storyboard", "cut-judge").data)
    assert board.scenes[1].transition_in == "cut"
    assert run_assets(local, instance, "cut-judge|001", ["scene_keyframes", "scene_clip"]).success
    assert run_assets(local, instance, "cut-judge|002", ["scene_keyframes"]).success
    first_clip = load_materialized(instance, store, "scene_clip", "cut-judge|001")
    expected = extract_last_frame(store.get_file(first_clip.objects["clip.mp4"].key, tmp_path / "first.mp4"), tmp_path / "last.png")
    fake_vertex.script("generateContent", judge_answer())

    result = run_assets(build_defs(quality_judge=VertexJudge(settings=settings)), instance, "cut-judge|002", ["scene_clip"])

    assert result.success
    (request,) = fake_vertex.sent("generateContent")
    previous, clip = inline_parts(request)
    assert unb64(previous["data"]) == expected.read_bytes() and clip["mimeType"] == "video/mp4"
    assert f"Previous scene: {board.scenes[0].description}" in user_text(request)
