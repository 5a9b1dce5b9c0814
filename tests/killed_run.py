"""A child that writes a stream through a tfbalance writer and waits, mid-way, to be killed.

The killed-run checks of ``split_by_class`` and ``write_stratified_split`` start it with
the session (a module's ``start_in_background``, see ``tests/conftest.py``). After three
elements it prints "written" and waits, with part files open in the staging folder, until
its test SIGKILLs it; it ends itself, without finishing, if the test process is gone.
"""

from __future__ import annotations

import os
import sys
import textwrap

_SCRIPT = textwrap.dedent("""
    import os, sys, time
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    import numpy as np, tensorflow as tf
    import tfbalance

    def rows():
        for i in range(100):
            if i == 3:
                print("written", flush=True)
                parent = os.getppid()
                while os.getppid() == parent:
                    time.sleep(0.1)
                os._exit(1)
            yield np.full([10], float(i), np.float32), np.arange(10) % 2

    ds = tf.data.Dataset.from_generator(rows, output_signature=(
        tf.TensorSpec([None], tf.float32), tf.TensorSpec([None], tf.int64)))
""")


def start_killed_writer(tmp_path_factory, launch, name: str, write: str):
    """Start the child; ``write`` is the writer call on ``ds`` into ``sys.argv[1]``.

    Returns ``(run, folder)``: ``folder`` holds only the child's output folder ``out``.
    """
    folder = tmp_path_factory.mktemp(name)
    run = launch([sys.executable, "-c", _SCRIPT + write + "\n", str(folder / "out")],
                 env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}, cwd=os.getcwd(),
                 timeout=60)
    return run, folder
