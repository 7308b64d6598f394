"""`VertexImageModel`: reference images (Imagen or Gemini) and keyframes (Gemini image) on Vertex AI."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from dagster import ConfigurableResource
from pydantic import Field

from vidpipe_dagster.domain import Character, Location, ModelCall, Scene, Storyboard
from vidpipe_dagster.resources.models.vertex_client import (
    CallRecorder,
    VertexError,
    VertexResponseError,
    VertexSettings,
    gemini_image,
    imagen_image,
)
from vidpipe_dagster.resources.models.vertex_helpers import fit_png, mime_type_for, nearest_aspect_ratio

if TYPE_CHECKING:
    from google import genai
    from google.genai import types

DEFAULT_REFERENCE_MODEL = "gemini-2.5-flash-image"
DEFAULT_KEYFRAME_MODEL = "gemini-2.5-flash-image"
DEFAULT_NEGATIVE_PROMPT = "blurry, low quality, distorted faces, extra limbs, flicker, text, captions, watermark, logo"


def image_part(path: Path) -> types.Part:
    from google.genai import types

    return types.Part.from_bytes(data=Path(path).read_bytes(), mime_type=mime_type_for(Path(path).name))



class VertexImageModel(ConfigurableResource):
    """Reference images (Imagen or Gemini) and keyframes (Gemini image) on Vertex AI (`ImageModel`)."""

    settings: VertexSettings
    reference_model: str = Field(
        default=DEFAULT_REFERENCE_MODEL,
        description="Model for reference images: an 'imagen-*' id uses generate_images, any other a Gemini image model.",
    )
    keyframe_model: str = Field(
        default=DEFAULT_KEYFRAME_MODEL,
        description="Gemini image model for keyframes (takes reference images and the previous frame).",
    )
    negative_prompt: str | None = Field(default=DEFAULT_NEGATIVE_PROMPT, description="Imagen negative prompt.")
    person_generation: str | None = Field(default="allow_adult", description="Imagen person generation policy.")

    def reference_image(
        self, *, prompt: str, subject: Character | Location, storyboard: Storyboard, out: Path, size: tuple[int, int]
    ) -> ModelCall:
        model = self.reference_model
        recorder = CallRecorder(model)
        what = f"draw the reference image of {subject.id!r}"
        with self.settings.client(model) as client:
            if model.startswith("imagen"):
                data = self._imagen(client, recorder, model=model, what=what, prompt=prompt, size=size)
            else:
                data = self._gemini_image(client, recorder, model=model, what=what, prompt=prompt, images=[], size=size)
        _write_png(data, size, out, model=model)
        recorder.count("images")
        return recorder.model_call()

    def keyframe(
        self,
        *,
        prompt: str,
        storyboard: Storyboard,
        scene: Scene,
        references: list[Path],
        previous_frame: Path | None,
        out: Path,
        size: tuple[int, int],
    ) -> ModelCall:
        from google.genai import types

        model = self.keyframe_model
        if model.startswith("imagen"):
            raise VertexError(
                f"keyframe_model {model!r} is an Imagen model, which cannot take reference images and the "
                "previous frame in one request; use a Gemini image model such as "
                f"{DEFAULT_KEYFRAME_MODEL!r}",
                model=model,
            )
        recorder = CallRecorder(model)
        images: list[types.Part] = []
        for index, reference in enumerate(references, start=1):
            images += [
                types.Part.from_text(text=f"Reference image {index}: {Path(reference).stem}"),
                image_part(reference),
            ]
        if previous_frame is not None:
            images += [types.Part.from_text(text="Previous frame (continue from it):"), image_part(previous_frame)]
        with self.settings.client(model) as client:
            data = self._gemini_image(
                client,
                recorder,
                model=model,
                what=f"draw a keyframe of scene {scene.number}",
                prompt=prompt,
                images=images,
                size=size,
            )
        _write_png(data, size, out, model=model)
        recorder.count("images")
        recorder.count("input_images", len(references) + (1 if previous_frame is not None else 0))
        return recorder.model_call()

    def _imagen(
        self, client: genai.Client, recorder: CallRecorder, *, model: str, what: str, prompt: str, size: tuple[int, int]
    ) -> bytes:
        from google.genai import types

        config = types.GenerateImagesConfig(
            number_of_images=1,
            aspect_ratio=nearest_aspect_ratio(size),
            negative_prompt=self.negative_prompt or None,
            person_generation=self.person_generation or None,
            include_rai_reason=True,
            output_mime_type="image/png",
        )

        def attempt(text: str) -> bytes:
            response = self.settings.call(
                model=model,
                what=what,
                recorder=recorder,
                fn=lambda: client.models.generate_images(model=model, prompt=text, config=config),
            )
            return imagen_image(response, model=model, what=what)

        return self.settings.with_safety_retry(
            model=model, what=what, prompt=prompt, recorder=recorder, attempt=attempt
        )

    def _gemini_image(
        self,
        client: genai.Client,
        recorder: CallRecorder,
        *,
        model: str,
        what: str,
        prompt: str,
        images: list[types.Part],
        size: tuple[int, int],
    ) -> bytes:
        from google.genai import types

        config = types.GenerateContentConfig(
            response_modalities=["TEXT", "IMAGE"],
            image_config=types.ImageConfig(aspect_ratio=nearest_aspect_ratio(size)),
            candidate_count=1,
            automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
        )

        def attempt(text: str) -> bytes:
            contents = [types.Content(role="user", parts=[types.Part.from_text(text=text), *images])]
            response = self.settings.generate_content(
                client, model=model, what=what, recorder=recorder, contents=contents, config=config
            )
            return gemini_image(response, model=model, what=what)

        return self.settings.with_safety_retry(
            model=model, what=what, prompt=prompt, recorder=recorder, attempt=attempt
        )


def _write_png(data: bytes, size: tuple[int, int], out: Path, *, model: str) -> None:
    try:
        png = fit_png(data, size)
    except ValueError as exc:
        raise VertexResponseError(f"{model}: {exc}", model=model) from None
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(png)

