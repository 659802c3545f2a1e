"""Noto Color Emoji as a captioned image set: the catalogue, the renders, the captions and the held-out names.

Real, designer-made images with real captions: every fully-qualified emoji of Unicode's ``emoji-test.txt``
(its group, subgroup and CLDR name) that the installed Noto Color Emoji font draws as one glyph, rendered
with Pillow from the font's colour bitmaps onto white. Captions are the names in a few templates
("red apple", "a red apple", "an emoji of a red apple", ...). The split is by emoji, not by caption:
:func:`is_heldout` picks a fixed share of names by a hash of their base name (skin-tone variants go
with their base emoji), and those never enter training.

The renders are Noto Color Emoji's (SIL Open Font License 1.1, Google); Debian ships the font in
``fonts-noto-color-emoji`` and the names in ``unicode-data``.
"""
from __future__ import annotations

import hashlib
import os
import random
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from ..errors import UserError
from ..utils.text import comma_items

FONT_PATHS = ("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf",)
EMOJI_TEST_PATHS = ("/usr/share/unicode/emoji/emoji-test.txt",)
FONT_ENV, EMOJI_TEST_ENV = "STYLEGAN_T_EMOJI_FONT", "STYLEGAN_T_EMOJI_TEST"
FONT_SIZE = 109  # the one bitmap strike of Noto Color Emoji (136 x 128 pixels per glyph)
CANVAS = 136
#: the groups an image can belong to; "Component" (bare skin tones and hair styles) is left out
GROUPS = ("Smileys & Emotion", "People & Body", "Animals & Nature", "Food & Drink", "Travel & Places",
          "Activities", "Objects", "Symbols", "Flags")
#: caption templates; {a} is "a" / "an", {name} the emoji's name with ":" written as ","
TEMPLATES = ("{name}", "{a} {name}", "an emoji of {a} {name}", "{name} emoji")
PROMPT_TEMPLATE = "{a} {name}"  # the wording of the evaluation prompts
HELDOUT_SALT, HELDOUT_BUCKETS = "stylegan-t-emoji-heldout", 20  # one base name in 20 is held out


@dataclass(frozen=True)
class Emoji:
    """One emoji of the catalogue: its code points, CLDR name, group and subgroup."""

    text: str
    name: str
    group: str
    subgroup: str

    @property
    def base(self) -> str:
        """The name without skin-tone qualifiers: what the held-out split is decided on."""
        return base_name(self.name)

    @property
    def codepoints(self) -> str:
        return "_".join(f"{ord(c):04x}" for c in self.text)


def base_name(name: str) -> str:
    """"woman: light skin tone, red hair" -> "woman: red hair"; names without a skin tone are their own base."""
    head, _, tail = name.partition(":")
    rest = [part for part in comma_items(tail) if "skin tone" not in part]
    return f"{head}: {', '.join(rest)}" if rest else head


def has_skin_tone(name: str) -> bool:
    return "skin tone" in name


def is_heldout(name: str) -> bool:
    """Whether an emoji name belongs to the fixed held-out set (never trained on): a hash of its base name."""
    digest = hashlib.sha256(f"{HELDOUT_SALT}:{base_name(name)}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % HELDOUT_BUCKETS == 0


def _find(paths: tuple[str, ...], env: str) -> Path | None:
    for candidate in ([os.environ[env]] if os.environ.get(env) else []) + list(paths):
        if Path(candidate).is_file():
            return Path(candidate)
    return None


def font_path() -> Path:
    path = _find(FONT_PATHS, FONT_ENV)
    if path is None:
        raise UserError(f"Noto Color Emoji font not found (looked in {', '.join(FONT_PATHS)}; or set {FONT_ENV}): "
                        "apt-get install fonts-noto-color-emoji")
    return path


def emoji_test_path() -> Path:
    path = _find(EMOJI_TEST_PATHS, EMOJI_TEST_ENV)
    if path is None:
        raise UserError(f"Unicode emoji-test.txt not found (looked in {', '.join(EMOJI_TEST_PATHS)}; or set "
                        f"{EMOJI_TEST_ENV}): apt-get install unicode-data")
    return path


def parse_emoji_test(text: str) -> list[Emoji]:
    """The fully-qualified emoji of an ``emoji-test.txt``, in file order, without the Component group."""
    out, group, subgroup = [], "", ""
    for line in text.splitlines():
        if line.startswith("# group:"):
            group = line.split(":", 1)[1].strip()
        elif line.startswith("# subgroup:"):
            subgroup = line.split(":", 1)[1].strip()
        elif line and not line.startswith("#") and "; fully-qualified" in line and group in GROUPS:
            codes, _, comment = line.partition("#")
            text = "".join(chr(int(c, 16)) for c in codes.split(";")[0].split())
            # comment: " 😀 E1.0 grinning face"
            name = comment.strip().split(" ", 2)[2].strip()
            out.append(Emoji(text, name, group, subgroup))
    return out


@lru_cache(maxsize=2)
def _font(path: str) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, FONT_SIZE)


def render(emoji: Emoji | str, resolution: int = 64, *, font: str | os.PathLike | None = None) -> Image.Image:
    """The emoji's colour bitmap on white, centred on a square canvas, Lanczos-resized to ``resolution``."""
    text = emoji.text if isinstance(emoji, Emoji) else emoji
    face = _font(str(font or font_path()))
    layer = Image.new("RGBA", (CANVAS, CANVAS), (255, 255, 255, 0))
    ImageDraw.Draw(layer).text((CANVAS // 2, CANVAS // 2), text, font=face, embedded_color=True, anchor="mm")
    image = Image.alpha_composite(Image.new("RGBA", layer.size, (255, 255, 255, 255)), layer).convert("RGB")
    return image if resolution == CANVAS else image.resize((resolution, resolution), Image.Resampling.LANCZOS)


def is_single_glyph(emoji: Emoji, *, font: str | os.PathLike | None = None) -> bool:
    """Whether the font draws the sequence as one glyph (a sequence it lacks falls apart into several)."""
    face = _font(str(font or font_path()))
    return face.getlength(emoji.text) <= CANVAS


def catalogue(*, font: str | os.PathLike | None = None, emoji_test: str | os.PathLike | None = None) -> list[Emoji]:
    """Every emoji of ``emoji-test.txt`` that the installed font draws as one glyph."""
    font = font or font_path()
    emojis = parse_emoji_test(Path(emoji_test or emoji_test_path()).read_text(encoding="utf-8"))
    return [e for e in emojis if is_single_glyph(e, font=font)]


def spoken(name: str) -> str:
    """A name as caption text: "flag: France" -> "flag, France"; lower-case except for proper names' case."""
    return name.replace(": ", ", ").replace(":", ",")


def article(words: str) -> str:
    return "an" if words[:1].lower() in "aeiou" else "a"


def captions(emoji: Emoji | str) -> list[str]:
    """The emoji's name in every template of :data:`TEMPLATES`."""
    name = spoken(emoji.name if isinstance(emoji, Emoji) else emoji)
    return [t.format(a=article(name), name=name) for t in TEMPLATES]


def prompt(emoji: Emoji | str) -> str:
    """The evaluation prompt of an emoji: "a red apple"."""
    name = spoken(emoji.name if isinstance(emoji, Emoji) else emoji)
    return PROMPT_TEMPLATE.format(a=article(name), name=name)


def split(emojis: list[Emoji]) -> tuple[list[Emoji], list[Emoji]]:
    """(training, held-out) by :func:`is_heldout`, each in catalogue order."""
    return [e for e in emojis if not is_heldout(e.name)], [e for e in emojis if is_heldout(e.name)]


def sample_rows(emojis: list[Emoji], *, seed: int = 0) -> list[tuple[Emoji, str]]:
    """(emoji, caption) pairs in a fixed shuffled order (shards mix well): every template of an emoji, but one
    template (drawn at random) of a skin-tone variant, so that people with five tones each do not outweigh
    every other group (they are 59% of the catalogue)."""
    rng = random.Random(seed)
    rows = [(e, c) for e in emojis for c in ([rng.choice(captions(e))] if has_skin_tone(e.name) else captions(e))]
    rng.shuffle(rows)
    return rows
