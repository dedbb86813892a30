"""Idle memory of `polygent up`: resident memory of its process tree once it has settled,
against a bare `temporal server start-dev` (same flags) at idle as the floor.

`polygent up` is started as a subprocess (fresh temporary data dir, free ports, clean env);
once /readyz answers, both `local` workers are online and the first probe is recorded, it
is sampled every second for --idle seconds and the last --samples samples are averaged:
RSS, and PSS/USS (psutil memory_full_info, from /proc/<pid>/smaps) of the Python process,
the embedded Temporal server and anything else in the tree. PSS splits shared pages (libc,
the Python binary) between the processes mapping them, so the PSS of a tree adds up; RSS
counts them in every process. The floor is the same `temporal` binary alone, sampled the
same way after its health check answers; the platform's overhead is polygent's total minus
that.

    .venv/bin/python bench/idle_memory.py [--idle 10] [--samples 5]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psutil
from _common import (
    MIB,
    LocalHostReader,
    Tree,
    UpPorts,
    header,
    load_average,
    start_bare_temporal,
    start_up,
    table,
    temporal_binary,
    wait_temporal_health,
    warm_temporal_client,
)

TIMEOUT = 90.0


@dataclass
class Mem:
    rss: float = 0.0
    pss: float | None = 0.0  # None: not readable for some process in the sum
    uss: float | None = 0.0
    threads: int = 0
    count: int = 0

    def add(self, other: Mem) -> Mem:
        def both(a: float | None, b: float | None) -> float | None:
            return None if a is None or b is None else a + b

        return Mem(
            self.rss + other.rss,
            both(self.pss, other.pss),
            both(self.uss, other.uss),
            self.threads + other.threads,
            self.count + other.count,
        )


def measure(p: psutil.Process) -> Mem:
    """One process's memory in MiB (PSS/USS None where /proc/<pid>/smaps is not readable)."""
    with p.oneshot():
        threads = p.num_threads()
        try:
            full = p.memory_full_info()
            pss = getattr(full, "pss", None)
            uss = getattr(full, "uss", None)
            return Mem(
                full.rss / MIB,
                pss / MIB if pss is not None else None,
                uss / MIB if uss is not None else None,
                threads,
                1,
            )
        except psutil.AccessDenied:
            return Mem(p.memory_info().rss / MIB, None, None, threads, 1)


def sample_tree(root: psutil.Process) -> dict[str, Mem]:
    """{'python': ..., 'temporal': ..., 'other': ...} for `root` and all its descendants."""
    out = {"python": Mem(), "temporal": Mem(), "other": Mem()}
    procs = [root]
    with contextlib.suppress(psutil.Error):
        procs += root.children(recursive=True)
    for p in procs:
        try:
            cmd = " ".join(p.cmdline())
            m = measure(p)
        except psutil.Error:
            continue
        if p.pid == root.pid:
            key = "python" if "python" in Path(p.exe()).name or "python" in cmd else "temporal"
        elif "start-dev" in cmd:
            key = "temporal"
        else:
            key = "other"
        out[key] = out[key].add(m)
    return out


def average(samples: list[dict[str, Mem]]) -> dict[str, Mem]:
    out = {}
    for key in samples[0]:
        ms = [s[key] for s in samples]

        def avg(vals: list[float | None]) -> float | None:
            return None if any(v is None for v in vals) else statistics.fmean(vals)  # type: ignore[arg-type]

        out[key] = Mem(
            statistics.fmean(m.rss for m in ms),
            avg([m.pss for m in ms]),
            avg([m.uss for m in ms]),
            round(statistics.fmean(m.threads for m in ms)),
            max(m.count for m in ms),
        )
    return out


async def idle_samples(root: psutil.Process, idle: int, keep: int, label: str) -> dict[str, Mem]:
    samples = []
    for i in range(idle):
        await asyncio.sleep(1.0)
        s = sample_tree(root)
        samples.append(s)
        total = s["python"].add(s["temporal"]).add(s["other"])
        print(f"  {label} t+{i + 1:>2}s  RSS {total.rss:7.1f} MiB", flush=True)
    return average(samples[-keep:])


async def wait_settled(tree: Tree, ports: UpPorts, data_dir: Path) -> tuple[float, str]:
    """Until /readyz is 200, both local workers are online and a probe is recorded."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT
    async with httpx.AsyncClient(base_url=ports.api_url, timeout=5) as http:
        hosts = LocalHostReader(http, tree.out_path)
        while True:
            if not tree.running():
                raise RuntimeError(f"polygent up exited\n{tree.tail()}")
            if loop.time() > deadline:
                raise RuntimeError(f"polygent up did not settle in {TIMEOUT} s\n{tree.tail()}")
            try:
                if (await http.get("/readyz")).status_code == 200:
                    local = await hosts.read()
                    if local.online_since(datetime.min.replace(tzinfo=UTC)) and local.probe:
                        return tree.elapsed(), hosts.source
            except (httpx.HTTPError, json.JSONDecodeError):
                pass
            await asyncio.sleep(0.1)


def same_binary_elsewhere(binary: str, ours: set[int]) -> int:
    """How many processes outside `ours` run `binary` (they share its pages: PSS drops)."""
    count = 0
    for p in psutil.process_iter(["pid", "exe"]):
        with contextlib.suppress(psutil.Error, OSError):
            if p.info["pid"] not in ours and p.info["exe"] and Path(p.info["exe"]) == Path(binary):
                count += 1
    return count


def python_import_floor() -> Mem:
    """RSS/PSS of a bare Python that has only imported what `polygent up` imports."""
    code = (
        "import json, psutil, orchestrator.roles, orchestrator.cli\n"
        "m = psutil.Process().memory_full_info()\n"
        "print(json.dumps([m.rss, getattr(m, 'pss', None), getattr(m, 'uss', None)]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    rss, pss, uss = json.loads(out.strip().splitlines()[-1])
    return Mem(rss / MIB, pss / MIB if pss else None, uss / MIB if uss else None, 1, 1)


def fmt(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.1f}"


async def main_async(args: argparse.Namespace) -> int:
    binary = temporal_binary()
    header(
        "bench/idle_memory.py: `polygent up` memory at idle",
        [
            "resident memory (RSS; PSS and USS from psutil memory_full_info) of the whole",
            "`polygent up` tree once settled (ready, both local workers online, first probe",
            f"recorded), sampled every 1 s for {args.idle} s, mean of the last {args.samples};",
            "floor: the same `temporal server start-dev` (same flags) alone, sampled the same way.",
        ],
        binary,
    )
    warm_temporal_client()
    root = Path(tempfile.mkdtemp(prefix="polygent-bench-mem-"))
    try:
        imports = python_import_floor()
        print(
            f"  python after `import orchestrator.roles, orchestrator.cli`: RSS {imports.rss:.1f}"
            f" MiB, PSS {fmt(imports.pss)} MiB"
        )

        bare, port = start_bare_temporal(root / "bare", root / "logs", "bare")
        try:
            _, health = await wait_temporal_health(bare, port, TIMEOUT)
            print(f"  bare temporal healthy after {health:.2f}s", flush=True)
            bare_mem = await idle_samples(
                psutil.Process(bare.pid), args.idle, args.samples, "bare   "
            )
        finally:
            bare.stop()

        ports = UpPorts()
        up = start_up(root / "up", ports, root / "logs", "up")
        try:
            settled, source = await wait_settled(up, ports, root / "up")
            print(f"  polygent up settled after {settled:.2f}s", flush=True)
            up_mem = await idle_samples(psutil.Process(up.pid), args.idle, args.samples, "polygent")
            others = same_binary_elsewhere(binary, {up.pid, *up.snapshot()})
        finally:
            up.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)

    total = up_mem["python"].add(up_mem["temporal"]).add(up_mem["other"])
    bare_t = bare_mem["temporal"].add(bare_mem["python"])  # the root is temporal itself

    def diff(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None else a - b

    rows: list[tuple[str, Mem]] = [
        ("polygent: python process", up_mem["python"]),
        ("polygent: embedded temporal", up_mem["temporal"]),
    ]
    if up_mem["other"].count:
        rows.append((f"polygent: other ({up_mem['other'].count} procs)", up_mem["other"]))
    rows += [("polygent: total", total), ("floor: bare temporal", bare_t)]
    out = [[label, f"{m.rss:.1f}", fmt(m.pss), fmt(m.uss), str(m.threads)] for label, m in rows]
    out.append(
        [
            "overhead: total - floor",
            f"{total.rss - bare_t.rss:.1f}",
            fmt(diff(total.pss, bare_t.pss)),
            fmt(diff(total.uss, bare_t.uss)),
            "",
        ]
    )
    out.append(
        [
            "ref: python after imports only",
            f"{imports.rss:.1f}",
            fmt(imports.pss),
            fmt(imports.uss),
            "1",
        ]
    )
    print()
    print(f"summary (MiB, mean of the last {args.samples} of {args.idle} one-second samples)")
    print(table(["process", "RSS", "PSS", "USS", "threads"], out))
    print()
    print(
        f"ratio polygent total / bare temporal: RSS {total.rss / bare_t.rss:.2f}x"
        + (f", PSS {total.pss / bare_t.pss:.2f}x" if total.pss and bare_t.pss else "")
        + f"; embedded temporal vs bare: {up_mem['temporal'].rss - bare_t.rss:+.1f} MiB RSS"
    )
    print(
        f"note: {others} other process(es) ran the same `temporal` binary meanwhile; they share "
        "its file pages, which lowers every one's PSS (RSS counts them in full everywhere)."
    )
    print(f"workers and probe read from: {source}")
    print(f"load average at end: {load_average()}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description="Resident memory of an idle `polygent up` (python + embedded temporal), "
        "against a bare `temporal server start-dev` with the same flags."
    )
    parser.add_argument(
        "--idle", type=int, default=10, help="seconds to sample after settling (default 10)"
    )
    parser.add_argument(
        "--samples", type=int, default=5, help="last samples to average (default 5)"
    )
    args = parser.parse_args()
    if not 1 <= args.samples <= args.idle:
        parser.error("need 1 <= --samples <= --idle")
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
