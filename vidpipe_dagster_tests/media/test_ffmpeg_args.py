"""The ffmpeg commands built with ffmpeg-python: plain lists, the right options, paths that cannot
be misread, no path or user text inside a filtergraph."""

from __future__ import annotations

from pathlib import Path

import pytest

from vidpipe_dagster.domain import MediaFacts
from vidpipe_dagster.media.conform import StitchFormat, conform_args
from vidpipe_dagster.media.ffmpeg import (
    MediaError,
    concat_list_text,
    ffmpeg_executable,
    mux_audio_args,
    render_clip_args,
    run_ffmpeg,
    stitch_args,
)


VEO_1080P_SILENT = MediaFacts(
    duration_s=6.0, frame_count=144, width=1920, height=1080, fps=24.0, video_codec="h264", pixel_format="yuv420p", has_audio=False
)


def values_after(args: list[str], flag: str) -> list[str]:
    return [args[index + 1] for index, arg in enumerate(args) if arg == flag]


def built_args(tmp_path: Path) -> dict[str, list[str]]:
    return {
        "render": render_clip_args(
            tmp_path / "start.png", tmp_path / "end.png", tmp_path / "clip.mp4",
            duration_s=2, size=(320, 180),
        ),  # fmt: skip
        "stitch": stitch_args(tmp_path / "list.txt", tmp_path / "cut.mp4"),
        "mux": mux_audio_args(tmp_path / "cut.mp4", tmp_path / "track.wav", tmp_path / "final.mp4"),
        "conform": conform_args(tmp_path / "veo.mp4", tmp_path / "clip.mp4", VEO_1080P_SILENT, StitchFormat((320, 180), 24, audio=True), 4),
    }


@pytest.mark.parametrize("name", ["render", "stitch", "mux", "conform"])
def test_builders_return_argument_lists_that_never_overwrite(tmp_path: Path, name: str) -> None:
    args = built_args(tmp_path)[name]
    assert isinstance(args, list) and all(isinstance(arg, str) for arg in args)
    # The bundled (or system) binary, then quiet global options; no shell anywhere.
    assert args[:6] == [ffmpeg_executable(), "-hide_banner", "-nostdin", "-loglevel", "error", "-n"]
    assert "-y" not in args
    assert values_after(args, "-movflags") == ["+faststart"]
    assert Path(args[-1]).is_absolute() and Path(args[-1]).parent == tmp_path


def test_relative_paths_become_absolute_so_a_dash_is_no_option(monkeypatch, tmp_path) -> None:
    monkeypatch.chdir(tmp_path)
    args = mux_audio_args(Path("-video.mp4"), Path("a:b.wav"), Path("-out.mp4"))
    assert values_after(args, "-i") == [str(tmp_path / "-video.mp4"), str(tmp_path / "a:b.wav")]
    assert args[-1] == str(tmp_path / "-out.mp4")


def test_render_args_make_exactly_the_frames_asked_for_in_h264(tmp_path: Path) -> None:
    args = render_clip_args(
        tmp_path / "start.png", tmp_path / "end.png", tmp_path / "clip.mp4",
        duration_s=6, fps=24, size=(640, 360),
    )  # fmt: skip
    assert values_after(args, "-frames:v") == ["144"]
    assert values_after(args, "-r") == ["24"]
    assert values_after(args, "-c:v") == ["libx264"]
    assert values_after(args, "-pix_fmt") == ["yuv420p"]
    assert "-an" in args
    assert values_after(args, "-i") == [str(tmp_path / "start.png"), str(tmp_path / "end.png")]
    (graph,) = values_after(args, "-filter_complex")
    assert str(tmp_path) not in graph
    assert "scale=640:360" in graph
    assert "fade=alpha=1:n=143:s=0:t=in" in graph
    assert "crop=640:360:0:0" in graph


@pytest.mark.parametrize("size", [(321, 180), (320, 181)])
def test_render_args_refuse_odd_sizes(tmp_path: Path, size: tuple[int, int]) -> None:
    with pytest.raises(ValueError, match="even"):
        render_clip_args(
            tmp_path / "a.png", tmp_path / "b.png", tmp_path / "c.mp4", duration_s=4, size=size
        )


def test_concat_list_quotes_spaces_and_single_quotes(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    text = concat_list_text([Path("/clips/it's scene 1.mp4"), Path("scene 2.mp4")])
    assert text == f"file '/clips/it'\\''s scene 1.mp4'\nfile '{tmp_path}/scene 2.mp4'\n"


def test_concat_list_refuses_a_path_with_a_line_break() -> None:
    with pytest.raises(ValueError, match="line break"):
        concat_list_text([Path("/clips/one\nfile '/etc/passwd'.mp4")])


def test_stitch_args_copy_the_streams_from_a_concat_list(tmp_path: Path) -> None:
    args = stitch_args(tmp_path / "list.txt", tmp_path / "cut.mp4")
    assert values_after(args, "-f") == ["concat"]
    assert values_after(args, "-safe") == ["0"]
    assert values_after(args, "-i") == [str(tmp_path / "list.txt")]
    assert values_after(args, "-c") == ["copy"]


def test_mux_args_map_picture_and_sound_and_stop_with_the_shorter(tmp_path: Path) -> None:
    args = mux_audio_args(tmp_path / "cut.mp4", tmp_path / "track.wav", tmp_path / "final.mp4")
    assert values_after(args, "-i") == [str(tmp_path / "cut.mp4"), str(tmp_path / "track.wav")]
    assert values_after(args, "-map") == ["0:v:0", "1:a:0"]
    assert values_after(args, "-c:v") == ["copy"]
    assert values_after(args, "-c:a") == ["aac"]
    assert "-shortest" in args


def test_conform_args_fill_the_frame_at_the_project_rate_and_add_silence(tmp_path: Path) -> None:
    target = StitchFormat((1280, 720), 24, audio=True)
    args = conform_args(tmp_path / "veo.mp4", tmp_path / "clip.mp4", VEO_1080P_SILENT, target, 6)
    assert values_after(args, "-i")[0] == str(tmp_path / "veo.mp4")
    (graph,) = values_after(args, "-filter_complex")
    assert str(tmp_path) not in graph
    assert "scale=1280:720:force_original_aspect_ratio=increase" in graph
    assert "crop=1280:720" in graph and "fps=24" in graph
    assert values_after(args, "-t") == ["6"]
    assert values_after(args, "-c:v") == ["libx264"]
    assert values_after(args, "-pix_fmt") == ["yuv420p"]
    assert values_after(args, "-c:a") == ["aac"] and "-shortest" in args


def test_a_mix_keeps_the_models_sound_under_the_track_without_paths_in_the_graph(tmp_path: Path) -> None:
    args = mux_audio_args(tmp_path / "cut.mp4", tmp_path / "track.wav", tmp_path / "final.mp4", keep_video_audio=True)
    (graph,) = values_after(args, "-filter_complex")
    assert "amix" in graph and str(tmp_path) not in graph
    assert values_after(args, "-c:v") == ["copy"]


def test_run_ffmpeg_refuses_a_command_string() -> None:
    with pytest.raises(TypeError, match="list"):
        run_ffmpeg("-i in.mp4 out.mp4", "converting")  # type: ignore[arg-type]


def test_run_ffmpeg_failure_names_the_purpose_and_quotes_ffmpeg(tmp_path: Path) -> None:
    missing = tmp_path / "no such clip.mp4"
    with pytest.raises(MediaError) as caught:
        run_ffmpeg(["-i", str(missing), "-f", "null", "-"], "checking the upload")
    assert "checking the upload" in str(caught.value)
    assert "no such clip.mp4" in str(caught.value)
