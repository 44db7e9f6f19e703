"""The offline environment, defined once: everything that phones home, switched off.

Imports nothing but `os`, so the app, the CLI, the tests' conftest and the benchmarks can apply it before
anything else is imported; the Makefile exports the same list (`python -m assistant.offline` prints it).
"""

from __future__ import annotations

import os

# Everything that phones home, switched off (see shared/OFFLINE.md). Must be set before gradio is imported.
OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "GRADIO_ANALYTICS_ENABLED": "False",
    "ANONYMIZED_TELEMETRY": "False",
    "TOKENIZERS_PARALLELISM": "false",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TRANSFORMERS_VERBOSITY": "error",
    # ONNX Runtime (1.29+) uploads OneDS telemetry from Linux too (N19): read once, when it is first loaded,
    # so it must be in the environment before `import onnxruntime`; the call in OnnxEmbeddings cannot undo
    # the start-up event.
    "ORT_DISABLE_TELEMETRY": "1",
}


def offline_environment() -> None:
    """Sets every variable of OFFLINE_ENV that the environment does not set already."""
    for key, value in OFFLINE_ENV.items():
        os.environ.setdefault(key, value)


if __name__ == "__main__":  # `KEY=VALUE` lines, for the Makefile
    print("\n".join(f"{key}={value}" for key, value in OFFLINE_ENV.items()))
