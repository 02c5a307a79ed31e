"""The code keeps the style setup.cfg declares ([flake8]: line length, unused imports...)."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


@pytest.mark.timeout(120)
def test_flake8_is_clean():
    result = subprocess.run([sys.executable, "-m", "flake8"], cwd=ROOT, capture_output=True,
                            text=True, timeout=110)
    assert result.returncode == 0, result.stdout + result.stderr
