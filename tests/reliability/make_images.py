"""Writes the stored image corpus (`data/images/`, with `images.tsv`: name, expected outcome, note) and, at
run time, the large images that are not stored (`large_images`). Run as a script to regenerate the corpus:

    python tests/reliability/make_images.py
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

from PIL import Image, ImageDraw

DATA = Path(__file__).parent / "data" / "images"


def scene(size: tuple[int, int] = (256, 256)) -> Image.Image:
    """A red disc left of a blue box on white."""
    im = Image.new("RGB", size, (250, 250, 250))
    d = ImageDraw.Draw(im)
    w, h = size
    d.ellipse((w * 0.15, h * 0.35, w * 0.45, h * 0.65), fill=(220, 30, 30))
    d.rectangle((w * 0.6, h * 0.35, w * 0.85, h * 0.7), fill=(30, 60, 220))
    return im


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def flat_png(path: Path, w: int, h: int, *, header_only: bool = False) -> Path:
    """A w×h RGB PNG of one colour, streamed (a 10000×10000 one costs ~300 KB and no 300 MB buffer);
    `header_only`: a valid header over a tiny body (what a decompression bomb's header looks like)."""
    ihdr = _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
    if header_only:
        body = zlib.compress(b"\0" * 64)
    else:
        c = zlib.compressobj(9)
        row = b"\x00" + b"\xf0" * (w * 3)
        body = b"".join(c.compress(row) for _ in range(h)) + c.flush()
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + ihdr + _chunk(b"IDAT", body) + _chunk(b"IEND", b""))
    return path


def large_images(directory: Path) -> dict[str, tuple[Path, str, str]]:
    """The large cases, written to `directory`: name -> (path, expected outcome, note)."""
    directory.mkdir(parents=True, exist_ok=True)
    big_jpg = directory / "big_6000.jpg"
    if not big_jpg.exists():
        scene((6000, 6000)).save(big_jpg, quality=85)
    return {
        "huge_10000.png": (flat_png(directory / "huge_10000.png", 10000, 10000), "error", "10000x10000 (100 MP): refused"),
        "bomb_20000.png": (flat_png(directory / "bomb_20000.png", 20000, 20000, header_only=True), "error",
                           "20000x20000 header over a tiny body: refused"),
        "big_6000.png": (flat_png(directory / "big_6000.png", 6000, 6000), "ok", "6000x6000 (36 MP): downscaled"),
        "big_6000.jpg": (big_jpg, "ok", "6000x6000 JPEG: downscaled while decoding"),
    }


def main() -> None:
    DATA.mkdir(parents=True, exist_ok=True)
    rows: list[tuple[str, str, str]] = []

    def add(name: str, expect: str, note: str) -> None:
        rows.append((name, expect, note))

    (DATA / "zero.png").write_bytes(b"")
    add("zero.png", "error", "zero bytes")
    (DATA / "text.png").write_text("this is not an image\n")
    add("text.png", "error", "a text file named .png")
    (DATA / "html.jpg").write_text("<html><body>404</body></html>")
    add("html.jpg", "error", "an HTML error page saved as .jpg")
    buf = io.BytesIO()
    scene().save(buf, "PNG")
    png = buf.getvalue()
    (DATA / "truncated.png").write_bytes(png[: len(png) // 2])
    add("truncated.png", "error", "PNG cut in half")
    bad = bytearray(png)
    bad[len(bad) // 2: len(bad) // 2 + 64] = b"\xff" * 64
    (DATA / "corrupt_crc.png").write_bytes(bytes(bad))
    add("corrupt_crc.png", "error", "PNG with 64 bytes overwritten (CRC fails)")
    (DATA / "header_only.png").write_bytes(png[:33])
    add("header_only.png", "error", "PNG signature and IHDR only")
    buf = io.BytesIO()
    scene().save(buf, "JPEG", quality=90)
    jpg = buf.getvalue()
    (DATA / "truncated.jpg").write_bytes(jpg[: len(jpg) // 2])
    add("truncated.jpg", "error", "JPEG cut in half")
    (DATA / "garbage_after_soi.jpg").write_bytes(jpg[:2] + bytes(range(256)) * 8)
    add("garbage_after_soi.jpg", "error", "JPEG start marker then junk")
    Image.new("RGB", (1, 1), (255, 0, 0)).save(DATA / "one.png")
    add("one.png", "error", "1x1 pixel")
    Image.new("RGB", (7, 7), (255, 0, 0)).save(DATA / "seven.png")
    add("seven.png", "error", "7x7: under the 8-pixel floor")
    scene((8, 8)).save(DATA / "eight.png")
    add("eight.png", "either", "8x8: the smallest accepted (the sandbox checker may refuse to judge so small a picture: one line)")
    scene((8, 2000)).save(DATA / "sliver.png")
    add("sliver.png", "either", "8x2000 sliver (the sandbox checker may refuse to judge so small a picture: one line)")
    scene((3000, 40)).save(DATA / "strip.png")
    add("strip.png", "either", "3000x40 strip (downscaled) (the sandbox checker may refuse to judge so small a picture: one line)")
    rgba = scene().convert("RGBA")
    rgba.paste((0, 0, 0, 0), (0, 0, 60, 256))
    rgba.save(DATA / "alpha.png")
    add("alpha.png", "ok", "RGBA with a fully transparent band")
    Image.new("RGBA", (128, 128), (0, 0, 0, 0)).save(DATA / "transparent.png")
    add("transparent.png", "ok", "fully transparent")
    scene().convert("LA").save(DATA / "la.png")
    add("la.png", "ok", "grey + alpha")
    scene().convert("P", palette=Image.Palette.ADAPTIVE, colors=16).save(DATA / "palette.png")
    add("palette.png", "ok", "palette (P) mode")
    scene().convert("P", palette=Image.Palette.ADAPTIVE, colors=16).save(DATA / "palette_alpha.png", transparency=0)
    add("palette_alpha.png", "ok", "palette with a transparent index")
    scene().convert("1").save(DATA / "bilevel.png")
    add("bilevel.png", "ok", "1-bit")
    scene().convert("L").save(DATA / "grey.png")
    add("grey.png", "ok", "8-bit grey")
    scene().convert("I;16").save(DATA / "grey16.png")
    add("grey16.png", "ok", "16-bit grey")
    scene().convert("CMYK").save(DATA / "cmyk.jpg")
    add("cmyk.jpg", "ok", "CMYK JPEG")
    scene().save(DATA / "progressive.jpg", progressive=True)
    add("progressive.jpg", "ok", "progressive JPEG")
    scene().save(DATA / "anim.gif", save_all=True, append_images=[scene().rotate(90)])
    add("anim.gif", "ok", "animated GIF (first frame)")
    scene().save(DATA / "image.bmp")
    add("image.bmp", "ok", "BMP")
    scene().save(DATA / "image.tiff")
    add("image.tiff", "ok", "TIFF")
    scene().save(DATA / "image.webp")
    add("image.webp", "ok", "WebP")
    scene().save(DATA / "wrong_ext.jpg", "PNG")
    add("wrong_ext.jpg", "ok", "a PNG named .jpg")
    rotated = scene()
    exif = rotated.getexif()
    exif[0x0112] = 6
    rotated.save(DATA / "exif_rotated.jpg", exif=exif)
    add("exif_rotated.jpg", "ok", "JPEG with an EXIF rotation")
    with open(DATA / "images.tsv", "w", encoding="utf-8") as f:
        f.write("# name\texpect\tnote (large cases are written at run time: make_images.large_images)\n")
        f.writelines("\t".join(r) + "\n" for r in rows)


if __name__ == "__main__":
    main()
