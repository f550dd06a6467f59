"""The GIL is released while training, and Ctrl-C stops a fit with KeyboardInterrupt."""

import contextlib
import os
import signal
import subprocess
import sys
import threading
import textwrap

import numpy as np

from bprop import MLPClassifier


def test_other_threads_run_while_fitting():
    # With a long switch interval, a thread holding the GIL is never made to give it up:
    # the main thread's loop advances during the fit only if the fit released the GIL.
    rng = np.random.RandomState(0)
    X, y = rng.randn(4000, 64), rng.randint(0, 4, 4000)
    seen = []
    counter = [0]
    done = threading.Event()

    class Epochs:
        # verbose=True prints "Iteration k, loss = ..." at the end of each epoch: note
        # how far the main thread's loop had come.
        def write(self, s):
            if s.startswith("Iteration"):
                seen.append(counter[0])

        def flush(self):
            pass

    clf = MLPClassifier((256,), batch_size=32, max_iter=6, tol=-np.inf, verbose=True, backend="cpu", random_state=0)

    def work():
        clf.fit(X, y)
        done.set()

    old = sys.getswitchinterval()
    sys.setswitchinterval(100.0)
    try:
        with contextlib.redirect_stdout(Epochs()):
            t = threading.Thread(target=work)
            t.start()
            while not done.is_set():
                counter[0] += 1
                done.wait(0.0005)
            t.join()
    finally:
        sys.setswitchinterval(old)
    assert len(seen) == 6
    assert seen[-1] > seen[0], seen


def test_ctrl_c_raises_keyboard_interrupt_and_leaves_the_estimator_unfitted(tmp_path):
    script = textwrap.dedent(
        """
        import signal
        import numpy as np
        from bprop import MLPClassifier
        # Python keeps SIGINT ignored when it starts with it ignored (as a shell's
        # background jobs do): install the handler an interactive Python has.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        rng = np.random.RandomState(0)
        X, y = rng.randn(2000, 32), rng.randint(0, 3, 2000)
        clf = MLPClassifier((64,), batch_size=16, max_iter=100000, tol=-np.inf,
                            verbose=True, backend="cpu", random_state=0)
        try:
            clf.fit(X, y)
            print("finished")
        except KeyboardInterrupt:
            print("KeyboardInterrupt; fitted:", hasattr(clf, "_model"), flush=True)
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-u", "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        # Wait for the first epoch, then interrupt as a terminal's Ctrl-C does.
        for line in proc.stdout:
            if line.startswith("Iteration 1,"):
                break
        else:
            raise AssertionError(f"no epoch printed: {proc.stderr.read()}")
        os.kill(proc.pid, signal.SIGINT)
        rest, err = proc.communicate(timeout=120)
    finally:
        # A child that ignored the interrupt would train for ever.
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "KeyboardInterrupt; fitted: False" in rest, (rest, err)
    assert "finished" not in rest
