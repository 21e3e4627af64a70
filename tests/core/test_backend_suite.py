"""The reusable backend contract catches broken backends (it is not a suite that always passes).

Each case runs the contract in a child pytest against a backend broken on purpose
and checks which contract tests fail.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

BROKEN = textwrap.dedent('''
    import time

    import pytest

    from backends.memory import MemoryBackend
    from blog_images_tui.storage import Store
    from blog_images_tui.testing.backend_suite import BackendContract


    class Overwriting(MemoryBackend):
        """Replaces whatever is under the name: no exclusive create."""

        def write_new(self, fs, path, data, content_type):
            fs.pipe_file(path, data)


    class Torn(MemoryBackend):
        """Writes under the final name in two halves: a reader can see half an object."""

        def write_new(self, fs, path, data, content_type):
            if fs.exists(path):
                raise FileExistsError(path)
            half = len(data) // 2
            fs.pipe_file(path, data[:half])
            time.sleep(0.3)
            fs.pipe_file(path, data)


    class Contract(BackendContract):
        backend_class = None

        @pytest.fixture
        def store_url(self, tmp_path):
            return f"memory://broken-{tmp_path.name}"

        def open_store(self, url):
            return Store(url, self.backend_class())


    class TestOverwriting(Contract):
        backend_class = Overwriting


    class TestTorn(Contract):
        backend_class = Torn
''')


@pytest.fixture(scope="module")
def contract_run(tmp_path_factory) -> subprocess.CompletedProcess:
    folder = tmp_path_factory.mktemp("broken-backends")
    (folder / "test_broken_backends.py").write_text(BROKEN)
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:xdist", "-p", "no:cacheprovider",
                           "-o", "addopts=", "-rf", "--rootdir", str(folder), str(folder)],
                          cwd=ROOT, capture_output=True, text=True, timeout=240)


def failed(run: subprocess.CompletedProcess) -> set[str]:
    return {line.split("::", 1)[1].split(" ", 1)[0] for line in run.stdout.splitlines()
            if line.startswith("FAILED ")}


def test_an_overwriting_backend_fails_the_contract(contract_run):
    assert contract_run.returncode == 1, contract_run.stdout[-3000:] + contract_run.stderr[-2000:]
    broken = {name for name in failed(contract_run) if name.startswith("TestOverwriting::")}
    assert "TestOverwriting::test_existing_name_is_never_overwritten" in broken
    assert "TestOverwriting::test_a_second_create_of_one_name_is_refused_and_changes_nothing" in broken


def test_a_backend_showing_partial_objects_fails_the_contract(contract_run):
    broken = {name for name in failed(contract_run) if name.startswith("TestTorn::")}
    assert broken == {"TestTorn::test_a_name_is_never_visible_before_its_object_is_whole"}, contract_run.stdout[-3000:]
