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
    return draw_disc(rng, shape, size)[0]


def draw_disc(rng, shape, size):
    """draw()'s picture, and its disc: (picture, centre row, centre column, radius)."""
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
    return np.clip(picture, 0, 255).astype(np.uint8), cy, cx, radius


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


def draw_with_trimap(rng, size):
    """One picture of draw()'s kind (either class) and its trimap, as the Oxford-IIIT Pet
    data set has them: 1 where the disc is, 2 for the background, 3 on the disc's rim (the
    pixels within 1.5 of its edge, which the pets' annotators left unclassified)."""
    picture, cy, cx, radius = draw_disc(rng, CLASSES[int(rng.integers(0, 2))], size)
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    distance = np.sqrt((yy - cy) ** 2 + (xx - cx) ** 2)
    trimap = np.where(distance <= radius, 1, 2)
    trimap[np.abs(distance - radius) <= 1.5] = 3
    return picture, trimap.astype(np.uint8)


def write_segmentation(directory, count=200, size=128, seed=0):
    """Write ``count`` pictures to directory/images/NNNN.jpg and their trimaps to
    directory/annotations/trimaps/NNNN.png, the Oxford-IIIT Pet data set's layout (its
    stand-in for the Keras book's segmentation program). Returns the folder. Needs Pillow."""
    from PIL import Image
    rng = np.random.default_rng(seed)
    images = os.path.join(directory, "images")
    trimaps = os.path.join(directory, "annotations", "trimaps")
    os.makedirs(images, exist_ok=True)
    os.makedirs(trimaps, exist_ok=True)
    for i in range(count):
        picture, trimap = draw_with_trimap(rng, size)
        Image.fromarray(picture).save(os.path.join(images, f"drawn_{i:05d}.jpg"), quality=92)
        Image.fromarray(trimap).save(os.path.join(trimaps, f"drawn_{i:05d}.png"))
    return directory
