#!/usr/bin/env bash
# A real Slurm check of `biaslens sweep` (issue 19), not run in CI: it needs root, Debian's
# slurm-wlm and munge, and a minute of a one-node cluster on localhost.
#
#   sudo apt-get install -y --no-install-recommends slurm-wlm munge
#   cargo build -p biaslens-cli && sudo bash tests/slurm/local_cluster.sh [target/debug/biaslens]
#
# It starts munged, slurmctld and slurmd with a throwaway config in a temporary folder (no
# cgroups, no accounting: proctrack/linuxproc, task/none), writes a 2 φ × 2 seeds experiment,
# lets `biaslens sweep --slurm` write the array and merge jobs, submits them with the generated
# submit.sh, waits for the merge job, and checks that the merged results equal a single
# `biaslens run` of the same config, number for number (timings aside). The daemons are stopped
# on exit. The run recorded in BENCHMARKS.md ("Slurm") is this script's output.
set -euo pipefail
BIASLENS="$(realpath "${1:-target/debug/biaslens}")"
[ -x "$BIASLENS" ] || { echo "no biaslens binary at $BIASLENS (cargo build -p biaslens-cli)"; exit 2; }
for tool in munged slurmctld slurmd sbatch squeue python3; do
  command -v "$tool" > /dev/null || { echo "$tool is missing: sudo apt-get install -y slurm-wlm munge"; exit 2; }
done
W="$(mktemp -d /tmp/biaslens-slurm.XXXXXX)"
mkdir -p "$W/state" "$W/spool" "$W/munge" "$W/jobs"
cleanup() {
  for f in slurmd slurmctld; do [ -f "$W/$f.pid" ] && kill "$(cat "$W/$f.pid")" 2> /dev/null || true; done
  [ -f "$W/munge/munged.pid" ] && kill "$(cat "$W/munge/munged.pid")" 2> /dev/null || true
}
trap cleanup EXIT

# munge: a fresh key, its own socket.
mungekey --create --keyfile "$W/munge/munge.key" --force > /dev/null 2>&1 || dd if=/dev/urandom of="$W/munge/munge.key" bs=1024 count=1 2> /dev/null
chmod 400 "$W/munge/munge.key"
munged --force --key-file "$W/munge/munge.key" --socket "$W/munge/munge.socket" --pid-file "$W/munge/munged.pid" --log-file "$W/munge/munged.log" --seed-file "$W/munge/munge.seed"

host="$(hostname -s)"
mem_mb=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))
cat > "$W/slurm.conf" <<CONF
ClusterName=biaslens-local
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$W/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$W/state
SlurmdSpoolDir=$W/spool
SlurmctldPidFile=$W/slurmctld.pid
SlurmdPidFile=$W/slurmd.pid
SlurmctldLogFile=$W/slurmctld.log
SlurmdLogFile=$W/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
ReturnToService=2
NodeName=$host CPUs=$(nproc) RealMemory=$mem_mb State=UNKNOWN
PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$W/slurm.conf"
slurmctld -f "$SLURM_CONF"
slurmd -f "$SLURM_CONF"
for _ in $(seq 30); do sinfo -h -o %T 2> /dev/null | grep -q idle && break; sleep 1; done
sinfo

# The experiment: 2 φ × 2 seeds, tiny.
cat > "$W/exp.json" <<'JSON'
{"name": "slurm-local", "seeds": [1, 2], "phis": [-0.6, -0.9],
 "data": {"synthetic": {"size": 32, "seed": 3}, "pool": 2000},
 "splits": {"train": 256, "debias": 96, "test": 48},
 "train": {"learning_rate": 0.003, "batch_size": 32, "epochs": 1, "seed": 1},
 "methods": [{"method": "thr_opt"}, {"method": "a_clarc", "config": {"batch_size": 32}}],
 "attribution": {"images": 8, "batch_size": 8, "methods": [{"method": "lrp"}]},
 "metrics": {"bootstrap": {"resamples": 20}}}
JSON
start=$(date +%s)
"$BIASLENS" sweep --config "$W/exp.json" --slurm "$W/jobs" --shards 3 --cpus 1 --time 0:10:00
bash "$W/jobs/submit.sh" | tee "$W/submit.out"
merge_id="$(sed -n 's/.*merge job \([0-9]*\).*/\1/p' "$W/submit.out")"
for _ in $(seq 300); do
  squeue -h -j "$merge_id" 2> /dev/null | grep -q . || break
  sleep 1
done
end=$(date +%s)
[ -f "$W/jobs/results.json" ] || { echo "no merged results; logs:"; tail -n 20 "$W"/jobs/logs/*.log "$W/slurmctld.log"; exit 1; }
"$BIASLENS" run --quiet --config "$W/exp.json" --out "$W/single.html" --json "$W/single.json" > /dev/null
python3 - "$W/jobs/results.json" "$W/single.json" <<'PY'
import json, sys
def strip(d):
    d = dict(d); d.pop("timings", None); d.pop("total_seconds", None)
    for p in d["phis"]:
        for m in p["models"]:
            m.pop("seconds", None)
    return d
a, b = (strip(json.load(open(f))) for f in sys.argv[1:3])
assert a == b, "the merged Slurm results differ from a single run"
print(f"merged Slurm results equal a single run: {len(a['phis'])} units, {sum(len(p['models']) for p in a['phis'])} model results")
PY
echo "array of 3 tasks + merge on a one-node Slurm ($(sinfo -V)): $((end - start)) s from sweep to merged report"
