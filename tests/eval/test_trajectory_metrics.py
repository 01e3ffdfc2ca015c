import numpy as np

from maskmotion.eval import centroid_error, identity_swaps


def _square(t, x, y, oid, frames):
    frames[t, y : y + 6, x : x + 6] = oid


def test_centroid_error_is_the_shift_in_pixels():
    ref = np.zeros((4, 32, 32), np.uint8)
    gen = np.zeros_like(ref)
    for t in range(4):
        _square(t, 2 + t, 4, 1, ref)
        _square(t, 2 + t + 3, 4 + 4, 1, gen)  # 3 right, 4 down: 5 px
    err = centroid_error(gen, ref, [1, 2])
    assert abs(err[1] - 5.0) < 1e-9
    assert np.isnan(err[2])  # never present


def test_identity_swaps_count_trades_not_drift():
    ref = np.zeros((6, 32, 32), np.uint8)
    for t in range(6):
        _square(t, 2, 2, 1, ref)
        _square(t, 20, 20, 2, ref)
    assert identity_swaps(ref, ref, [1, 2]) == {1: 0, 2: 0}
    swapped = ref.copy()
    swapped[3:] = np.where(ref[3:] == 1, 2, np.where(ref[3:] == 2, 1, 0))  # trade places at frame 3
    assert identity_swaps(swapped, ref, [1, 2]) == {1: 1, 2: 1}
    drift = np.zeros_like(ref)
    for t in range(6):
        _square(t, 2 + 2 * t, 2, 1, drift)  # drifts off its reference, never onto object 2
        _square(t, 20, 20, 2, drift)
    assert identity_swaps(drift, ref, [1, 2]) == {1: 0, 2: 0}
