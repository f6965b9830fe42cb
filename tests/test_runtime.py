"""runtime.configure_process: the process set-up every computing command does first."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

SET_UP = (
    "import os, sys\n"
    "from kspacekit.runtime import configure_process\n"
    "configure_process()\n"
    "print(os.environ['OMP_WAIT_POLICY'], 'torch' in sys.modules)\n"
)


@pytest.mark.parametrize("given, expected", [(None, "PASSIVE"), ("ACTIVE", "ACTIVE")])
def test_idle_openmp_threads_sleep_unless_the_user_chose(given, expected):
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if given is not None:
        env["OMP_WAIT_POLICY"] = given
    result = subprocess.run([sys.executable, "-c", SET_UP], env=env, capture_output=True, text=True, check=True)
    assert result.stdout.split() == [expected, "False"]  # set before torch, without importing it


def test_threads_are_set_only_when_asked():
    code = ("import torch\nfrom kspacekit.runtime import configure_process\nbefore = torch.get_num_threads()\n"
            "configure_process()\nassert torch.get_num_threads() == before\nconfigure_process(threads=1)\n"
            "print(before, torch.get_num_threads())")
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["2", "1"]
