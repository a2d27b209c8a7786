"""The drop transport: a shared folder, and an S3 bucket (moto on 127.0.0.1) with a
notification to the receiver's server so that it imports at once."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import make_bucket

from .conftest import OPEN_RULES, connect, frozen_program, loads


def test_folder_drop_push_pull_incremental_and_tampering(orgs, tmp_path):
    prime, supplier = orgs("prime", "supplier")
    connect(prime, supplier, url=False)
    drop = tmp_path / "drop"
    prog, fc = frozen_program(prime)

    sent = prime.fed.push(fc, to="supplier")
    assert sent.status == "delivered" and sent.transport == "drop" and sent.objects_sent == sent.objects_total
    assert supplier.ws.query().empty  # nothing happens at the receiver until it pulls
    [got] = supplier.fed.pull("prime")
    assert got["status"] == "imported" and got["program"] == "prime--AMPEL360"
    frozen = supplier.ws.frozen("prime--AMPEL360@CAD")
    np.testing.assert_array_equal(frozen.dataset("wing_loads")["load"].values, loads()["load"].values)
    area = drop / f"{prime.fed.identity.fingerprint}-{supplier.fed.identity.fingerprint}"
    assert not list((area / "bundles").iterdir()) and not list((area / "objects").iterdir())  # consumed
    receipt = json.loads(next((area / "receipts").iterdir()).read_text())
    assert receipt["manifest"]["status"] == "imported"

    # the receiver's signed have.json lets the sender skip what is there already
    assert prime.fed.push(fc, to="supplier").status == "up_to_date"
    changed = loads()
    changed["load"][:10] = 0.0
    prog.context.put_dataset("wing_loads", changed.isel(station=slice(0, 10)))
    fc2 = prog.advance("CAE")
    assert prime.fed.push(fc2, to="supplier").objects_sent == 1

    # a byte flipped in the drop: refused at pull, nothing imported
    obj = next((area / "objects").iterdir())
    data = bytearray(obj.read_bytes())
    data[-1] ^= 0xFF
    obj.write_bytes(bytes(data))
    [refused] = supplier.fed.pull("prime")
    assert refused["status"] == "refused" and "does not match its hash" in refused["reason"]
    assert list(supplier.ws.query()["phase"]) == ["CAD"]
    assert supplier.fed.pull("prime") == []


@pytest.mark.integration
def test_s3_drop_with_notification_imports_at_once(orgs, moto_server, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    bucket = make_bucket(moto_server)
    prime, supplier = orgs("prime", "supplier")
    options = {"endpoint_url": moto_server, "region": "us-east-1"}
    drop = f"s3://{bucket}/exchange"
    prime.fed.add_peer("supplier", url=supplier.url, drop=drop, drop_options=options, key=supplier.fed.public_key,
                       rules=OPEN_RULES)
    supplier.fed.add_peer("prime", drop=drop, drop_options=options, key=prime.fed.public_key, rules=OPEN_RULES)
    _, fc = frozen_program(prime)
    result = prime.fed.push(fc, to="supplier")
    assert result.transport == "drop" and result.status == "imported" and result.fsl_ms > 0
    assert supplier.ws.frozen("prime--AMPEL360@CAD").params["span"] == 35.8
    assert prime.fed.push(fc, to="supplier").status == "up_to_date"
