"""Session set-up shared by the tests.

Child interpreters started at session start: some checks must run in a fresh interpreter
(TensorFlow's logical devices are fixed before it initialises, its start-up log only shows
on a first import), and each such child spends seconds of CPU importing TensorFlow. A test
module that defines ``start_in_background(tmp_path_factory, launch)`` has it called once,
before the first test of the session runs; it starts its children with ``launch`` (the
arguments of ``BackgroundRun``) and what it returns is ``background[module.__name__]`` for
that module's fixtures. So the children work while the in-process tests run instead of in
front of them, at a lower priority so they take idle CPU rather than the tests'; any still
running at the session's end is ended.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


# Background children run at this niceness (higher: lower priority) than the test process.
NICE = 10


class BackgroundRun:
    """A child process started now and awaited later by ``result()``.

    Output goes to temporary files, not pipes, so a child that writes a lot never blocks
    waiting for a reader.
    """

    def __init__(self, args: Sequence[str], *, env: dict[str, str], cwd: str,
                 timeout: float) -> None:
        self._timeout = timeout
        self._stdout = tempfile.TemporaryFile(mode="w+")
        self._stderr = tempfile.TemporaryFile(mode="w+")
        self._process = subprocess.Popen(list(args), stdout=self._stdout, stderr=self._stderr,
                                         stdin=subprocess.DEVNULL, text=True, env=env, cwd=cwd)
        # Niced: a child takes the CPU the in-process tests leave idle instead of slowing
        # them down (a dozen children start at once, on a machine of a few cores). Set from
        # here, not in a preexec_fn, which is unsafe in a process that runs threads.
        if hasattr(os, "setpriority"):
            try:
                os.setpriority(os.PRIO_PROCESS, self._process.pid,
                               os.getpriority(os.PRIO_PROCESS, 0) + NICE)
            except ProcessLookupError:  # it has already ended: nothing to lower
                pass
        self._result: subprocess.CompletedProcess[str] | None = None

    def result(self) -> subprocess.CompletedProcess[str]:
        """Wait (at most ``timeout`` seconds from now) and return what the child did."""
        if self._result is None:
            try:
                self._process.wait(timeout=self._timeout)
            except subprocess.TimeoutExpired:
                self.stop()
                raise
            outputs = []
            for handle in (self._stdout, self._stderr):
                handle.seek(0)
                outputs.append(handle.read())
            self._result = subprocess.CompletedProcess(
                self._process.args, self._process.returncode, *outputs)
            self.stop()  # closes the output files
        return self._result

    def wait_for_output(self, text: str, *, timeout: float) -> None:
        """Wait until the child has written ``text`` to its stdout (the child keeps running).

        Reads with ``os.pread``: the child shares the file's offset, so a seek here would
        move where its next write lands.
        """
        deadline = time.monotonic() + timeout
        while text not in os.pread(self._stdout.fileno(), 1 << 20, 0).decode(errors="replace"):
            if self._process.poll() is not None:
                raise RuntimeError(f"the child ended before writing {text!r}: "
                                   f"{self.result().stderr[-3000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"the child wrote no {text!r} in {timeout} s")
            time.sleep(0.05)

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        for handle in (self._stdout, self._stderr):
            handle.close()


@pytest.fixture(scope="session", autouse=True)
def background(request: pytest.FixtureRequest,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """What each selected module's ``start_in_background`` returned, by module name."""
    started: dict[str, Any] = {}
    runs: list[BackgroundRun] = []

    def launch(args: Sequence[str], **options: Any) -> BackgroundRun:
        runs.append(BackgroundRun(args, **options))
        return runs[-1]

    modules = {getattr(item, "module", None) for item in request.session.items}
    for module in sorted(filter(None, modules), key=lambda m: m.__name__):
        start = getattr(module, "start_in_background", None)
        if start is not None:
            started[module.__name__] = start(tmp_path_factory, launch)
    yield started
    for run in runs:
        run.stop()


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config,
                                  items: list[pytest.Item]) -> None:
    """Run the modules with children started in the background last.

    Their children start with the session; their tests only wait for them. Placed last, the
    wait overlaps the whole in-process suite instead of coming first (pytest's file order
    would put tests/test_backends.py first). The order within each group is kept.
    """
    def waits(item: pytest.Item) -> bool:
        module = getattr(item, "module", None)
        return getattr(module, "start_in_background", None) is not None

    items[:] = [i for i in items if not waits(i)] + [i for i in items if waits(i)]
