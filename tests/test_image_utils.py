"""utils.load_img, img_to_array, array_to_img and save_img: Keras's behaviour (modes, Pillow's
resampling filters, the centred crop of keep_aspect_ratio, array_to_img's scaling), on images
drawn here."""
import io

import numpy as np
import pytest

Image = pytest.importorskip("PIL.Image")

from fastconv import utils  # noqa: E402


@pytest.fixture
def picture(tmp_path, rng):
    pixels = rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)
    path = tmp_path / "p.png"
    Image.fromarray(pixels, "RGB").save(path)
    return path, pixels


def test_load_img_and_img_to_array(picture):
    path, pixels = picture
    img = utils.load_img(path)
    assert img.mode == "RGB" and img.size == (40, 30)
    x = utils.img_to_array(img)
    assert x.dtype == np.float32 and x.shape == (30, 40, 3)
    np.testing.assert_array_equal(x, pixels)
    grey = utils.img_to_array(utils.load_img(path, color_mode="grayscale"))
    assert grey.shape == (30, 40, 1)
    np.testing.assert_array_equal(grey[..., 0], np.asarray(Image.fromarray(pixels).convert("L")))
    assert utils.load_img(str(path), color_mode="rgba").mode == "RGBA"
    with open(path, "rb") as f:
        assert utils.img_to_array(utils.load_img(io.BytesIO(f.read()))).shape == (30, 40, 3)
    assert utils.img_to_array(utils.load_img(path), dtype="uint8").dtype == np.uint8


@pytest.mark.parametrize("interpolation", ["nearest", "bilinear", "bicubic", "hamming", "box",
                                           "lanczos"])
def test_load_img_resizes_with_pillows_filter(picture, interpolation):
    path, pixels = picture
    got = utils.img_to_array(utils.load_img(path, target_size=(12, 18),
                                            interpolation=interpolation))
    resample = getattr(Image.Resampling, interpolation.upper())
    want = np.asarray(Image.fromarray(pixels).resize((18, 12), resample), np.float32)
    np.testing.assert_array_equal(got, want)


def test_keep_aspect_ratio_resizes_the_centred_window(picture):
    path, pixels = picture
    # 30x40 to a square: the centred 30x30 window (columns 5..35)
    got = utils.img_to_array(utils.load_img(path, target_size=(15, 15),
                                            keep_aspect_ratio=True))
    want = np.asarray(Image.fromarray(pixels[:, 5:35]).resize((15, 15), Image.Resampling.NEAREST),
                      np.float32)
    np.testing.assert_array_equal(got, want)


def test_array_to_img_scales_as_keras_and_save_img_round_trips(tmp_path, rng):
    x = rng.standard_normal((6, 5, 3)).astype(np.float32)
    keep = x.copy()
    img = utils.array_to_img(x)
    want = (x - x.min()) / (x - x.min()).max() * 255
    np.testing.assert_array_equal(np.asarray(img), want.astype(np.uint8))
    np.testing.assert_array_equal(x, keep)                     # the caller's array stays
    pixels = rng.integers(0, 256, (6, 5, 1)).astype(np.float32)
    assert utils.array_to_img(pixels, scale=False).mode == "L"
    assert utils.array_to_img(np.full((2, 2, 1), 1000.0), scale=False).mode == "I"
    assert utils.array_to_img(np.zeros((2, 2, 4))).mode == "RGBA"
    utils.save_img(tmp_path / "a.png", pixels, scale=False)
    np.testing.assert_array_equal(utils.img_to_array(utils.load_img(
        tmp_path / "a.png", color_mode="grayscale")), pixels)
    utils.save_img(tmp_path / "b.jpg", np.zeros((4, 4, 4)))     # RGBA as JPEG: RGB
    assert Image.open(tmp_path / "b.jpg").mode == "RGB"


def test_what_is_refused(tmp_path, picture):
    path, _ = picture
    (tmp_path / "bad.png").write_bytes(b"not an image")
    with pytest.raises(ValueError, match="cannot decode image .*bad.png"):
        utils.load_img(tmp_path / "bad.png")
    with pytest.raises(ValueError, match="color_mode"):
        utils.load_img(path, color_mode="cmyk")
    with pytest.raises(ValueError, match="interpolation"):
        utils.load_img(path, target_size=(3, 3), interpolation="area")
    with pytest.raises(ValueError, match="target_size"):
        utils.load_img(path, target_size=(0, 3))
    with pytest.raises(ValueError, match="one image"):
        utils.array_to_img(np.zeros((2, 3, 3, 3)))
    with pytest.raises(ValueError, match="1, 3 or 4 channels"):
        utils.array_to_img(np.zeros((2, 3, 2)))
    with pytest.raises(ValueError, match="NaN"):
        utils.array_to_img(np.full((2, 2, 3), np.nan))
    with pytest.raises(ValueError, match="channels_last"):
        utils.img_to_array(np.zeros((2, 2, 3)), data_format="channels_first")
