"""dask-gateway-server for PLUMA: clusters belong to a program, quotas hold per program.

Run it from the repository root::

    PLUMA_GATEWAY_WORKSPACE=pluma-home \\
    PLUMA_GATEWAY_PASSWORD=$(openssl rand -hex 16) \\
    .venv/bin/dask-gateway-server -f hub-config/dask_gateway_config.py

A user picks the ``program`` of a cluster (``gateway.new_cluster(program=
"AMPEL360")``); only the program's members may. Every cluster of every member
of a program together stays within the program's ``quotas`` (``cores``,
``memory_gb``): schedulers and workers reserve their cores and memory in a
shared ledger (pluma.gateway.quotas) before they start; a cluster beyond the
quota is refused, a worker beyond it is not started and waits until another
cluster of the program frees resources. Dask Gateway itself only limits each
cluster: here each cluster is also capped at its program's whole quota.

Environment (everything listens on 127.0.0.1):

    PLUMA_GATEWAY_WORKSPACE     PLUMA workspace (programs, members, quotas)   required
    PLUMA_GATEWAY_DIR           ledger and cluster working directories        default <workspace>/gateway
    PLUMA_GATEWAY_LEDGER        program quota ledger (sqlite)                 default $PLUMA_GATEWAY_DIR/program-quotas.sqlite
    PLUMA_GATEWAY_PORT          HTTP API and dashboards                       default 8010
    PLUMA_GATEWAY_TCP_PORT      scheduler proxy (clients use
                                proxy_address="gateway://127.0.0.1:PORT")     default 8011
    PLUMA_GATEWAY_INTERNAL_PORT the gateway's private API (behind the proxy)  default 8012
    PLUMA_GATEWAY_PASSWORD      shared password (SimpleAuthenticator; for a
                                local gateway only - under JupyterHub use
                                JupyterHubAuthenticator)                      required
    PLUMA_GATEWAY_WORKER_CORES  default cores of a worker                     default 1
    PLUMA_GATEWAY_WORKER_MEMORY_GIB  default memory of a worker               default 1
    PLUMA_GATEWAY_SCHEDULER_CORES / _SCHEDULER_MEMORY_GIB  (count against the
                                program quota too)                            default 1 / 1
    PLUMA_GATEWAY_LOG_LEVEL     DEBUG, INFO, WARNING ...                      default INFO
"""

import os
import sys
from pathlib import Path

c = get_config()  # noqa: F821 - provided by traitlets when the file is loaded


def _env(name, default=None):
    value = os.environ.get(name)
    return value if value not in (None, "") else default


workspace = _env("PLUMA_GATEWAY_WORKSPACE")
if workspace is None:
    raise SystemExit("PLUMA_GATEWAY_WORKSPACE must name the PLUMA workspace holding the programs")
password = _env("PLUMA_GATEWAY_PASSWORD")
if password is None or len(password) < 8:
    raise SystemExit("PLUMA_GATEWAY_PASSWORD must be set (>= 8 characters)")
gateway_dir = Path(_env("PLUMA_GATEWAY_DIR", str(Path(workspace) / "gateway"))).resolve()
gateway_dir.mkdir(parents=True, exist_ok=True)
port = int(_env("PLUMA_GATEWAY_PORT", "8010"))
tcp_port = int(_env("PLUMA_GATEWAY_TCP_PORT", "8011"))
internal_port = int(_env("PLUMA_GATEWAY_INTERNAL_PORT", "8012"))
GIB = 2**30

# dask-gateway-server itself
c.DaskGateway.address = f"127.0.0.1:{internal_port}"  # private API, behind the proxy
c.Proxy.address = f"127.0.0.1:{port}"
c.Proxy.tcp_address = f"127.0.0.1:{tcp_port}"
c.DaskGateway.log_level = _env("PLUMA_GATEWAY_LOG_LEVEL", "INFO")

c.DaskGateway.authenticator_class = "dask_gateway_server.auth.SimpleAuthenticator"
c.SimpleAuthenticator.password = password

# local processes with the venv's dask (there is no dask-scheduler script any more)
c.DaskGateway.backend_class = "pluma.gateway.quotas.ProgramQuotaBackend"
c.ProgramQuotaBackend.workspace = str(Path(workspace).resolve())
c.ProgramQuotaBackend.ledger_path = str(
    Path(_env("PLUMA_GATEWAY_LEDGER", str(gateway_dir / "program-quotas.sqlite"))).resolve())
c.ProgramQuotaBackend.clusters_directory = str(gateway_dir / "clusters")
c.ProgramQuotaBackend.check_timeouts_period = 5.0
dask = str(Path(sys.executable).parent / "dask")
c.ClusterConfig.scheduler_cmd = [dask, "scheduler"]
c.ClusterConfig.worker_cmd = [dask, "worker"]
c.ClusterConfig.scheduler_cores = int(_env("PLUMA_GATEWAY_SCHEDULER_CORES", "1"))
c.ClusterConfig.scheduler_memory = int(float(_env("PLUMA_GATEWAY_SCHEDULER_MEMORY_GIB", "1")) * GIB)
c.ClusterConfig.idle_timeout = 3600

default_worker_cores = int(_env("PLUMA_GATEWAY_WORKER_CORES", "1"))
default_worker_memory = float(_env("PLUMA_GATEWAY_WORKER_MEMORY_GIB", "1"))

from dask_gateway_server.options import Float, Integer, Options, Select, String  # noqa: E402

from pluma.gateway.quotas import ProgramDirectory  # noqa: E402

directory = ProgramDirectory(c.ProgramQuotaBackend.workspace)


def options_handler(options, user):
    """The cluster's configuration from its program: worker size, and the program's quota as cap."""
    program, quota = directory.quota_for(user.name, options.program)  # PermissionError: not a member
    out = {
        "worker_cores": options.worker_cores,
        "worker_memory": int(options.worker_memory * GIB),
        "environment": {"PLUMA_PROGRAM": program, "PLUMA_USER": user.name},
    }
    # no one cluster may be larger than its program's whole quota; what the
    # program's other clusters hold is enforced by the ledger as they scale
    if quota.cores is not None:
        out["cluster_max_cores"] = quota.cores
    if quota.memory is not None:
        out["cluster_max_memory"] = quota.memory
    return out


def cluster_options(user):
    """Options offered to ``user``: a program among theirs, and the worker size."""
    programs = directory.programs_of(user.name)
    if programs:
        program = Select("program", programs, default=programs[0], label="Program")
    else:  # no program: any name is refused by the handler
        program = String("program", "", label="Program")
    return Options(
        program,
        Integer("worker_cores", default_worker_cores, min=1, max=16, label="Worker cores"),
        Float("worker_memory", default_worker_memory, min=0.25, max=64, label="Worker memory (GiB)"),
        handler=options_handler,
    )


c.ProgramQuotaBackend.cluster_options = cluster_options
