"""Minimal PNG codec on the standard library (zlib + struct): enough to write the app icons and
to read back any common PNG for the Teams icon rules, without adding an imaging dependency.

Pixels are RGBA, 8 bits per channel, one `bytes` of width * height * 4, rows top to bottom.
"""
from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator

SIGNATURE = b"\x89PNG\r\n\x1a\n"
_RGBA = 6
# Colour type -> channels per pixel (0 grey, 2 RGB, 3 palette, 4 grey+alpha, 6 RGBA).
_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


class PngError(ValueError):
    pass


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def encode(width: int, height: int, rgba: bytes) -> bytes:
    """RGBA pixels -> PNG bytes. Deterministic (no timestamps), so regenerated icons are identical."""
    stride = width * 4
    if len(rgba) != stride * height:
        raise ValueError(f"expected {stride * height} bytes of RGBA, got {len(rgba)}")
    # Filter type 0 (None) on every row: icons are tiny, and zlib does the compressing.
    raw = b"".join(b"\x00" + rgba[y * stride:(y + 1) * stride] for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, _RGBA, 0, 0, 0)
    return SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(raw, 9)) + _chunk(b"IEND", b"")


def _chunks(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    pos = len(SIGNATURE)
    while pos + 12 <= len(data):
        (length,) = struct.unpack_from(">I", data, pos)
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack_from(">I", data, pos + 8 + length) if pos + 12 + length <= len(data) else (None,)
        if len(body) != length or crc != zlib.crc32(kind + body):
            raise PngError(f"corrupt {kind.decode('latin-1')} chunk")
        yield kind, body
        if kind == b"IEND":
            return
        pos += 12 + length
    raise PngError("truncated (no IEND chunk)")


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else (b if pb <= pc else c)


def _unfilter(raw: bytes, height: int, stride: int, bpp: int) -> bytearray:
    out = bytearray(height * stride)
    prev = bytearray(stride)
    pos = 0
    for y in range(height):
        kind, line = raw[pos], bytearray(raw[pos + 1:pos + 1 + stride])
        pos += 1 + stride
        if len(line) != stride:
            raise PngError("image data is shorter than the header says")
        if kind == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xFF
        elif kind == 2:
            for i in range(stride):
                line[i] = (line[i] + prev[i]) & 0xFF
        elif kind == 3:
            for i in range(stride):
                line[i] = (line[i] + ((line[i - bpp] if i >= bpp else 0) + prev[i]) // 2) & 0xFF
        elif kind == 4:
            for i in range(stride):
                left, upleft = (line[i - bpp], prev[i - bpp]) if i >= bpp else (0, 0)
                line[i] = (line[i] + _paeth(left, prev[i], upleft)) & 0xFF
        elif kind != 0:
            raise PngError(f"unknown row filter {kind}")
        out[y * stride:(y + 1) * stride] = line
        prev = line
    return out


def decode(data: bytes) -> tuple[int, int, bytes]:
    """PNG bytes -> (width, height, RGBA). Non-interlaced 8- and 16-bit images of every colour
    type and 8-bit palette images; anything else raises PngError naming what is unsupported."""
    if not data.startswith(SIGNATURE):
        raise PngError("not a PNG file")
    header = palette = trns = None
    idat = bytearray()
    for kind, body in _chunks(data):
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"PLTE":
            palette = body
        elif kind == b"tRNS":
            trns = body
        elif kind == b"IDAT":
            idat += body
    if header is None:
        raise PngError("no IHDR chunk")
    width, height, depth, colour, _, _, interlace = header
    if colour not in _CHANNELS or interlace or depth not in (8, 16) or (colour == 3 and depth != 8):
        raise PngError(f"unsupported PNG layout (bit depth {depth}, colour type {colour}, "
                       f"interlace {interlace}); save it as 8-bit RGBA, not interlaced")
    step = depth // 8
    bpp = _CHANNELS[colour] * step
    try:
        raw = zlib.decompress(bytes(idat))
    except zlib.error as exc:
        raise PngError(f"image data cannot be decompressed ({exc})") from None
    px = _unfilter(raw, height, width * bpp, bpp)
    if step == 2:  # keep the high byte of each 16-bit sample
        px = px[0::2]
    return width, height, _to_rgba(px, colour, palette, trns, step)


def _to_rgba(px: bytearray, colour: int, palette: bytes | None, trns: bytes | None, step: int) -> bytes:
    if colour == 6:
        return bytes(px)
    if colour == 4:
        out = bytearray(len(px) * 2)
        out[0::4] = out[1::4] = out[2::4] = px[0::2]
        out[3::4] = px[1::2]
        return bytes(out)
    if colour == 3:
        if palette is None:
            raise PngError("palette image without a PLTE chunk")
        alpha = (trns or b"") + b"\xff" * 256
        table = [palette[i * 3:i * 3 + 3] + alpha[i:i + 1] for i in range(len(palette) // 3)]
        try:
            return b"".join(table[i] for i in px)
        except IndexError:
            raise PngError("pixel refers to a colour missing from the palette") from None
    # Grey or RGB, opaque unless tRNS names one transparent colour. tRNS holds 16-bit samples:
    # an 8-bit image's value is the low byte; a 16-bit one is compared by its high byte, as px is.
    channels = 1 if colour == 0 else 3
    key = bytes(trns[(1 if step == 1 else 0)::2][:channels]) if trns else None
    out = bytearray()
    for i in range(0, len(px), channels):
        sample = bytes(px[i:i + channels])
        rgb = sample * 3 if channels == 1 else sample
        out += rgb + (b"\x00" if sample == key else b"\xff")
    return bytes(out)
