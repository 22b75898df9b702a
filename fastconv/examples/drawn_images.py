"""A folder of drawn pictures for trying image_dataset_from_directory and train-images without
downloading anything: two classes, "horizontal" and "vertical": a disc of stripes in one
direction or the other (give or take 30 degrees), of random size, place, stripe width,
colours and background, with noise, saved as JPEG, PNG, BMP or GIF.

    fastconv draw-images DIR [--count N] [--size S]

writes DIR/train/{horizontal,vertical}/ and DIR/validation/{horizontal,vertical}/.
"""
import os

import numpy as np

CLASSES = ("horizontal", "vertical")


def draw(rng, shape, size):
    """One RGB picture (size x size, uint8): a disc of stripes running across ("horizontal")
    or up and down ("vertical")."""
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    background = rng.integers(0, 256, 3)
    colours = rng.integers(0, 256, (2, 3))
    while np.abs(colours[0].astype(int) - colours[1]).sum() < 200:      # stripes that show
        colours = rng.integers(0, 256, (2, 3))
    radius = rng.uniform(0.25, 0.45) * size
    cy, cx = rng.uniform(radius * 0.6, size - radius * 0.6, 2)
    angle = rng.uniform(-np.pi / 6, np.pi / 6) + (np.pi / 2 if shape == "vertical" else 0)
    period = rng.uniform(0.08, 0.16) * size
    across = -(xx - cx) * np.sin(angle) + (yy - cy) * np.cos(angle)
    stripe = (np.floor(across / (period / 2)) % 2).astype(int)
    inside = (yy - cy) ** 2 + (xx - cx) ** 2 <= radius ** 2
    picture = np.where(inside[:, :, None], colours[stripe], background).astype(float)
    picture += rng.normal(0, 12, picture.shape)
    return np.clip(picture, 0, 255).astype(np.uint8)


def write_folder(directory, count=100, size=64, seed=0, formats=("png",), split=None):
    """Write ``count`` pictures per class into directory/<class>/ (or, with split = a dict
    like {"train": 100, "validation": 50}, into directory/<part>/<class>/), cycling through
    ``formats`` (png, jpg, bmp, gif). Returns the folder. Needs Pillow."""
    from PIL import Image
    rng = np.random.default_rng(seed)
    parts = split.items() if split else [("", count)]
    for part, n in parts:
        for shape in CLASSES:
            folder = os.path.join(directory, part, shape)
            os.makedirs(folder, exist_ok=True)
            for i in range(n):
                ext = formats[i % len(formats)]
                path = os.path.join(folder, f"{shape}_{i:04d}.{ext}")
                image = Image.fromarray(draw(rng, shape, size))
                if ext == "gif":
                    image = image.convert("P", palette=Image.Palette.ADAPTIVE)
                image.save(path, quality=92) if ext in ("jpg", "jpeg") else image.save(path)
    return directory
