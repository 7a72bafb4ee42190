"""Draws MeetBot's Teams icons: a white video-camera glyph, full colour on the accent colour
(color.png, 192x192) and white on transparent (outline.png, 32x32).

    python -m manifest.make_icons [--preview out/]

Standard library only, deterministic: running it again gives byte-identical files. --preview also
writes an 8x enlargement of the outline icon on a dark background, to look at it.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from manifest import png

HERE = Path(__file__).resolve().parent
COLOR_FILE, OUTLINE_FILE = HERE / "color.png", HERE / "outline.png"
# The manifest's accentColor too (build.py reads it from here), so tile and icon always match.
ACCENT = "#2563EB"
WHITE = (255, 255, 255)
_SUPERSAMPLE = 4  # 4x4 samples per pixel: anti-aliased edges

# The glyph in a unit square (x right, y down): a camera body with rounded corners, a "+" cut
# out of it ("new meeting"), and a lens wedge to its right.
_BODY = (0.0, 0.18, 0.64, 0.82, 0.12)  # x0, y0, x1, y1, corner radius
_PLUS = (0.32, 0.50, 0.17, 0.05)  # centre x, centre y, half arm length, half arm width
_LENS = ((0.70, 0.40), (1.0, 0.20), (1.0, 0.80), (0.70, 0.60))  # convex, clockwise on screen


def _in_body(x: float, y: float) -> bool:
    x0, y0, x1, y1, r = _BODY
    if not (x0 <= x <= x1 and y0 <= y <= y1):
        return False
    dx = max(x0 + r - x, 0.0, x - (x1 - r))
    dy = max(y0 + r - y, 0.0, y - (y1 - r))
    return dx * dx + dy * dy <= r * r


def _in_plus(x: float, y: float) -> bool:
    cx, cy, arm, half = _PLUS
    dx, dy = abs(x - cx), abs(y - cy)
    return (dx <= arm and dy <= half) or (dx <= half and dy <= arm)


def _in_lens(x: float, y: float) -> bool:
    n = len(_LENS)
    for i in range(n):
        (ax, ay), (bx, by) = _LENS[i], _LENS[(i + 1) % n]
        if (bx - ax) * (y - ay) - (by - ay) * (x - ax) < 0:
            return False
    return True


def _coverage(size: int, box: tuple[float, float]) -> list[float]:
    """Fraction of each pixel covered by the glyph drawn in the square box (offset, side)."""
    offset, side = box
    cover = [0.0] * (size * size)
    steps = [(i + 0.5) / _SUPERSAMPLE for i in range(_SUPERSAMPLE)]
    lo, hi = int(offset), min(size, int(offset + side) + 1)  # pixels outside the box stay empty
    for py in range(lo, hi):
        for px in range(lo, hi):
            hits = 0
            for sy in steps:
                v = (py + sy - offset) / side
                for sx in steps:
                    u = (px + sx - offset) / side
                    hits += (_in_body(u, v) and not _in_plus(u, v)) or _in_lens(u, v)
            cover[py * size + px] = hits / _SUPERSAMPLE ** 2
    return cover


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    return tuple(int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]


def color_icon(size: int = 192) -> bytes:
    """Full-bleed accent square (Teams rounds the corners itself) with the glyph in the central
    half, the symbol area Teams' icon guidelines ask for."""
    bg = _rgb(ACCENT)
    out = bytearray()
    for c in _coverage(size, (size / 4, size / 2)):
        out += bytes(round(b + (w - b) * c) for b, w in zip(bg, WHITE)) + b"\xff"
    return png.encode(size, size, bytes(out))


def outline_icon(size: int = 32) -> bytes:
    """Only white pixels whose alpha is the glyph's coverage: white on fully transparent."""
    out = bytearray()
    for c in _coverage(size, (1.0, size - 2.0)):
        out += bytes(WHITE) + bytes((round(255 * c),))
    return png.encode(size, size, bytes(out))


def _preview(outline: bytes, scale: int = 8, backdrop: tuple[int, int, int] = (32, 36, 40)) -> bytes:
    width, height, rgba = png.decode(outline)
    out = bytearray()
    for y in range(height * scale):
        for x in range(width * scale):
            i = ((y // scale) * width + x // scale) * 4
            a = rgba[i + 3] / 255
            out += bytes(round(b + (f - b) * a) for b, f in zip(backdrop, rgba[i:i + 3])) + b"\xff"
    return png.encode(width * scale, height * scale, bytes(out))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m manifest.make_icons", description=__doc__.splitlines()[0])
    parser.add_argument("--preview", type=Path, help="folder for an enlarged preview of the outline icon")
    args = parser.parse_args(argv)
    COLOR_FILE.write_bytes(color_icon())
    outline = outline_icon()
    OUTLINE_FILE.write_bytes(outline)
    print(COLOR_FILE, OUTLINE_FILE, sep="\n")
    if args.preview:
        args.preview.mkdir(parents=True, exist_ok=True)
        target = args.preview / "outline-preview.png"
        target.write_bytes(_preview(outline))
        print(target)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
