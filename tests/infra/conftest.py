"""Fixtures for the template and packaging checks."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "infra" / "template.yaml"
TOOLS = REPO / ".tools"


def tool(venv: str, name: str) -> str:
    path = TOOLS / venv / "bin" / name
    if not path.exists():
        pytest.fail(f"{path} is missing: run `make tools` (make test does it for you)")
    return str(path)


def run_tool(args: list[str], *, cwd: Path = REPO, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0", "BC_SKIP_MAPPING": "TRUE"}
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="session")
def tools():
    """The tool runner, for tests: `tools.run([tools.bin("sam", "sam"), ...])`."""

    class Tools:
        template = TEMPLATE
        bin = staticmethod(tool)
        run = staticmethod(run_tool)

    return Tools


@pytest.fixture(scope="session")
def sam_build(tmp_path_factory) -> Path:
    """`sam build` of the real template, offline and without a container, once per test session."""
    build_dir = tmp_path_factory.mktemp("sam") / "build"
    result = run_tool([tool("sam", "sam"), "build", "--template-file", str(TEMPLATE),
                       "--build-dir", str(build_dir), "--cache-dir", str(build_dir.parent / "cache")])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    yield build_dir
    shutil.rmtree(build_dir, ignore_errors=True)
