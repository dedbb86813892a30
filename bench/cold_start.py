"""Cold start of `polygent up`: seconds from spawn to ready, to both local agents online, and
to the first host probe recorded; against a bare `temporal server start-dev` as the floor.

Each run spawns `polygent up` as a subprocess with a fresh temporary data dir, free ports and
an environment without any other POLYGENT_*/TEMPORAL_* variable, polls it from outside, then
stops it with SIGTERM (and reaps everything). One more "warm" start reuses the last run's
data dir (keyring, SQLite schema and Temporal state already there). The floor is the same
`temporal` binary with exactly the flags `polygent up` passes it (orchestrator/embedded.py),
started the same number of times: seconds to accept a TCP connection and to answer a gRPC
health check. Bare and polygent runs alternate, so background load hits both alike.

    .venv/bin/python bench/cold_start.py [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from _common import (
    POLYGENT,
    LocalHostReader,
    Tree,
    UpPorts,
    header,
    load_average,
    median,
    ratio,
    start_bare_temporal,
    start_up,
    table,
    tcp_accepts,
    temporal_binary,
    wait_temporal_health,
    warm_temporal_client,
)

TIMEOUT = 90.0
POLL = 0.05  # seconds between polls: the figures' resolution

# Figures of one `polygent up` start, in the order they happen.
UP_FIGURES = {
    "temporal_spawned": "embedded temporal spawned",
    "temporal_tcp": "embedded temporal accepts TCP",
    "readyz": "GET /readyz == 200",
    "workers": "both local workers online",
    "probe": "first probe recorded",
    "stop": "SIGTERM -> all exited",
}
BARE_FIGURES = {
    "tcp": "bare temporal accepts TCP",
    "health": "bare temporal health check OK",
    "stop": "SIGTERM -> exited (bare)",
}


async def measure_up(
    tree: Tree, ports: UpPorts, data_dir: Path, previous_probe: str | None
) -> dict[str, Any]:
    """Poll one starting `polygent up` from outside; seconds since spawn for each figure."""
    spawned_at = datetime.now(UTC) - timedelta(seconds=tree.elapsed())
    out: dict[str, Any] = {}
    deadline = time.perf_counter() + TIMEOUT

    def check_alive(what: str) -> None:
        if not tree.running():
            raise RuntimeError(f"polygent up exited before {what}\n{tree.tail()}")
        if time.perf_counter() > deadline:
            raise RuntimeError(f"no {what} within {TIMEOUT} s\n{tree.tail()}")

    while tree.child_with("start-dev") is None:
        check_alive("spawning temporal")
        await asyncio.sleep(0.02)
    out["temporal_spawned"] = tree.elapsed()
    while not tcp_accepts(ports.temporal):
        check_alive("temporal accepting TCP")
        await asyncio.sleep(0.02)
    out["temporal_tcp"] = tree.elapsed()

    async with httpx.AsyncClient(base_url=ports.api_url, timeout=5) as http:
        while True:
            check_alive("/readyz == 200")
            try:
                if (await http.get("/readyz")).status_code == 200:
                    out["readyz"] = tree.elapsed()
                    break
            except httpx.HTTPError:
                pass
            await asyncio.sleep(POLL)
        hosts = LocalHostReader(http, tree.out_path)
        while "probe" not in out:
            check_alive("both local workers online and the first probe")
            local = await hosts.read()
            now = tree.elapsed()
            if "workers" not in out and local.online_since(spawned_at):
                out["workers"] = now
            if local.probe and local.probe[0] != previous_probe:
                out.setdefault("workers", now)
                out["probe"] = now
                out["probe_id"], out["probe_status"] = local.probe
            await asyncio.sleep(POLL)
        out["source"] = hosts.source
    return out


async def one_up(
    data_dir: Path, logdir: Path, name: str, previous_probe: str | None
) -> dict[str, Any]:
    ports = UpPorts()
    tree = start_up(data_dir, ports, logdir, name)
    try:
        figures = await measure_up(tree, ports, data_dir, previous_probe)
    finally:
        stop = tree.stop()
    figures["stop"] = stop
    if tree.popen.returncode not in (0, -15):
        print(f"  note: {name} exited with {tree.popen.returncode}", flush=True)
    return figures


async def one_bare(data_dir: Path, logdir: Path, name: str) -> dict[str, float]:
    tree, port = start_bare_temporal(data_dir, logdir, name)
    try:
        tcp, health = await wait_temporal_health(tree, port, TIMEOUT)
    finally:
        stop = tree.stop()
    return {"tcp": tcp, "health": health, "stop": stop}


def import_time(runs: int) -> list[float]:
    """Seconds for a bare `python -c 'import orchestrator.roles'` (what `up` imports first)."""
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import orchestrator.roles"], check=True)
        times.append(time.perf_counter() - t0)
    return times


def show_run(label: str, fig: dict[str, Any], keys: dict[str, str]) -> None:
    parts = [f"{k}={fig[k]:.2f}s" for k in keys if k in fig]
    extra = f" (probe {fig['probe_status']})" if "probe_status" in fig else ""
    print(f"  {label:<14} " + " ".join(parts) + extra, flush=True)


async def main_async(args: argparse.Namespace) -> int:
    binary = temporal_binary()
    header(
        "bench/cold_start.py: `polygent up` cold start",
        [
            "seconds from spawning `polygent up` (fresh data dir, free ports, clean env) to",
            "/readyz 200, both `local` workers online in /api/hosts and the first probe",
            "recorded; floor: the same `temporal server start-dev` (same flags) alone, to TCP",
            f"accept and a gRPC health check. {args.runs} fresh runs + 1 warm each, polled every "
            f"{POLL * 1000:.0f} ms.",
        ],
        binary,
    )
    warm_temporal_client()
    root = Path(tempfile.mkdtemp(prefix="polygent-bench-cold-"))
    up_runs: list[dict[str, Any]] = []
    bare_runs: list[dict[str, float]] = []
    try:
        imports = import_time(2)
        print(f"  python -c 'import orchestrator.roles': {min(imports):.2f}s (min of 2)")
        for i in range(args.runs):
            bare = await one_bare(root / f"bare-{i}", root / "logs", f"bare-{i}")
            show_run(f"bare #{i + 1}", bare, BARE_FIGURES)
            bare_runs.append(bare)
            up = await one_up(root / f"up-{i}", root / "logs", f"up-{i}", None)
            show_run(f"up cold #{i + 1}", up, UP_FIGURES)
            up_runs.append(up)
        last = args.runs - 1
        bare_warm = await one_bare(root / f"bare-{last}", root / "logs", "bare-warm")
        show_run("bare warm", bare_warm, BARE_FIGURES)
        up_warm = await one_up(
            root / f"up-{last}", root / "logs", "up-warm", up_runs[-1].get("probe_id")
        )
        show_run("up warm", up_warm, UP_FIGURES)
    finally:
        if args.keep:
            print(f"  kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)

    rows = []
    for key, label in BARE_FIGURES.items():
        vals = [r[key] for r in bare_runs]
        rows.append([label, f"{min(vals):.2f}", f"{median(vals):.2f}", f"{bare_warm[key]:.2f}"])
    for key, label in UP_FIGURES.items():
        vals = [r[key] for r in up_runs]
        rows.append([label, f"{min(vals):.2f}", f"{median(vals):.2f}", f"{up_warm[key]:.2f}"])
    print()
    print(f"summary (seconds since spawn; {args.runs} cold runs, 1 warm)")
    print(table(["figure", "cold min", "cold median", "warm"], rows))

    floor = median([r["health"] for r in bare_runs])
    floor_warm = bare_warm["health"]
    print()
    print("ratio polygent / bare temporal health check (median cold; warm vs warm)")
    ratios = []
    for key in ("readyz", "workers", "probe"):
        cold = median([r[key] for r in up_runs])
        ratios.append([UP_FIGURES[key], ratio(cold, floor), ratio(up_warm[key], floor_warm)])
    print(table(["polygent figure", "cold", "warm"], ratios))
    pre = median([r["temporal_spawned"] for r in up_runs])
    after = median([r["readyz"] - r["temporal_tcp"] for r in up_runs])
    tcp_gap = median([r["temporal_tcp"] - r["temporal_spawned"] for r in up_runs])
    bare_tcp = median([r["tcp"] for r in bare_runs])
    print()
    print(
        f"where the cold time goes (medians): {pre:.2f}s before temporal is spawned "
        f"(imports, keyring, migrations; bare import alone {min(imports):.2f}s), "
        f"{tcp_gap:.2f}s until it accepts TCP (bare: {bare_tcp:.2f}s), "
        f"{after:.2f}s from there to /readyz."
    )
    statuses = {r.get("probe_status") for r in [*up_runs, up_warm]}
    sources = sorted({r["source"] for r in [*up_runs, up_warm]})
    print(f"workers and probe read from: {'; '.join(sources)}")
    print(f"probe statuses seen: {', '.join(sorted(s for s in statuses if s))}")
    print(f"load average at end: {load_average()}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description="Time `polygent up` from spawn to ready / workers online / first probe, "
        "against a bare `temporal server start-dev` with the same flags.",
        epilog=f"Runs `{' '.join(POLYGENT)} up`; needs nothing running on the machine.",
    )
    parser.add_argument("--runs", type=int, default=3, help="cold runs (default 3), plus 1 warm")
    parser.add_argument("--keep", action="store_true", help="keep the temp dirs and logs")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
