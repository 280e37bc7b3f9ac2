"""Heavy calls release the GIL.

Thread A starts a heavy call; thread B starts the same call 0.1 s later. With the GIL
released B's call begins while A's is still running (the two overlap). Were the GIL held
through the Rust call, B could not even wake from its sleep before A returned, and the
main thread, which counts loop turns meanwhile, would stall for the whole call."""

import threading
import time

import numpy as np

import ulm


def test_two_heavy_calls_overlap_and_python_keeps_running(cli_sim):
    # Gaussian fits on 1200 frames: long in Rust, with little to convert back under the GIL.
    stack = np.ascontiguousarray(np.tile(np.load(cli_sim / "envelope.npy"), (8, 1, 1)))
    meta = ulm.read(cli_sim / "envelope.npy")[1]

    def heavy():
        return ulm.localize(stack, meta, method="gaussian")

    t0 = time.perf_counter()
    heavy()
    single = time.perf_counter() - t0
    assert single > 0.2, f"the call is too short ({single:.3f} s) to show anything"

    spans = {}

    def work(name, delay):
        time.sleep(delay)
        start = time.perf_counter()
        n = len(heavy())
        spans[name] = (start, time.perf_counter(), n)

    threads = [threading.Thread(target=work, args=("a", 0.0)), threading.Thread(target=work, args=("b", 0.1))]
    for t in threads:
        t.start()
    ticks = []
    while any(t.is_alive() for t in threads):
        ticks.append(time.perf_counter())
        time.sleep(0.001)
    for t in threads:
        t.join()
    (a0, a1, na), (b0, b1, nb) = spans["a"], spans["b"]
    assert na == nb > 0  # same seed, same result
    assert b0 < a1, f"B started at {b0 - a0:.3f} s, after A ended at {a1 - a0:.3f} s: the GIL was held"
    # The main thread never waited for a whole call.
    gaps = [y - x for x, y in zip(ticks, ticks[1:])]
    assert max(gaps) < 0.5 * single, f"the main thread stalled {max(gaps):.3f} s (one call: {single:.3f} s)"
