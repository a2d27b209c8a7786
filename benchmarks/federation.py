"""Federation sync latency (FSL): incremental push vs a full copy, on loopback.

Two workspaces in temporary folders, each with its federation server on
127.0.0.1. The sender holds a program whose frozen context carries one float64
dataset of ``--size`` (random values: compression cannot hide them; 256 KiB
chunks, one per row). The first frozen context is pushed once (seeding the
receiver). Then, ``--exchanges`` times, side by side:

* ours: change ``--change`` of the dataset (whole rows, a region write), freeze
  (advance), push: only the objects the receiver lacks travel;
* the naive approach: the same change and freeze, then a full copy of the
  context: every object of the frozen context is sent (``push(full=True)``)
  over the same transport and verified by the receiver.

FSL is what the receiver measures for each exchange: from the freeze time at
the sender to the moment the frozen context is queryable at the receiver. The
script prints p50/p99 FSL and bytes sent per exchange for both, their ratios,
and whether the goals hold: incremental p99 < 300 ms and bytes sent <= 1.1x
the change.

    .venv/bin/python benchmarks/federation.py [--size 50MB] [--change 1MB] [--exchanges 30] [--quick]

``--quick`` (8 MiB, 256 KiB change, 5 exchanges) is for tests.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("ICECHUNK_LOG", "error")

ROW = 32768  # float64 values per row = 256 KiB = one chunk
RULES = {"export": [{"name": "all", "allow": {"classifications": ["PUBLIC", "EAR99", "EAR"]}}],
         "import": [{"name": "all", "allow": {"classifications": ["PUBLIC", "EAR99", "EAR"]}}]}
PHASES = ("CAD", "CAE", "CAI", "CAO", "CAM", "CAP", "CAV", "CMP", "CAS")


def parse_size(text: str) -> int:
    import re

    m = re.fullmatch(r"\s*([0-9.]+)\s*([KMG]?)i?B?\s*", text.upper())
    if not m:
        raise SystemExit(f"cannot read size {text!r}: write e.g. 50MB, 1MB, 256KB")
    return int(float(m.group(1)) * 1024 ** " KMG".index(m.group(2) or " "))


def percentile(values: list[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(np.asarray(values), q))


class Server:
    """``pluma federation serve`` of a workspace, in a process of its own on 127.0.0.1."""

    def __init__(self, home: Path) -> None:
        import socket
        import subprocess

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        exe = Path(sys.executable).with_name("pluma")
        self.proc = subprocess.Popen([str(exe), "--home", str(home), "--user", "admin", "federation", "serve",
                                      "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    return
            except OSError:
                if self.proc.poll() is not None:
                    raise SystemExit(f"the receiver's server did not start: {self.proc.stderr.read().decode()}")
                time.sleep(0.1)
        self.stop()
        raise SystemExit("the receiver's server did not start within 60 s")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except Exception:  # noqa: BLE001
            self.proc.kill()


def setup(folder: Path, rows: int):
    import numpy as np
    import xarray as xr

    import pluma
    from pluma.federation import Federation

    sender = pluma.open(folder / "prime", user="admin")
    receiver = pluma.open(folder / "supplier", user="admin")
    fs, fr = Federation(sender), Federation(receiver)
    fs.keygen("prime")
    fr.keygen("supplier")
    fr.add_peer("prime", url="http://127.0.0.1:9", key=fs.public_key, rules=RULES)
    server = Server(folder / "supplier")  # another organisation: its own process
    fs.add_peer("supplier", url=server.url, key=fr.public_key, rules=RULES)
    program = sender.create_program("WING", classification="EAR99",
                                    members={"admin": ["program_manager", "engineer"]})
    for phase in PHASES:
        program.set_gate(phase, {"phase": phase})
    rng = np.random.default_rng(7)
    ds = xr.Dataset({"field": (("row", "col"), rng.random((rows, ROW)))}, coords={"row": np.arange(rows)})
    ds["field"].encoding["chunks"] = (1, ROW)
    program.context.set_params(span=35.8)
    program.context.put_dataset("field", ds)
    return sender, receiver, fs, fr, server, program, rng


def exchange(fs, program, rng, rows: int, change_rows: int, *, full: bool):
    import numpy as np
    import xarray as xr

    start = int(rng.integers(0, rows - change_rows + 1))
    region = xr.Dataset({"field": (("row", "col"), rng.random((change_rows, ROW)))},
                        coords={"row": np.arange(start, start + change_rows)})
    program.context.put_dataset("field", region)
    t0 = time.perf_counter()
    fc = program.advance("benchmark freeze")
    t1 = time.perf_counter()
    result = fs.push(fc, to="supplier", full=full)
    result.freeze_s, result.push_s = t1 - t0, time.perf_counter() - t1  # where the time went
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="50MB")
    parser.add_argument("--change", default="1MB")
    parser.add_argument("--exchanges", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="8 MiB, 256 KiB change, 5 exchanges (for tests)")
    args = parser.parse_args(argv)
    if args.quick:
        args.size, args.change, args.exchanges = "8MB", "256KB", 5
    size, change = parse_size(args.size), parse_size(args.change)
    rows, change_rows = max(size // (ROW * 8), 2), max(change // (ROW * 8), 1)
    change_bytes = change_rows * ROW * 8

    with tempfile.TemporaryDirectory(prefix="pluma-fed-bench-") as tmp:
        sender, receiver, fs, fr, server, program, rng = setup(Path(tmp), rows)
        try:
            t = time.perf_counter()
            seed = fs.push(program.advance("seed"), to="supplier")
            print(f"seed: {seed.objects_sent} objects, {seed.bytes_sent / 2**20:.1f} MiB in "
                  f"{time.perf_counter() - t:.2f} s (context {rows * ROW * 8 / 2**20:.1f} MiB, "
                  f"change {change_bytes / 2**20:.2f} MiB per exchange)")
            ours, naive = [], []
            for i in range(args.exchanges):
                ours.append(exchange(fs, program, rng, rows, change_rows, full=False))
                naive.append(exchange(fs, program, rng, rows, change_rows, full=True))
                print(f"  exchange {i + 1:3d}: ours FSL {ours[-1].fsl_ms:7.1f} ms, {ours[-1].bytes_sent:>10,} B   "
                      f"naive FSL {naive[-1].fsl_ms:7.1f} ms, {naive[-1].bytes_sent:>12,} B", flush=True)
        finally:
            server.stop()
        # the receiver has them all, queryable, and their values are the sender's
        received = receiver.query(program="prime--WING")
        assert len(received) == 2 * args.exchanges + 1, len(received)

    fsl_o = [r.fsl_ms for r in ours]
    fsl_n = [r.fsl_ms for r in naive]
    bytes_o = [r.bytes_sent for r in ours]
    bytes_n = [r.bytes_sent for r in naive]
    p50o, p99o, p50n, p99n = (percentile(fsl_o, 50), percentile(fsl_o, 99), percentile(fsl_n, 50),
                              percentile(fsl_n, 99))
    mean_o, mean_n = sum(bytes_o) / len(bytes_o), sum(bytes_n) / len(bytes_n)
    print()
    print(f"{'':28}{'incremental (ours)':>20}{'full copy (naive)':>20}{'naive/ours':>12}")
    print(f"{'FSL p50 (ms)':28}{p50o:20.1f}{p50n:20.1f}{p50n / p50o:12.1f}")
    print(f"{'FSL p99 (ms)':28}{p99o:20.1f}{p99n:20.1f}{p99n / p99o:12.1f}")
    print(f"{'bytes sent per exchange':28}{mean_o:20,.0f}{mean_n:20,.0f}{mean_n / mean_o:12.1f}")
    print(f"{'bytes sent / change':28}{max(bytes_o) / change_bytes:20.3f}{max(bytes_n) / change_bytes:20.3f}")
    med = statistics.median
    print(f"{'advance() wall, median (ms)':28}{1000 * med(r.freeze_s for r in ours):20.1f}"
          f"{1000 * med(r.freeze_s for r in naive):20.1f}   (freeze, tag, index, checksums: in FSL)")
    print(f"{'push() wall, median (ms)':28}{1000 * med(r.push_s for r in ours):20.1f}"
          f"{1000 * med(r.push_s for r in naive):20.1f}   (includes bookkeeping after queryable)")
    try:
        load = os.getloadavg()[0]
        print(f"load average during the run: {load:.1f} on {os.cpu_count()} cores (latency is only meaningful "
              "on a quiet machine)")
    except OSError:
        pass
    goal_latency = p99o < 300.0
    goal_bytes = max(bytes_o) <= 1.1 * change_bytes
    print(f"goal incremental p99 < 300 ms: {'met' if goal_latency else 'NOT met'} ({p99o:.1f} ms)")
    print(f"goal bytes sent <= 1.1x change: {'met' if goal_bytes else 'NOT met'} "
          f"(max {max(bytes_o) / change_bytes:.3f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
