#!/usr/bin/python3
"""Writes the tiny image data sets of tests/t_images.sh (with Debian's python3-pil):

  image_folder.py folder OUT_DIR   an ImageFolder tree: train/ val/ test/ with three
                                   classes told apart by colour, as PNG and JPEG files of
                                   several sizes (one class name holds a comma and a space)
  image_folder.py bad OUT_DIR      one good PNG, one good JPEG, a JPEG named .png, and
                                   broken files: corrupt, truncated, empty, a declared
                                   size of 100000 x 100000, a text file

Colours are the classes' with per-pixel noise, so the classes are learnable in seconds
and no two files are identical."""
import os
import random
import struct
import sys
import zlib

from PIL import Image

CLASSES = {"blue sky": (30, 60, 220), "green, leaf": (40, 200, 50), "red": (220, 40, 30)}
COUNTS = {"train": 12, "val": 4, "test": 4}


def noisy_image(rng, colour, width, height):
    image = Image.new("RGB", (width, height))
    image.putdata([tuple(max(0, min(255, c + rng.randint(-40, 40))) for c in colour)
                   for _ in range(width * height)])
    return image


def save(image, path):
    if path.endswith(".png"):
        image.save(path, "PNG")
    else:
        image.save(path, "JPEG", quality=90)


def folder(out):
    rng = random.Random(14)
    for split, count in COUNTS.items():
        for name, colour in CLASSES.items():
            d = os.path.join(out, split, name)
            os.makedirs(d, exist_ok=True)
            for i in range(count):
                size = (rng.randint(14, 40), rng.randint(14, 40))
                ext = ".png" if i % 2 == 0 else ".jpg"
                save(noisy_image(rng, colour, *size), os.path.join(d, f"{i:02d}{ext}"))
    # Not an image name: skipped by the listing, as torchvision does.
    with open(os.path.join(out, "train", "red", "README.txt"), "w") as f:
        f.write("notes\n")


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bad(out):
    rng = random.Random(15)
    os.makedirs(out, exist_ok=True)
    save(noisy_image(rng, CLASSES["red"], 20, 24), os.path.join(out, "good_red.png"))
    save(noisy_image(rng, CLASSES["green, leaf"], 30, 18), os.path.join(out, "good_green.jpg"))
    # JPEG bytes under a .png name: told by its magic bytes and classified.
    save(noisy_image(rng, CLASSES["blue sky"], 22, 22), os.path.join(out, "jpeg_named.jpg"))
    os.rename(os.path.join(out, "jpeg_named.jpg"), os.path.join(out, "jpeg_named.png"))
    whole = open(os.path.join(out, "good_green.jpg"), "rb").read()
    with open(os.path.join(out, "truncated.jpg"), "wb") as f:
        f.write(whole[: len(whole) // 2])
    png = open(os.path.join(out, "good_red.png"), "rb").read()
    with open(os.path.join(out, "truncated.png"), "wb") as f:
        f.write(png[: len(png) - 30])
    with open(os.path.join(out, "corrupt.jpg"), "wb") as f:
        f.write(b"\xff\xd8\xff" + bytes(rng.randrange(256) for _ in range(200)))
    open(os.path.join(out, "empty.png"), "wb").close()
    ihdr = struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0)
    with open(os.path.join(out, "huge.png"), "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr)
                + png_chunk(b"IDAT", zlib.compress(b"\0" * 64)) + png_chunk(b"IEND", b""))
    with open(os.path.join(out, "notes.txt"), "w") as f:
        f.write("this is not an image\n")


if len(sys.argv) != 3 or sys.argv[1] not in ("folder", "bad"):
    sys.exit(__doc__)
{"folder": folder, "bad": bad}[sys.argv[1]](sys.argv[2])
