"""The local backend's Pillow art, and the SSIM used to compare pictures."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vidpipe_dagster.media.draw import (
    SHEET_GAP,
    SHEET_LABEL_HEIGHT,
    contact_sheet,
    draw_keyframe,
    draw_reference,
)
from vidpipe_dagster.media.frames import ssim

SIZE = (320, 180)
CAPTION = "3. close-up, lantern light"


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"), dtype=np.int16)


def reference(directory: Path, title: str, seed: int = 1) -> Path:
    out = directory / f"{title}-{seed}.png"
    description = "weathered face, yellow raincoat"
    return draw_reference(title, description, seed=seed, size=(256, 256), out=out)


def keyframe(
    directory: Path, name: str, *, layout_seed: int, references: list[Path], size=SIZE
) -> Path:
    return draw_keyframe(
        caption=CAPTION,
        palette_seed=11,
        layout_seed=layout_seed,
        references=references,
        size=size,
        out=directory / f"{name}.png",
    )


def test_drawings_are_the_same_every_time(tmp_path: Path) -> None:
    first, second = tmp_path / "one", tmp_path / "two"
    first.mkdir()
    second.mkdir()
    for directory in (first, second):
        keyframe(directory, "key", layout_seed=5, references=[reference(directory, "Mara")])
    assert np.array_equal(pixels(first / "Mara-1.png"), pixels(second / "Mara-1.png"))
    assert np.array_equal(pixels(first / "key.png"), pixels(second / "key.png"))


def test_drawings_do_not_depend_on_the_process_hash_seed(tmp_path: Path) -> None:
    program = (
        "import hashlib, sys; from pathlib import Path\n"
        "from vidpipe_dagster.media.draw import draw_reference\n"
        "out = draw_reference('Mara', 'keeper', seed=3, size=(64, 64), out=Path(sys.argv[1]))\n"
        "print(hashlib.sha256(out.read_bytes()).hexdigest())\n"
    )
    project = Path(__file__).parents[2]
    digests = set()
    for hash_seed in ("1", "2"):
        environment = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": str(project)}
        result = subprocess.run(
            [sys.executable, "-c", program, str(tmp_path / f"ref-{hash_seed}.png")],
            capture_output=True, text=True, check=True, env=environment, cwd=project,
        )  # fmt: skip
        digests.add(result.stdout.strip())
    assert len(digests) == 1


@pytest.mark.parametrize("size", [SIZE, (1280, 720)], ids=["small", "720p"])
@pytest.mark.parametrize("seeds", [(0, 1), (1, 2), (7, 1234)])
def test_different_layouts_give_visibly_different_frames(tmp_path: Path, seeds, size) -> None:
    a = keyframe(tmp_path, "a", layout_seed=seeds[0], references=[], size=size)
    b = keyframe(tmp_path, "b", layout_seed=seeds[1], references=[], size=size)
    assert ssim(Image.open(a), Image.open(b)) < 0.8


def test_references_show_in_the_keyframe(tmp_path: Path) -> None:
    mara, tower = reference(tmp_path, "Mara"), reference(tmp_path, "The old lighthouse")
    plain = pixels(keyframe(tmp_path, "plain", layout_seed=3, references=[]))
    with_mara = pixels(keyframe(tmp_path, "mara", layout_seed=3, references=[mara]))
    with_tower = pixels(keyframe(tmp_path, "tower", layout_seed=3, references=[tower]))
    changed = np.abs(with_mara - plain).max(axis=2) > 30
    assert changed.mean() > 0.03
    assert (np.abs(with_tower - with_mara).max(axis=2) > 30).mean() > 0.01


def test_reference_cards_differ_by_title_and_by_seed(tmp_path: Path) -> None:
    mara = Image.open(reference(tmp_path, "Mara"))
    assert ssim(mara, Image.open(reference(tmp_path, "Jonah"))) < 0.9
    assert ssim(mara, Image.open(reference(tmp_path, "Mara", seed=2))) < 0.9


@pytest.mark.parametrize(
    "caption",
    ["", "line one\nline two\ttabbed", "🌊 Ünïcödé 灯台 " * 20, "x" * 5000],
    ids=["empty", "control", "unicode", "one-long-word"],
)
def test_any_caption_still_gives_a_frame_of_the_asked_size(tmp_path: Path, caption: str) -> None:
    out = tmp_path / "k.png"
    draw_keyframe(
        caption=caption, palette_seed=1, layout_seed=2, references=[], size=(360, 640), out=out
    )
    with Image.open(out) as image:
        assert (image.size, image.mode) == ((360, 640), "RGB")


def test_drawing_never_replaces_an_existing_file(tmp_path: Path) -> None:
    out = tmp_path / "key.png"
    out.write_bytes(b"attempt 1")
    with pytest.raises(FileExistsError):
        keyframe(tmp_path, "key", layout_seed=1, references=[])
    assert out.read_bytes() == b"attempt 1"


def test_contact_sheet_lays_out_labelled_thumbnails(tmp_path: Path) -> None:
    frames = [
        (f"scene {index:03d}", keyframe(tmp_path, f"k{index}", layout_seed=index, references=[]))
        for index in range(5)
    ]
    sheet_path = contact_sheet(frames, tmp_path / "sheet.png", thumb_width=160, columns=4)
    with Image.open(sheet_path) as sheet:
        cell_height = 90 + SHEET_LABEL_HEIGHT
        assert sheet.size == (4 * 160 + 5 * SHEET_GAP, 2 * cell_height + 3 * SHEET_GAP)
        for index, (_, path) in enumerate(frames):
            row, column = divmod(index, 4)
            left = SHEET_GAP + column * (160 + SHEET_GAP)
            top = SHEET_GAP + row * (cell_height + SHEET_GAP)
            thumbnail = sheet.crop((left, top, left + 160, top + 90))
            assert ssim(thumbnail, Image.open(path)) > 0.9
            label = np.asarray(sheet.crop((left, top + 90, left + 160, top + cell_height)))
            assert label.std() > 10, f"label of frame {index} is blank"


def test_contact_sheet_with_fewer_frames_than_columns_is_one_row(tmp_path: Path) -> None:
    frames = [("only", keyframe(tmp_path, "k", layout_seed=1, references=[]))]
    with Image.open(contact_sheet(frames, tmp_path / "sheet.png", thumb_width=160)) as sheet:
        assert sheet.size == (160 + 2 * SHEET_GAP, 90 + SHEET_LABEL_HEIGHT + 2 * SHEET_GAP)


def test_ssim_is_one_for_identical_pictures_and_lower_with_noise(tmp_path: Path) -> None:
    image = Image.open(keyframe(tmp_path, "k", layout_seed=1, references=[]))
    assert ssim(image, image.copy()) == pytest.approx(1.0, abs=1e-12)
    noise = np.random.default_rng(0).normal(0, 25, (SIZE[1], SIZE[0], 3))
    noisy_pixels = np.clip(np.asarray(image, dtype=np.float64) + noise, 0, 255)
    noisy = Image.fromarray(noisy_pixels.astype(np.uint8))
    assert 0.2 < ssim(image, noisy) < 0.8
    assert ssim(image, image.resize((640, 360))) > 0.95
