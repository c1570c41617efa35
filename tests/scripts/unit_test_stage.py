"""Unit tests of a stage in a plain Python process, as a stage author writes them
(pytest would collect the test_ functions; this file also runs them itself).

    PYTHONPATH=python python3 tests/scripts/unit_test_stage.py
"""

import os
import sys

import cv2
import numpy as np

import savant_gst

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bright_spot_stage import BrightSpot  # noqa: E402


def image_with_spot(x, y):
    bgr = np.full((48, 64, 3), 20, np.uint8)
    bgr[y, x] = (250, 250, 250)
    return bgr


def test_the_spot_becomes_an_object_and_attributes():
    frame = savant_gst.Frame.from_array(image_with_spot(40, 30), "BGR", pts=40_000_000)
    assert (frame.width, frame.height, frame.format, frame.pts) == (64, 48, "BGR", 40_000_000)
    stage = BrightSpot(size=8)
    assert stage.process_frame(frame) is None
    [spot] = frame.objects
    assert (spot.label, spot.x, spot.y, spot.w, spot.h) == ("spot", 36, 26, 8, 8), spot
    assert spot.track_id == 1 and spot.attributes == {"luma": 750}, spot
    assert frame.attributes == {"frames": 1, "spot": "40,30"}, frame.attributes


def test_from_array_frames_are_writable_copies():
    image = image_with_spot(5, 6)
    frame = savant_gst.Frame.from_array(image, "BGR")
    assert frame.writable
    BrightSpot().process_frame(frame)
    assert np.asarray(frame)[6, 5].tolist() == [0, 0, 0]
    assert image[6, 5].tolist() == [250, 250, 250], "the caller's array is untouched"

    readonly = savant_gst.Frame.from_array(image, "BGR", writable=False)
    assert not readonly.writable
    try:
        np.asarray(readonly)[0, 0] = 1
    except ValueError:
        pass
    else:
        raise AssertionError("a writable=False frame accepted a write")


def test_padded_rows_hold_the_same_pixels():
    image = np.arange(3 * 5 * 3, dtype=np.uint8).reshape(3, 5, 3)
    frame = savant_gst.Frame.from_array(image, "BGR")
    assert frame.strides == [16], frame.strides  # GStreamer pads RGB rows to 4 bytes
    assert np.array_equal(np.asarray(frame), image)


def test_other_layouts():
    gray = np.zeros((10, 12), np.uint8)
    gray[7, 3] = 200
    frame = savant_gst.Frame.from_array(gray, "GRAY8")
    BrightSpot(size=2).process_frame(frame)
    assert frame.attributes["spot"] == "3,7"

    rgba = cv2.cvtColor(image_with_spot(63, 0), cv2.COLOR_BGR2RGBA)
    frame = savant_gst.Frame.from_array(rgba, "RGBA")
    BrightSpot().process_frame(frame)
    assert frame.attributes["spot"] == "63,0"

    i420 = cv2.cvtColor(image_with_spot(11, 17), cv2.COLOR_BGR2YUV_I420)
    assert i420.shape == (72, 64)
    frame = savant_gst.Frame.from_array(i420, "I420")
    assert [frame.plane(i).shape for i in range(3)] == [[48, 64], [24, 32], [24, 32]]
    assert np.array_equal(np.asarray(frame.plane(0)), i420[:48])
    assert np.array_equal(np.asarray(frame.plane(2)).ravel(), i420[60:].ravel())
    BrightSpot().process_frame(frame)
    assert frame.attributes["spot"] == "11,17"


def test_bad_arrays_are_value_errors():
    cases = [
        (np.zeros((4, 6, 4), np.uint8), "BGR", "needs shape (h, w, 3)"),
        (np.zeros((4, 6, 3), np.float32), "BGR", "needs a uint8 array"),
        (np.zeros((4, 6), np.uint8), "UYVY", "not supported"),
        (np.zeros((5, 6), np.uint8), "I420", "h * 3 / 2"),
        (np.zeros((0, 6, 3), np.uint8), "BGR", "non-zero height and width"),
        (np.zeros((4, 6), ">u2"), "GRAY16_LE", "needs a uint16 array"),
    ]
    for array, fmt, message in cases:
        try:
            savant_gst.Frame.from_array(array, fmt)
        except ValueError as e:
            assert message in str(e), (fmt, str(e))
        else:
            raise AssertionError(f"{fmt} {array.shape} {array.dtype} was accepted")
    try:
        savant_gst.Frame.from_array(np.zeros((2, 2), np.uint8), "GRAY8", pts=2**64 - 1)
    except ValueError as e:
        assert "pass None for no pts" in str(e), str(e)
    else:
        raise AssertionError("pts=2**64-1 was accepted")


def test_draw_hook_records_on_an_artist():
    frame = savant_gst.Frame.from_array(image_with_spot(40, 30), "BGR")
    stage = BrightSpot()
    stage.process_frame(frame)
    artist = savant_gst.Artist()
    stage.draw(frame, artist)
    assert repr(artist) == "<savant_gst.Artist 2 ops>", repr(artist)


if __name__ == "__main__":
    tests = [f for name, f in sorted(globals().items()) if name.startswith("test_")]
    for test in tests:
        test()
        print(f"passed {test.__name__}")
    print(f"{len(tests)} passed, savant_gst from {savant_gst.__file__}")
