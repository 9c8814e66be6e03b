"""The reference switch: one door that turns every fast path off."""

from __future__ import annotations

import os
import subprocess
import sys

from contactguard import fastpaths


def test_reference_block_switches_off_and_restores() -> None:
    """Inside ``reference()`` the fast paths are off; after it they are as they were."""
    assert fastpaths.enabled()
    with fastpaths.reference():
        assert not fastpaths.enabled()
        with fastpaths.reference(on=False):
            assert fastpaths.enabled()
        assert not fastpaths.enabled()
    assert fastpaths.enabled()


def test_environment_switches_a_process_to_reference() -> None:
    """``CONTACTGUARD_REFERENCE=1`` starts a process in reference mode; ``0`` does not."""
    code = "from contactguard import fastpaths; print(fastpaths.enabled())"
    for value, expected in (("1", "False"), ("0", "True"), ("", "True")):
        env = {**os.environ, fastpaths.ENVIRONMENT: value}
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                             text=True, check=True).stdout.strip()
        assert out == expected, value
