#!/usr/bin/env bash
# A real one-node SLURM cluster on this machine, for `make cluster-test` and
# for trying the slurm profile by hand. Debian's packages (slurm-wlm 22.05,
# munge; slurmdbd and mariadb-server for sacct):
#
#   apt-get install -y slurm-wlm munge slurmdbd mariadb-server
#   scripts/cluster/slurm-cluster.sh up   DIR   # write the configs into DIR, start the daemons
#   export SLURM_CONF=DIR/etc/slurm.conf         # every SLURM command then talks to it
#   scripts/cluster/slurm-cluster.sh down DIR   # stop every daemon `up` started (by pidfile)
#
# Everything lives in DIR (configs, munge key and socket, state, spool, logs,
# the accounting database); nothing is written to /etc. The daemons run as
# root (SlurmUser=root), which is what a throwaway test cluster needs and no
# real cluster should do. Needs root.
#
# The node is this machine (2 cores, its memory) under the name `node1` at
# 127.0.0.1. Two partitions, `cpu` (the default) and `gpu`, hold the same node
# so workflows/profiles/slurm works unchanged; the node has no GPU, so jobs
# asking for GPUs (sbatch --gpus) would stay pending. The `cpu` partition lets
# up to OVERSUBSCRIBE jobs share each CPU (OverSubscribe=FORCE), so many small
# jobs run at once on 2 cores, as on a real cluster with many nodes.
#
# Environment: SLURM_PORT_BASE (default: a free range from 16817), OVERSUBSCRIBE (8).
set -euo pipefail

usage() { echo "usage: $0 up|down|status DIR" >&2; exit 2; }
[[ $# -eq 2 ]] || usage
cmd=$1
dir=$(realpath -m "$2")
etc=$dir/etc
run=$dir/run
logs=$dir/log
OVERSUBSCRIBE=${OVERSUBSCRIBE:-8}
node=node1
cluster=dqnharness

log() { echo "slurm-cluster: $*" >&2; }

# A TCP port on 127.0.0.1 that nothing listens on, from $1 upwards.
free_port() {
    local p=$1
    while (echo >"/dev/tcp/127.0.0.1/$p") 2>/dev/null; do p=$((p + 1)); done
    echo "$p"
}

# Stop the process of one pidfile: SIGTERM, then SIGKILL after $2 seconds.
stop_pidfile() {
    local name=$1 pidfile=$2 wait_s=${3:-20} pid
    [[ -s $pidfile ]] || return 0
    pid=$(<"$pidfile")
    if [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
        log "stopping $name (pid $pid)"
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq $((wait_s * 10))); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            log "$name (pid $pid) still alive after ${wait_s}s: SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -f "$pidfile"
}

wait_for() {  # wait_for SECONDS WHAT COMMAND...
    local timeout=$1 what=$2
    shift 2
    for _ in $(seq $((timeout * 5))); do
        if timeout 10 "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.2
    done
    log "$what did not come up within ${timeout}s"
    return 1
}

down() {
    # Jobs first: slurmstepd and the job's processes outlive slurmd, so every
    # job of this cluster (and no other: SLURM_CONF names it) is cancelled and
    # waited for while slurmctld and slurmd are still up to kill them.
    if [[ -s $run/slurmctld.pid ]] && kill -0 "$(<"$run/slurmctld.pid")" 2>/dev/null; then
        export SLURM_CONF=$etc/slurm.conf
        if [[ -n $(timeout 10 squeue -h -o %i 2>/dev/null) ]]; then
            log "cancelling the jobs still queued or running"
            timeout 10 scancel --full --user="$(id -un)" 2>/dev/null || true
            # Until nothing is pending, running or completing (KillWait is 10 s).
            for _ in $(seq 60); do
                [[ -z $(timeout 10 squeue -h -o %i 2>/dev/null) ]] && break
                sleep 1
            done
        fi
    fi
    # The daemons in the reverse order of `up`, each by its own pidfile.
    stop_pidfile slurmd "$run/slurmd.pid" 30
    stop_pidfile slurmctld "$run/slurmctld.pid" 30
    stop_pidfile slurmdbd "$run/slurmdbd.pid" 30
    stop_pidfile mariadbd "$run/mariadb.pid" 60
    stop_pidfile munged "$run/munged.pid" 10
}

status() {
    local name pidfile ok=0
    for name in munged mariadb slurmdbd slurmctld slurmd; do
        pidfile=$run/$name.pid
        if [[ -s $pidfile ]] && kill -0 "$(<"$pidfile")" 2>/dev/null; then
            echo "$name running (pid $(<"$pidfile"))"
        else
            echo "$name not running"
            ok=1
        fi
    done
    return $ok
}

up() {
    [[ $(id -u) -eq 0 ]] || { log "needs root"; exit 1; }
    for bin in munged slurmctld slurmd slurmdbd mariadbd mariadb-install-db sbatch sacct; do
        command -v "$bin" >/dev/null || {
            log "$bin missing: apt-get install -y slurm-wlm munge slurmdbd mariadb-server"
            exit 1
        }
    done
    if [[ -s $run/slurmctld.pid ]] && kill -0 "$(<"$run/slurmctld.pid")" 2>/dev/null; then
        log "a cluster is already running from $dir"
        exit 1
    fi
    mkdir -p "$etc" "$run" "$logs" "$dir/state" "$dir/spool" "$dir/munge" "$dir/db"
    chmod 700 "$dir/munge" "$etc"

    local base=${SLURM_PORT_BASE:-16817}
    local ctld_port slurmd_port dbd_port db_port
    ctld_port=$(free_port "$base")
    slurmd_port=$(free_port $((ctld_port + 1)))
    dbd_port=$(free_port $((slurmd_port + 1)))
    db_port=$(free_port $((dbd_port + 1)))

    local cpus mem_mb host
    cpus=$(nproc)
    # What slurmd sees, less 1 GiB for the daemons themselves.
    mem_mb=$(($(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p') - 1024))
    host=$(hostname -s)

    # munge: its own key and socket in DIR.
    local socket=$dir/munge/munge.socket
    if [[ ! -s $dir/munge/munge.key ]]; then
        dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
        chmod 400 "$dir/munge/munge.key"
    fi
    log "starting munged"
    munged --force --key-file="$dir/munge/munge.key" --socket="$socket" \
        --pid-file="$run/munged.pid" --log-file="$logs/munged.log" \
        --seed-file="$dir/munge/munged.seed"
    wait_for 20 munged bash -c "munge --socket='$socket' -n | unmunge --socket='$socket'"

    # MariaDB for slurmdbd (sacct reads the accounting database), on 127.0.0.1.
    log "starting mariadbd on 127.0.0.1:$db_port"
    if [[ ! -d $dir/db/mysql ]]; then
        mariadb-install-db --user=root --datadir="$dir/db" --auth-root-authentication-method=normal \
            --skip-test-db >"$logs/mariadb-install.log" 2>&1
    fi
    mariadbd --no-defaults --user=root --datadir="$dir/db" --bind-address=127.0.0.1 \
        --port="$db_port" --socket="$run/mariadb.sock" --pid-file="$run/mariadb.pid" \
        --log-error="$logs/mariadb.log" --innodb-buffer-pool-size=64M \
        --skip-name-resolve >/dev/null 2>&1 &
    wait_for 60 mariadbd mariadb --no-defaults --socket="$run/mariadb.sock" -uroot -e "select 1"
    mariadb --no-defaults --socket="$run/mariadb.sock" -uroot -e "
        CREATE DATABASE IF NOT EXISTS slurm_acct_db;
        CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurm';
        GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';"

    cat >"$etc/slurmdbd.conf" <<EOF
# Written by scripts/cluster/slurm-cluster.sh
AuthType=auth/munge
AuthInfo=socket=$socket
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$dbd_port
SlurmUser=root
PidFile=$run/slurmdbd.pid
LogFile=$logs/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$db_port
StorageUser=slurm
StoragePass=slurm
StorageLoc=slurm_acct_db
EOF
    chmod 600 "$etc/slurmdbd.conf"

    cat >"$etc/slurm.conf" <<EOF
# Written by scripts/cluster/slurm-cluster.sh: one node ($host as $node, 127.0.0.1).
ClusterName=$cluster
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$socket
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$run/slurmctld.pid
SlurmdPidFile=$run/slurmd.pid
SlurmctldLogFile=$logs/slurmctld.log
SlurmdLogFile=$logs/slurmd.log
PlugStackConfig=$etc/plugstack.conf
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=$dbd_port
# Clients (sacct, sacctmgr) authenticate to slurmdbd with the munge socket
# named here, not AuthInfo's (without it they look for /run/munge).
AccountingStoragePass=socket=$socket
# sacct shows each job's --comment (the SLURM executor writes the rule and
# wildcards there).
AccountingStoreFlags=job_comment
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=5
ReturnToService=2
# Jobs stay visible to squeue for 10 minutes after they end.
MinJobAge=600
# A requeued job may start again at once.
JobRequeue=1
KillWait=10
InactiveLimit=0
SlurmctldTimeout=30
SlurmdTimeout=60
NodeName=$node NodeHostname=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=cpu Nodes=$node Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:$OVERSUBSCRIBE
PartitionName=gpu Nodes=$node MaxTime=INFINITE State=UP OverSubscribe=FORCE:$OVERSUBSCRIBE
EOF
    : >"$etc/plugstack.conf"
    export SLURM_CONF=$etc/slurm.conf

    log "starting slurmdbd on 127.0.0.1:$dbd_port"
    # slurmdbd reads slurmdbd.conf beside $SLURM_CONF.
    slurmdbd
    wait_for 30 slurmdbd bash -c "sacctmgr -n show cluster"
    sacctmgr -i add cluster "$cluster" >/dev/null 2>&1 || true
    sacctmgr -i add account dqn Cluster="$cluster" Description=dqn-harness Organization=test >/dev/null 2>&1 || true
    sacctmgr -i add user root Account=dqn >/dev/null 2>&1 || true

    log "starting slurmctld on 127.0.0.1:$ctld_port"
    slurmctld -f "$etc/slurm.conf"
    wait_for 30 slurmctld scontrol ping

    log "starting slurmd ($node)"
    slurmd -f "$etc/slurm.conf" -N "$node"
    wait_for 60 "node $node idle" bash -c "sinfo -h -n $node -o %t | grep -q idle"

    sinfo >&2
    echo "export SLURM_CONF=$etc/slurm.conf"
}

case $cmd in
up)
    # A failed start leaves nothing running.
    trap 'rc=$?; if [[ $rc -ne 0 ]]; then log "start failed (exit $rc): stopping what started; logs in $logs"; down; fi' EXIT
    up
    trap - EXIT
    ;;
down) down ;;
status) status ;;
*) usage ;;
esac
