"""Framework start-up banners do not reach the user; real warnings and errors still do."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from archdsl.backends.quiet import without_info

TF_LOG = (
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
    "I0000 00:00:1795985222.700870   21784 port.cc:153] oneDNN custom operations are on.\n"
    "I0000 00:00:1795985234.634420   21794 cpu_feature_guard.cc:227] This TensorFlow binary is\n"
    "To enable the following instructions: AVX2 AVX512F, in other operations, rebuild.\n"
    "W0000 00:00:1795985217.365550   21563 util.cc:163] Not handling type DT_DOUBLE\n"
    "E0000 00:00:1795985217.365551   21563 cuda.cc:1] no GPU\n"
    "a plain Python warning\n"
)


def test_without_info_keeps_warnings_errors_and_plain_lines():
    assert without_info(TF_LOG) == (
        "W0000 00:00:1795985217.365550   21563 util.cc:163] Not handling type DT_DOUBLE\n"
        "E0000 00:00:1795985217.365551   21563 cuda.cc:1] no GPU\n"
        "a plain Python warning\n"
    )


def test_without_info_passes_ordinary_text_unchanged():
    text = "Traceback (most recent call last):\nImportError: libfoo.so\n"
    assert without_info(text) == text


def test_cli_crosscheck_stderr_has_no_tensorflow_banners():
    pytest.importorskip("torch", reason="the crosscheck needs PyTorch")
    pytest.importorskip("keras", reason="the crosscheck needs Keras")
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    run = subprocess.run(
        [sys.executable, "-m", "archdsl", "crosscheck", "specs/filters.yaml", "--batch", "2"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.rstrip().endswith("verdict: agree (PyTorch and Keras and the reference)"), run.stdout
    assert run.stderr == "", run.stderr
