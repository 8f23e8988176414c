import numpy as np
import pytest

from core.encoders import visual


def _coverage(features: np.ndarray, name: str) -> float:
    return float(features[visual.FRAME_DIM - len(visual.COVERAGE) + visual.COVERAGE.index(name)])


def _motion(descriptor: np.ndarray) -> np.ndarray:
    return descriptor[-visual.MOTION_DIM :]


def test_descriptor_has_fixed_dimension_and_bounded_float32_values(synth, rng):
    frames = [synth.pitch(), synth.stage(90, 400), rng.integers(0, 256, (7, 5, 3), dtype=np.uint8)]
    descriptor = visual.describe_frames(frames)
    assert descriptor.shape == (visual.DESCRIPTOR_DIM,)
    assert descriptor.dtype == np.float32
    assert np.isfinite(descriptor).all()
    assert descriptor.min() >= 0.0 and descriptor.max() <= 1.0
    assert visual.describe_frames(frames[:1]).shape == (visual.DESCRIPTOR_DIM,)


def test_descriptor_is_deterministic_and_leaves_frames_untouched(synth):
    frames = [synth.pitch(), synth.stage()]
    copies = [f.copy() for f in frames]
    np.testing.assert_array_equal(visual.describe_frames(frames), visual.describe_frames(frames))
    for frame, copy in zip(frames, copies):
        np.testing.assert_array_equal(frame, copy)


def test_distinct_scenes_give_distinct_vectors(synth, rng):
    scenes = {
        "pitch": [synth.pitch()],
        "stage": [synth.stage()],
        "noise": [rng.integers(0, 256, (180, 320, 3), dtype=np.uint8)],
        "white": [synth.solid((245, 245, 245))],
    }
    vectors = {name: visual.describe_frames(frames) for name, frames in scenes.items()}
    names = list(vectors)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert np.linalg.norm(vectors[a] - vectors[b]) > 0.3, (a, b)


def test_same_scene_at_another_resolution_stays_close(synth):
    small = synth.pitch(180, 320)
    large = np.repeat(np.repeat(small, 2, axis=0), 2, axis=1)
    near = np.linalg.norm(visual.describe_frames([small]) - visual.describe_frames([large]))
    far = np.linalg.norm(visual.describe_frames([small]) - visual.describe_frames([synth.stage()]))
    assert near < 0.1 * far


def test_coverage_fractions_respond_to_colour(synth):
    green = visual.frame_features(synth.solid((40, 160, 50)))
    sky = visual.frame_features(synth.solid((70, 130, 220)))
    skin = visual.frame_features(synth.solid((224, 172, 140)))
    black = visual.frame_features(synth.solid((5, 5, 5)))
    assert _coverage(green, "green") == 1.0 and _coverage(sky, "green") == 0.0
    assert _coverage(sky, "blue") == 1.0 and _coverage(green, "blue") == 0.0
    assert _coverage(skin, "skin") == 1.0 and _coverage(green, "skin") == 0.0
    assert _coverage(black, "black") == 1.0 and _coverage(skin, "black") == 0.0


def test_edge_orientation_separates_vertical_from_horizontal_structure():
    stripes = np.zeros((128, 128, 3), np.uint8)
    stripes[:, ::16] = 255
    vertical = visual.frame_features(stripes)
    horizontal = visual.frame_features(np.ascontiguousarray(stripes.transpose(1, 0, 2)))
    assert np.linalg.norm(vertical - horizontal) > 0.5


def test_motion_is_zero_for_static_video_and_grows_with_movement(synth):
    static = visual.describe_frames([synth.moving_square(0)] * 4)
    slow = visual.describe_frames([synth.moving_square(s) for s in (0, 5, 10, 15)])
    fast = visual.describe_frames([synth.moving_square(s) for s in (0, 30, 60, 90)])
    assert np.all(_motion(static) == 0.0)
    assert _motion(slow)[0] > 0.0
    assert _motion(fast)[0] > _motion(slow)[0]
    assert _motion(fast)[1] >= _motion(fast)[0]


def test_scene_cut_shows_up_as_colour_change(synth):
    cut = visual.describe_frames([synth.pitch(), synth.pitch(), synth.stage()])
    assert _motion(cut)[3] > 0.5


def test_no_frames_is_an_error_not_a_zero_vector():
    with pytest.raises(ValueError, match="no keyframes"):
        visual.describe_frames([])
