#!/usr/bin/env bash
# EMR bootstrap action (every node): install the project into /opt/shop-recs and start Dask:
# the scheduler on the primary node, one worker per core/task node. Dask-on-YARN
# (dask-yarn) no longer imports with current Dask, so Dask runs as plain systemd services.
#
# Args: WHEEL_S3_URI [WORKER_MEMORY_FRACTION]
#   WHEEL_S3_URI: s3://.../shop_recs-<version>-py3-none-any.whl (built by `make wheel`)
set -euo pipefail

WHEEL_S3_URI=${1:?usage: bootstrap.sh s3://bucket/path/shop_recs-VERSION-py3-none-any.whl [memory fraction]}
MEMORY_FRACTION=${2:-0.8}
PREFIX=/opt/shop-recs
SCHEDULER_PORT=8786
DASHBOARD_PORT=8787

sudo dnf install -y -q python3.11 python3.11-pip jq
sudo python3.11 -m venv "$PREFIX"
wheel="/tmp/$(basename "$WHEEL_S3_URI")"
aws s3 cp --only-show-errors "$WHEEL_S3_URI" "$wheel"
sudo "$PREFIX/bin/pip" install --quiet --upgrade pip
# The batch job's role only (the `engine` extra): no grpc server, redis or uvloop.
sudo "$PREFIX/bin/pip" install --quiet "${wheel}[engine]"

is_primary=$(jq -r '.isMaster' /mnt/var/lib/info/instance.json)
primary_host=$(jq -r '.masterPrivateDnsName' /mnt/var/lib/info/job-flow.json)

if [ "$is_primary" = "true" ]; then
    unit=dask-scheduler
    exec_start="$PREFIX/bin/dask scheduler --port $SCHEDULER_PORT --dashboard-address :$DASHBOARD_PORT"
else
    unit=dask-worker
    mem_kb=$(awk '/MemTotal/ {print $2}' /proc/meminfo)
    memory_limit=$(awk -v kb="$mem_kb" -v f="$MEMORY_FRACTION" 'BEGIN {printf "%dMiB", kb * f / 1024}')
    # One process per core, one thread each: the per-partition work is numpy/pandas.
    exec_start="$PREFIX/bin/dask worker tcp://$primary_host:$SCHEDULER_PORT --nworkers $(nproc) --nthreads 1 --memory-limit $memory_limit --local-directory /mnt/dask"
    sudo mkdir -p /mnt/dask && sudo chown hadoop:hadoop /mnt/dask
fi

# Restart=always: workers come up before the scheduler on a fresh cluster and retry.
sudo tee "/etc/systemd/system/$unit.service" >/dev/null <<UNIT
[Unit]
Description=$unit for profile-engine
After=network-online.target

[Service]
User=hadoop
# The ranker's compiled kernels (numba) are cached here: compiled once per node (a few
# seconds), loaded by every later worker process (the install prefix is root's).
Environment=NUMBA_CACHE_DIR=/mnt/dask/numba-cache
ExecStart=$exec_start
Restart=always
RestartSec=5

[Install]
WantedBy=multi-user.target
UNIT
sudo systemctl daemon-reload
sudo systemctl enable --now "$unit"
