"""Cold start (issue 8 §1): the import time of every built handler, from `sam build`'s output, side by side
with `import boto3, pydantic` alone (target ≤ 1.25× that floor), and the zipped layer sizes (≤ 15 MB).

Each measurement is a fresh interpreter started as Lambda's would be for that function: `-I -S` (no
site-packages, no environment), `sys.path` = the built function folder, the two built layers and a folder
standing in for the Lambda runtime's own boto3 (as tests/infra/test_built_artifacts.py does). The import is
timed inside the child (wall clock and process CPU), so interpreter start-up is not counted for either
side. Rounds are interleaved (floor, every handler, floor, ...) so that load on this shared machine hits
both sides alike; the figures are medians over the rounds.

For a handler over the target, one `-X importtime` run names its heaviest imports beyond the floor.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import yaml

from bench.harness import REPO, median, report

BUILD_DIR = REPO / ".aws-sam" / "bench-build"
CACHE_DIR = REPO / ".aws-sam" / "bench-cache"
SAM = REPO / ".tools" / "sam" / "bin" / "sam"
RUNTIME_PROVIDED = ["boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six.py", "urllib3"]
HEAVY_MODULES = ["aws_xray_sdk", "requests_oauthlib", "oauthlib", "requests", "pydantic", "boto3", "botocore",
                 "aws_lambda_powertools.event_handler", "aws_lambda_powertools.utilities.idempotency"]
# Heavy imports the issue wants off the paths that do not need them.
OPTIONAL_HEAVY = ["requests_oauthlib", "aws_xray_sdk"]
TARGET_RATIO = 1.25
STACK_FLOOR_STATEMENT = """import boto3
from aws_lambda_powertools import Logger, Metrics
from pydantic import BaseModel, Field

class StackFloor(BaseModel):
    amount: int = Field(ge=0)
"""
TARGET_LAYER_MB = 15.0

_PROBE = """
import json, sys, time
sys.path[:0] = {paths!r}
wall, cpu = time.perf_counter(), time.process_time()
{statement}
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
heavy = [m for m in {heavy!r} if m in sys.modules]
print(json.dumps({{"wall_ms": wall * 1000, "cpu_ms": cpu * 1000, "modules": len(sys.modules), "heavy": heavy}}))
"""


class _CfnLoader(yaml.SafeLoader):
    pass


_CfnLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


def sam_build() -> Path:
    if not SAM.exists():
        raise RuntimeError(f"{SAM} is missing: run `make tools` (`make bench` does it for you)")
    shutil.rmtree(BUILD_DIR, ignore_errors=True)
    result = subprocess.run(
        [str(SAM), "build", "--template-file", str(REPO / "infra" / "template.yaml"), "--build-dir", str(BUILD_DIR),
         "--cache-dir", str(CACHE_DIR)],
        cwd=REPO, env={**os.environ, "SAM_CLI_TELEMETRY": "0"}, capture_output=True, text=True, timeout=900,
        check=False)
    if result.returncode != 0:
        raise RuntimeError("sam build failed:\n" + result.stdout[-3000:] + result.stderr[-3000:])
    return BUILD_DIR


_built_in_this_process = False


def ensure_build() -> Path:
    """The `sam build` output of the current sources: built once per process (cold_start builds it first
    when both run)."""
    global _built_in_this_process
    if not _built_in_this_process:
        sam_build()
        _built_in_this_process = True
    return BUILD_DIR


def built_functions(build_dir: Path) -> dict[str, str]:
    template = yaml.load((build_dir / "template.yaml").read_text(), Loader=_CfnLoader)
    return {logical_id: resource["Properties"]["Handler"]
            for logical_id, resource in template["Resources"].items()
            if resource["Type"] == "AWS::Serverless::Function"}


def runtime_libs(into: Path) -> Path:
    """A folder standing in for the Lambda runtime's site-packages: boto3 and its dependencies only."""
    import boto3

    site_packages = Path(boto3.__file__).parent.parent
    into.mkdir(parents=True, exist_ok=True)
    for name in RUNTIME_PROVIDED:
        (into / name).symlink_to(site_packages / name)
    return into


def _probe(paths: list[str], statement: str, *, importtime: bool = False) -> dict[str, Any]:
    code = _PROBE.format(paths=paths, statement=statement, heavy=HEAVY_MODULES)
    args = [sys.executable, "-I", "-S", *(["-X", "importtime"] if importtime else []), "-c", code]
    result = subprocess.run(args, env={}, capture_output=True, text=True, timeout=120, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"probe failed ({statement}): {result.stderr[-1500:]}")
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    if importtime:
        answer["importtime"] = result.stderr
    return answer


def _handler_statement(handler: str) -> str:
    module, _, name = handler.rpartition(".")
    return f"import importlib; getattr(importlib.import_module({module!r}), {name!r})"


def parse_importtime(text: str) -> list[tuple[int, int, int, str]]:
    """`-X importtime` lines as (self µs, cumulative µs, depth, module), in the order printed (a module's
    imports are printed before it, one level deeper)."""
    rows = []
    for line in text.splitlines():
        if not line.startswith("import time:") or line.count("|") != 2:
            continue
        own, cumulative, name = line.split(":", 1)[1].split("|")
        try:
            own_us, cumulative_us = int(own), int(cumulative)
        except ValueError:
            continue  # the header line
        stripped = name.lstrip(" ")
        rows.append((own_us, cumulative_us, (len(name) - len(stripped) - 1) // 2, stripped.strip()))
    return rows


def beyond_floor_by_package(trace: str, floor_modules: set[str], top: int = 8) -> list[dict[str, Any]]:
    """Where the import time above the floor goes: self time of every module the floor does not import,
    summed by top-level package."""
    totals: dict[str, int] = {}
    for own_us, _, _, module in parse_importtime(trace):
        if module not in floor_modules:
            package = module.split(".")[0]
            totals[package] = totals.get(package, 0) + own_us
    ranked = sorted(totals.items(), key=lambda item: item[1], reverse=True)[:top]
    return [{"package": package, "self_ms": round(us / 1000, 1)} for package, us in ranked]


def import_chain(trace: str, module: str) -> list[str]:
    """Who imported `module` first: its ancestors up to the handler module, outermost first."""
    rows = parse_importtime(trace)
    for index, (_, _, depth, name) in enumerate(rows):
        if name == module:
            chain, wanted = [name], depth
            for _, _, later_depth, later_name in rows[index + 1:]:
                if later_depth < wanted:
                    chain.append(later_name)
                    wanted = later_depth
                    if wanted == 0:
                        break
            return list(reversed(chain))
    return []


def zipped_size(folder: Path) -> tuple[int, int]:
    """(zipped bytes with deflate, as `sam package` makes it; unzipped bytes)."""
    buffer = io.BytesIO()
    unzipped = 0
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(folder))
                unzipped += path.stat().st_size
    return len(buffer.getvalue()), unzipped


def run(*, rounds: int = 9) -> dict[str, Any]:
    report.say(f"cold_start: sam build, then {rounds} interleaved rounds of every handler's import vs the floor")
    build_dir = ensure_build()
    functions = built_functions(build_dir)
    layers = [str(build_dir / "QbsyncLayer" / "python"), str(build_dir / "DependenciesLayer" / "python")]
    with tempfile.TemporaryDirectory() as scratch:
        runtime = runtime_libs(Path(scratch))
        floor_paths = [*layers, str(runtime)]
        floor_statement = "import boto3, pydantic"
        # `import pydantic` alone is lazy (its model machinery loads with the first model class). The stack
        # floor is what every handler on the fixed stack pays before any qbsync code: one pydantic model with
        # a constrained field, and Powertools' Logger and Metrics. It shows how much of the gap is the stack.
        samples: dict[str, list[dict[str, Any]]] = {name: [] for name in ["floor", "stack_floor", *functions]}
        for _ in range(rounds):
            samples["floor"].append(_probe(floor_paths, floor_statement))
            samples["stack_floor"].append(_probe(floor_paths, STACK_FLOOR_STATEMENT))
            for logical_id, handler in functions.items():
                samples[logical_id].append(_probe([str(build_dir / logical_id), *floor_paths],
                                                  _handler_statement(handler)))
        floor_wall = median(s["wall_ms"] for s in samples["floor"])
        floor_cpu = median(s["cpu_ms"] for s in samples["floor"])
        stack_floor_cpu = median(s["cpu_ms"] for s in samples["stack_floor"])
        floor_trace = _probe(floor_paths, floor_statement, importtime=True)["importtime"]
        floor_modules = {module for _, _, _, module in parse_importtime(floor_trace)}
        handlers: dict[str, Any] = {}
        for logical_id, handler in functions.items():
            runs = samples[logical_id]
            wall, cpu = median(s["wall_ms"] for s in runs), median(s["cpu_ms"] for s in runs)
            paired = [s["wall_ms"] / f["wall_ms"] for s, f in zip(runs, samples["floor"])]
            entry = {
                "wall_ms_median": round(wall, 1), "cpu_ms_median": round(cpu, 1),
                "ratio_wall": round(wall / floor_wall, 3), "ratio_cpu": round(cpu / floor_cpu, 3),
                "ratio_paired_median": round(median(paired), 3),
                "ratio_cpu_vs_stack_floor": round(cpu / stack_floor_cpu, 3),
                "heavy_modules_imported": runs[0]["heavy"], "modules": runs[0]["modules"],
            }
            entry["met"] = entry["ratio_cpu"] <= TARGET_RATIO
            trace = _probe([str(build_dir / logical_id), *floor_paths], _handler_statement(handler),
                           importtime=True)["importtime"]
            entry["beyond_floor_by_package"] = beyond_floor_by_package(trace, floor_modules)
            entry["optional_heavy_import_chains"] = {
                module: import_chain(trace, module) for module in OPTIONAL_HEAVY if import_chain(trace, module)}
            handlers[logical_id] = entry
            report.say(f"  {logical_id:26s} {wall:7.0f} ms wall {cpu:7.0f} ms cpu  ×{entry['ratio_wall']:.2f} wall "
                       f"×{entry['ratio_cpu']:.2f} cpu  heavy: {', '.join(entry['heavy_modules_imported'])}")
    layer_sizes = {}
    for layer in ("QbsyncLayer", "DependenciesLayer"):
        zipped, unzipped = zipped_size(build_dir / layer)
        layer_sizes[layer] = {"zipped_mb": round(zipped / 1e6, 2), "unzipped_mb": round(unzipped / 1e6, 2),
                              "met": zipped / 1e6 <= TARGET_LAYER_MB}
        report.say(f"  {layer:26s} {zipped / 1e6:6.2f} MB zipped ({unzipped / 1e6:.1f} MB unzipped)")
    report.say(f"  floor: import boto3, pydantic {floor_wall:.0f} ms wall {floor_cpu:.0f} ms cpu")
    return {
        "rounds": rounds,
        "floor": {"statement": "import boto3, pydantic", "wall_ms_median": round(floor_wall, 1),
                  "cpu_ms_median": round(floor_cpu, 1)},
        "stack_floor": {"statement": STACK_FLOOR_STATEMENT,
                        "wall_ms_median": round(median(s["wall_ms"] for s in samples["stack_floor"]), 1),
                        "cpu_ms_median": round(stack_floor_cpu, 1),
                        "ratio_cpu": round(stack_floor_cpu / floor_cpu, 3)},
        "handlers": handlers,
        "worst_ratio_cpu": max(h["ratio_cpu"] for h in handlers.values()),
        "worst_ratio_wall": max(h["ratio_wall"] for h in handlers.values()),
        "layers": layer_sizes,
        "target_ratio": TARGET_RATIO, "target_layer_mb": TARGET_LAYER_MB,
    }
