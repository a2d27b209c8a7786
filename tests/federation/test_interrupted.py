"""An interrupted push (the sender process killed with SIGKILL mid-transfer) resumes:
the next push sends only what did not arrive, and the import is intact."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np

from .conftest import connect, loads, new_program

SENDER = """
import sys
import pluma
from pluma.federation import Federation
ws = pluma.open(sys.argv[1], user="admin")
Federation(ws).push(sys.argv[2], to="supplier", batch_bytes=1, rate_limit=float(sys.argv[3]))
"""


def staged(org) -> list:
    folder = org.fed.local_dir / "staging" / "prime" / "objects"
    return [p for p in folder.iterdir() if not p.name.startswith(".")] if folder.exists() else []


def test_a_killed_push_resumes_without_sending_again_what_arrived(orgs):
    prime, supplier = orgs("prime", "supplier")
    connect(prime, supplier)
    prog = new_program(prime, "BIGWING", phases=("CAD",))
    big = loads(n=1_600_000, seed=3)  # 12.8 MB in 98 chunks of 128 KiB
    prog.context.put_dataset("wing_loads", big, label="EAR99")
    fc = prog.advance("big freeze")

    env = {**os.environ, "ICECHUNK_LOG": "error"}
    proc = subprocess.Popen([sys.executable, "-c", SENDER, str(prime.root), fc.ref, str(3 << 20)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while len(staged(supplier)) < 10:
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "the sender never got going"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    time.sleep(0.5)  # a request whose body had fully arrived is still staged
    arrived = len(staged(supplier))
    assert supplier.ws.query().empty  # nothing imported from the broken push

    result = prime.fed.push(fc, to="supplier")
    assert result.status == "imported"
    assert 10 <= arrived < result.objects_total
    assert result.objects_sent == result.objects_total - arrived  # nothing that arrived travels again
    got = supplier.ws.frozen("prime--BIGWING@CAD")
    np.testing.assert_array_equal(got.dataset("wing_loads")["load"].values, big["load"].values)
    assert staged(supplier) == []  # staging cleaned up (the abandoned bundle's too)
