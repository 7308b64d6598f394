"""The music under each scene, from the phrase analysis of the brief's track."""

from __future__ import annotations

from vidpipe_dagster.domain import MusicCue, Phrase

# How far below the track's loudest phrase a phrase may be and still count as high / medium intensity.
_HIGH_WITHIN_DB = 3.0
_MEDIUM_WITHIN_DB = 9.0
# Onsets (sudden rises in loudness) per second from which a phrase is moderate / fast / very fast.
_TEMPO_ONSETS = ((6.0, "very_fast"), (3.0, "fast"), (1.0, "moderate"))
_MOODS = {"low": "hushed", "medium": "steady", "high": "driving"}


def describe_phrases(starts: list[float], levels_db: list[float], onsets_per_s: list[float]) -> list[Phrase]:
    """Phrases from what the signal says of them: the loudest is high intensity, the others by how
    far below it they are; the tempo by how often the loudness jumps; intro and outro by place."""
    loudest = max(levels_db)
    phrases = []
    for index, (start, level, onsets) in enumerate(zip(starts, levels_db, onsets_per_s, strict=True)):
        below = loudest - level
        intensity = "high" if below <= _HIGH_WITHIN_DB else "medium" if below <= _MEDIUM_WITHIN_DB else "low"
        tempo = next((name for floor, name in _TEMPO_ONSETS if onsets >= floor), "slow")
        if index == 0 and len(starts) > 2:
            section = "intro"
        elif index == len(starts) - 1 and len(starts) > 2:
            section = "outro"
        else:
            section = f"section {index + 1}"
        phrases.append(Phrase(start_s=start, section=section, mood=_MOODS[intensity], intensity=intensity, tempo=tempo))
    return phrases


def music_for_scenes(phrases: list[Phrase], durations: list[int]) -> list[MusicCue]:
    """For each scene, the phrase playing at its middle (the first phrase before any phrase starts)."""
    ordered = sorted(phrases, key=lambda phrase: phrase.start_s)
    cues, start = [], 0.0
    for duration in durations:
        middle = start + duration / 2
        playing = [phrase for phrase in ordered if phrase.start_s <= middle] or ordered[:1]
        phrase = playing[-1]
        cues.append(MusicCue(section=phrase.section, mood=phrase.mood, intensity=phrase.intensity, tempo=phrase.tempo))
        start += duration
    return cues
