#!/usr/bin/env bash
# CI proof that the SLURM profile (workflow/profiles/slurm) runs the workflow through the official
# executor plugin (snakemake-executor-plugin-slurm).
#
# It starts a throw-away single-node SLURM cluster on this machine (Debian 12, as root, no systemd):
# munge, slurmctld and slurmd from Debian's packages. Its state, spool, pid and log files live in
# one scratch folder ($SLURM_CI_DIR). Only its slurm.conf has to be at the standard place,
# /etc/slurm/slurm.conf: the plugin's job step strips SLURM_* variables (SLURM_CONF too) before it
# calls srun inside each job. A slurm.conf found there that is not this script's is set aside and
# put back. It then runs a representative part of the smoke DAG (fetch the data, train two Table 1
# rows, shrink and evaluate them) with --profile workflow/profiles/slurm in a scratch copy of the
# workflow, shrunk further by config/ci_slurm.yaml, and checks that every rule ran as a SLURM job:
# the sbatch job ids in Snakemake's log, one job log per id in .snakemake/slurm_logs, COMPLETED in
# squeue and in the job-completion log, and the controller's allocation records.
# About 2-2.5 minutes on 2 cores, most of it the workflow (the plugin polls job states with a
# back-off, which costs 10-25 s per DAG level on top of the jobs themselves).
#
# Teardown, on success, failure, time-out or interrupt: cancels what is left in the queue, stops the
# daemons this script started (by PID, never by name; a munged that was already running is left
# alone), removes its slurm.conf (restoring one it set aside) and a munge key it had to create, and
# deletes the scratch folder after a success (a failed run keeps it, prints its path and the
# daemons', Snakemake's and the jobs' logs). The Debian packages it had to install stay installed:
# inert without their daemons (no systemd, no enabled service), and the next run on the same machine
# skips the ~12 s install. SLURM_CI_PURGE=1 purges exactly the packages this run installed.
#
# Usage, as root:
#   ISS_DATA_MIRROR=../shared/data bash .ci/slurm_local.sh        # everything; exit 0 = pass
#   bash .ci/slurm_local.sh down                                   # clean up after a run killed by -9
# Knobs (environment):
#   ISS_DATA_MIRROR   data mirror with ptb/ (default: ../shared/data beside the checkout); made absolute
#   VENV              virtual environment with the project and the plugin (default: <repo>/.venv)
#   SLURM_CI_DIR      scratch folder (default: /tmp/iss-slurm-ci)
#   SLURM_CI_TARGETS  Snakemake targets, space-separated (default: the baseline and iss_a metrics of
#                     Table 1: fetch, train, shrink and evaluate, 5 SLURM jobs; `all` runs the whole
#                     DAG, which takes far longer: config/ci_slurm.yaml shrinks only Table 1)
#   SLURM_CI_TIMEOUT  seconds for everything before the teardown (default 1200; the workflow gets 900)
#   SLURM_CI_PURGE=1  purge the Debian packages this run installed
#   SLURM_CI_KEEP=1   keep the scratch folder after a successful run too
set -euo pipefail

SELF=$(readlink -f "$0")
REPO=$(cd "$(dirname "$SELF")/.." && pwd)
DIR=${SLURM_CI_DIR:-/tmp/iss-slurm-ci}
VENV=${VENV:-$REPO/.venv}
TOTAL=${SLURM_CI_TIMEOUT:-1200}
WORKFLOW_TIMEOUT=$(( TOTAL > 300 ? TOTAL - 300 : TOTAL / 2 ))
TARGETS=${SLURM_CI_TARGETS:-results/smoke/table1/baseline/seed1234/metrics.json results/smoke/table1/iss_a/seed1234/metrics.json}
PARTITION=ci
PACKAGES=(munge slurmctld slurmd slurm-client)
# The plugin versions this script was verified with; installed only if the venv lacks the plugin.
PLUGIN_PINS=(snakemake-executor-plugin-slurm==2.8.0 snakemake-executor-plugin-slurm-jobstep==0.6.1)

# Every slurm command, daemon and job reads this file. It must be the default path: the plugin's job
# step removes SLURM_* variables from the environment before it calls srun inside the job. (A
# SLURM_CONF naming a missing file also makes scontrol retry DNS lookups for a minute, and the plugin
# runs `scontrol show config` each time Snakemake loads it.)
SLURM_CONF_FILE=/etc/slurm/slurm.conf
unset SLURM_CONF
CONF_MARK="# Written by .ci/slurm_local.sh"
STARTED=$DIR/started        # "<comm> <pid>" of each daemon this script started, in start order
TIMES=$DIR/times            # "<phase>\t<seconds>"
MARK=$DIR/.iss-slurm-ci     # marks the scratch folder as ours (the only folder this script deletes)
SNAKELOG=$DIR/log/snakemake.log
WORK=$DIR/work

log() { echo "[slurm-ci $(date +%T)] $*" >&2; }
die() { log "FAILED: $*"; exit 1; }
alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }
comm_of() { cat "/proc/$1/comm" 2>/dev/null || true; }

# wait_for SECONDS CMD... : run CMD every 0.5 s until it succeeds; fail after SECONDS.
wait_for() {
  local limit=$1 end=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do
    (( SECONDS < end )) || { log "gave up after ${limit}s waiting for: $*"; return 1; }
    sleep 0.5
  done
}

# phase NAME FUNCTION : run one step, log and record its wall time.
phase() {
  local start=$EPOCHREALTIME secs
  log "== $1"
  printf '%s\t%s\n' "$1" "$start" > "$DIR/phase.running"   # a failed phase is timed by run_all
  "$2"
  secs=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
  printf '%s\t%s\n' "$1" "$secs" >> "$TIMES"
  log "== $1: done in ${secs}s"
  rm -f "$DIR/phase.running"
}

# record COMM PIDFILE : remember the daemon that just wrote PIDFILE (waits up to 20 s for it).
record() {
  local comm=$1 pidfile=$2 end=$((SECONDS + 20)) pid
  while (( SECONDS < end )); do
    pid=$(cat "$pidfile" 2>/dev/null || true)
    if alive "$pid" && [ "$(comm_of "$pid")" = "$comm" ]; then
      echo "$comm $pid" >> "$STARTED"; log "started $comm (pid $pid)"; return 0
    fi
    sleep 0.2
  done
  die "$comm did not come up (no live pid in $pidfile)"
}

# ------------------------------------------------------------------------------------------ steps
preflight() {
  [ "$(id -u)" = 0 ] || die "run as root (installs packages, starts munged/slurmctld/slurmd)"
  local d
  for d in slurmctld slurmd; do
    # Never share or reconfigure a cluster that this script did not start.
    if pgrep -x "$d" >/dev/null; then die "a $d is already running (pid $(pgrep -x "$d" | tr '\n' ' ')); not ours, refusing to touch it"; fi
  done
  pgrep -x slurmstepd | sort > "$DIR/slurmstepd.before" || true
  [ -x "$VENV/bin/snakemake" ] && [ -x "$VENV/bin/iss" ] \
    || die "no project venv at $VENV (run the README's install first, or set VENV)"
  if ! "$VENV/bin/python" -c 'import snakemake_executor_plugin_slurm' 2>/dev/null; then
    log "the venv lacks snakemake-executor-plugin-slurm: installing ${PLUGIN_PINS[*]}"
    timeout --foreground -k 10 300 "$VENV/bin/pip" install -q "${PLUGIN_PINS[@]}" > "$DIR/log/pip.log" 2>&1 \
      || { tail -20 "$DIR/log/pip.log" >&2; die "pip install of the plugin failed"; }
  fi
  log "$("$VENV/bin/python" - <<'EOF'
from importlib.metadata import version
print(", ".join(f"{p} {version(p)}" for p in ("snakemake", "snakemake-executor-plugin-slurm", "snakemake-executor-plugin-slurm-jobstep")))
EOF
)"
  local mirror=${ISS_DATA_MIRROR:-$REPO/../shared/data}
  # The jobs run in the scratch copy: a relative mirror path must not depend on the directory.
  MIRROR=$(cd "$REPO" && readlink -f "$mirror") || die "data mirror $mirror does not exist"
  [ -d "$MIRROR/ptb" ] || die "the data mirror $MIRROR has no ptb/ (set ISS_DATA_MIRROR)"
  echo "$MIRROR" > "$DIR/mirror"
  log "data mirror: $MIRROR"
}

install_packages() {
  local p missing=()
  for p in "${PACKAGES[@]}"; do
    [ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)" = installed ] || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    log "already installed: $(dpkg-query -W -f='${Package} ${Version}, ' "${PACKAGES[@]}")"; return 0
  fi
  log "installing (no recommends): ${missing[*]}"
  dpkg-query -W -f='${Package}\n' | sort > "$DIR/packages.before"
  # The maintainer scripts must not start services behind our back: deny it via policy-rc.d,
  # added only for the install if this machine has none.
  local own_policy=0 rc=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d; own_policy=1
  fi
  { timeout --foreground -k 10 300 apt-get update -q \
      && DEBIAN_FRONTEND=noninteractive timeout --foreground -k 10 600 apt-get install -y -q --no-install-recommends "${missing[@]}"
  } > "$DIR/log/apt.log" 2>&1 || rc=$?
  [ $own_policy = 0 ] || rm -f /usr/sbin/policy-rc.d
  dpkg-query -W -f='${Package}\n' | sort > "$DIR/packages.after"
  comm -13 "$DIR/packages.before" "$DIR/packages.after" > "$DIR/packages.installed"
  if [ $rc -ne 0 ]; then tail -30 "$DIR/log/apt.log" >&2; die "apt-get failed (rc $rc)"; fi
  log "installed $(wc -l < "$DIR/packages.installed") packages: $(tr '\n' ' ' < "$DIR/packages.installed")"
}

write_slurm_conf() {
  local node hw
  node=$(hostname -s)
  # This node's real hardware (CPUs=.. Boards=.. ... RealMemory=..): the node line must match it.
  hw=$(slurmd -C | head -1 | sed 's/^NodeName=[^ ]* //')
  install -d -m 755 "$DIR/spool"
  install -d -m 755 -o slurm -g slurm "$DIR/state" "$DIR/run" "$DIR/log"
  if [ -e "$SLURM_CONF_FILE" ] && ! head -1 "$SLURM_CONF_FILE" | grep -qF "$CONF_MARK"; then
    mv "$SLURM_CONF_FILE" "$DIR/slurm.conf.orig"; log "set aside the existing $SLURM_CONF_FILE (restored at teardown)"
  fi
  [ -d /etc/slurm ] || { install -d -m 755 /etc/slurm; touch "$DIR/created.etc-slurm"; }
  touch "$DIR/wrote.slurm.conf"
  cat > "$SLURM_CONF_FILE" <<EOF
$CONF_MARK for its CI cluster ($DIR); removed when it ends.
ClusterName=issci
SlurmctldHost=localhost
SlurmUser=slurm
AuthType=auth/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
# No cgroups needed (containers, cgroup v1 or v2 alike); limits are not enforced.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
MailProg=/bin/true
# No slurmdbd: sacct has no database, so Snakemake must poll with squeue (see run_workflow).
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
# A completion record per job without a database: the CI checks it.
JobCompType=jobcomp/filetxt
JobCompLoc=$DIR/log/jobcomp.log
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# Without it a job that asks for no memory gets the whole node and nothing runs beside it.
DefMemPerCPU=1024
# Finished jobs stay visible to squeue for 5 min; the plugin needs >= 3 x its first-check delay.
MinJobAge=300
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=10
Waittime=0
NodeName=$node NodeAddr=127.0.0.1 $hw State=UNKNOWN
PartitionName=$PARTITION Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
  log "slurm.conf: $SLURM_CONF_FILE (node $node: $hw)"
}

start_munged() {
  local pid
  pid=$(cat /run/munge/munged.pid 2>/dev/null || true)
  if alive "$pid" && [ "$(comm_of "$pid")" = munged ]; then
    log "munged already running (pid $pid, not ours: left running at teardown)"
  else
    if [ ! -s /etc/munge/munge.key ]; then   # normally made by the munge package's postinst
      mungekey --create --keyfile=/etc/munge/munge.key
      chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key
      touch "$DIR/created.munge.key"; log "created /etc/munge/munge.key (removed at teardown)"
    fi
    install -d -o munge -g munge -m 755 /run/munge
    runuser -u munge -- /usr/sbin/munged   # daemonizes, writes /run/munge/munged.pid
    record munged /run/munge/munged.pid
  fi
  wait_for 15 bash -c 'munge -n | unmunge' || die "munge does not work"
}

cluster_up() {
  write_slurm_conf
  start_munged
  /usr/sbin/slurmctld
  record slurmctld "$DIR/run/slurmctld.pid"
  wait_for 60 bash -c 'scontrol ping | grep -q "is UP"' || die "slurmctld does not answer"
  /usr/sbin/slurmd
  record slurmd "$DIR/run/slurmd.pid"
  local node; node=$(hostname -s)
  wait_for 60 bash -c "sinfo -h -n $node -o %T | grep -qx idle" || die "node $node did not become idle"
  sinfo
}

scheduler_smoke() {
  timeout --foreground -k 5 60 srun -N1 -n1 -c1 --mem=100 -t 1 hostname
  local jid out
  jid=$(timeout --foreground -k 5 60 sbatch --parsable -J iss-ci-smoke -t 1 --mem=100 -c 1 \
          -o "$DIR/log/smoke-%j.out" --wrap 'echo "batch job $SLURM_JOB_ID on $(hostname)"')
  # (sbatch --wait would poll with growing intervals: ~10 s for a 1 s job)
  wait_for 60 bash -c "squeue -h --states=all -j $jid -o %T | grep -qx COMPLETED" \
    || die "smoke batch job $jid did not complete: $(squeue -h --states=all -j "$jid" -o '%T %r')"
  out=$(cat "$DIR/log/smoke-$jid.out")
  echo "$out"
  [ "$out" = "batch job $jid on $(hostname)" ] || die "unexpected output of smoke job $jid"
}

run_workflow() {
  local mirror rc=0
  mirror=$(cat "$DIR/mirror")
  # A scratch copy, as the e2e test does: the checkout's results/ and .snakemake/ stay as they are.
  mkdir -p "$WORK"
  cp -r "$REPO/Snakefile" "$REPO/environment.yml" "$REPO/workflow" "$REPO/config" "$WORK/"  # tests/workflow_copy.py
  local -a targets; read -r -a targets <<< "$TARGETS"
  log "snakemake ${targets[*]} --profile workflow/profiles/slurm (log: $SNAKELOG)"
  # The CI cluster has no slurmdbd: poll with squeue (sacct would fail and the plugin would wait
  # forever), check early (the default 40 s first-check delay would make each DAG level cost 40 s),
  # keep the job logs to check them. No account exists: the plugin's attempt to guess one prints a
  # harmless "sacct: invalid option" warning and submits without -A.
  # timeout -k: while it waits on cluster jobs, Snakemake does not stop on SIGTERM alone.
  # --foreground (every inner timeout has it): stay in the body's process group, which the outer
  # timeout kills as a whole.
  ( cd "$WORK" && PATH="$VENV/bin:$PATH" ISS_DATA_MIRROR="$mirror" \
      timeout --foreground -k 30 "$WORKFLOW_TIMEOUT" "$VENV/bin/snakemake" "${targets[@]}" \
        --profile workflow/profiles/slurm --configfile config/ci_slurm.yaml \
        --jobs 2 --latency-wait 10 --slurm-status-command squeue \
        --slurm-init-seconds-before-status-checks 5 --slurm-keep-successful-logs
  ) > "$SNAKELOG" 2>&1 || rc=$?
  grep -E 'submitted with SLURM jobid|Finished jobid|Error|error' "$SNAKELOG" | sed 's/^/  | /' >&2 || true
  [ $rc -eq 0 ] || die "snakemake exited with $rc$([ $rc -eq 124 ] && echo " (time limit ${WORKFLOW_TIMEOUT}s)")"
}

verify() {
  local ids n expected id bad=0
  # Jobs Snakemake submitted (rules run locally print "localrule", e.g. the target rule `all`).
  expected=$(grep -c '^rule [A-Za-z0-9_]*:$' "$SNAKELOG" || true)
  ids=$(sed -n 's/.*submitted with SLURM jobid \([0-9][0-9]*\).*/\1/p' "$SNAKELOG" | sort -n | uniq)
  n=$(echo "$ids" | grep -c . || true)
  log "$n SLURM jobs submitted for $expected rule jobs: $(echo $ids)"
  [ "$n" -gt 0 ] && [ "$n" -eq "$expected" ] || die "expected one SLURM job per rule job ($expected), found $n"
  local list; list=$(echo $ids | tr ' ' ',')
  # 1. The scheduler's view (finished jobs stay in squeue for MinJobAge); the comment is the rule.
  squeue --states=all -j "$list" -o '%.6i %.10T %.4P %.4C %.8m %.8l %.8M %k' >&2
  [ "$(squeue -h --states=all -j "$list" -o %T | grep -cx COMPLETED)" -eq "$n" ] \
    || die "not every job is COMPLETED in squeue"
  # 2. The job-completion log, 3. the controller's allocation record, 4. the job's own log file.
  for id in $ids; do
    grep -q "^JobId=$id .*JobState=COMPLETED" "$DIR/log/jobcomp.log" \
      || { log "job $id: no COMPLETED record in the job-completion log"; bad=1; }
    grep -q "Allocate JobId=$id NodeList=" "$DIR/log/slurmctld.log" \
      || { log "job $id: no allocation in slurmctld.log"; bad=1; }
    find "$WORK/.snakemake/slurm_logs" -name "$id.log" | grep -q . \
      || { log "job $id: no log in .snakemake/slurm_logs"; bad=1; }
  done
  [ $bad = 0 ] || die "SLURM records incomplete"
  sacct -c -o JobID,JobName%36,Partition,NCPUS,State,Start,End 2>/dev/null | sed 's/^/  jobcomp | /' >&2 || true
  find "$WORK/.snakemake/slurm_logs" -name '*.log' | sed "s#^$WORK/#  job log | #" | sort >&2
  # 5. The rules' results are there, and the metrics are real numbers.
  local -a targets; read -r -a targets <<< "$TARGETS"
  local t
  for t in "${targets[@]}"; do
    [ "$t" = all ] && continue
    [ -s "$WORK/$t" ] || die "target $t is missing"
    case $t in *metrics.json)
      "$VENV/bin/python" -c 'import json, sys; m = json.load(open(sys.argv[1])); print(sys.argv[2], {k: v for k, v in m.items() if not isinstance(v, (dict, list))})' \
        "$WORK/$t" "$t" >&2 || die "$t is not valid JSON" ;;
    esac
  done
  log "OK: $n rule jobs ran as SLURM jobs $list, all COMPLETED"
}

body() {
  set -E   # report the failing command of any step, not only the ones that call die
  trap 'log "FAILED: \"$BASH_COMMAND\" returned $? (line $LINENO)"' ERR
  phase "preflight" preflight
  phase "packages" install_packages
  phase "cluster up" cluster_up
  phase "scheduler smoke" scheduler_smoke
  phase "workflow via SLURM" run_workflow
  phase "verify" verify
}

# ---------------------------------------------------------------------------------------- teardown
dump_logs() {
  local f
  for f in "$DIR/log/slurmctld.log" "$DIR/log/slurmd.log" "$SNAKELOG"; do
    [ -f "$f" ] && { echo "===== $f (last 80 lines)"; tail -n 80 "$f"; }
  done
  if [ -d "$WORK" ]; then
    find "$WORK/.snakemake/slurm_logs" "$WORK/results" -name '*.log' 2>/dev/null | sort | while read -r f; do
      echo "===== $f (last 30 lines)"; tail -n 30 "$f"
    done
  fi
} >&2

stop_pid() {   # stop_pid COMM PID: TERM, then KILL after 20 s; only if PID still is COMM
  local comm=$1 pid=$2 i
  alive "$pid" && [ "$(comm_of "$pid")" = "$comm" ] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 40); do alive "$pid" || break; sleep 0.5; done
  if alive "$pid"; then log "$comm ($pid) ignored SIGTERM: SIGKILL"; kill -KILL "$pid" 2>/dev/null || true; sleep 0.5; fi
  log "stopped $comm (pid $pid)"
}

teardown() {
  if [ ! -f "$MARK" ]; then log "teardown: no scratch folder $DIR, nothing to do"; return 0; fi
  local comm pid rc=0
  # A run whose shell was killed (-9) may have left its body running: its `timeout` leads a group.
  pid=$(cat "$DIR/body.pid" 2>/dev/null || true)
  if alive "$pid" && [ "$(comm_of "$pid")" = timeout ]; then
    log "stopping the run still going on (process group $pid)"
    kill -TERM -- "-$pid" 2>/dev/null || true; sleep 2; kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  rm -f "$DIR/body.pid"
  if [ -s "$STARTED" ]; then
    # Our controller is up: cancel whatever is left so that no job step outlives the daemons.
    if grep -q '^slurmctld ' "$STARTED" && timeout 10 scontrol ping 2>/dev/null | grep -q 'is UP'; then
      local left; left=$(timeout 10 squeue -h -o %i 2>/dev/null | tr '\n' ' ' || true)
      if [ -n "${left// /}" ]; then log "cancelling jobs still queued: $left"; timeout 20 scancel $left || true; fi
      wait_for 30 bash -c '[ -z "$(squeue -h -t running,completing 2>/dev/null)" ]' || true
    fi
    tac "$STARTED" | while read -r comm pid; do stop_pid "$comm" "$pid"; done
    # Job steps (slurmstepd) that appeared during the run are ours; stop them by PID.
    for pid in $(comm -13 "$DIR/slurmstepd.before" <(pgrep -x slurmstepd | sort) 2>/dev/null || true); do
      stop_pid slurmstepd "$pid"
    done
    while read -r comm pid; do
      if alive "$pid" && [ "$(comm_of "$pid")" = "$comm" ]; then log "$comm (pid $pid) is still running"; rc=1; fi
    done < "$STARTED"
    [ $rc -ne 0 ] || rm -f "$STARTED"
  fi
  if [ -f "$DIR/wrote.slurm.conf" ]; then
    if head -1 "$SLURM_CONF_FILE" 2>/dev/null | grep -qF "$CONF_MARK"; then rm -f "$SLURM_CONF_FILE"; fi
    if [ -f "$DIR/slurm.conf.orig" ]; then mv "$DIR/slurm.conf.orig" "$SLURM_CONF_FILE"; log "restored the original $SLURM_CONF_FILE"; fi
    if [ -f "$DIR/created.etc-slurm" ]; then rmdir /etc/slurm 2>/dev/null || true; rm -f "$DIR/created.etc-slurm"; fi
    rm -f "$DIR/wrote.slurm.conf"
  fi
  if [ -f "$DIR/created.munge.key" ]; then rm -f /etc/munge/munge.key "$DIR/created.munge.key"; log "removed the munge key it created"; fi
  if [ "${SLURM_CI_PURGE:-0}" = 1 ] && [ -s "$DIR/packages.installed" ]; then
    log "purging the packages this run installed"
    DEBIAN_FRONTEND=noninteractive timeout 300 apt-get purge -y -q $(cat "$DIR/packages.installed") > "$DIR/log/apt-purge.log" 2>&1 \
      || { tail -20 "$DIR/log/apt-purge.log" >&2; rc=1; }
    [ $rc -ne 0 ] || : > "$DIR/packages.installed"
  fi
  return $rc
}

# -------------------------------------------------------------------------------------------- main
run_all() {
  [ "$(id -u)" = 0 ] || die "run as root"
  if [ -e "$DIR" ] && [ ! -f "$MARK" ]; then die "$DIR exists and is not this script's scratch folder"; fi
  if [ -f "$MARK" ]; then
    log "an earlier run left $DIR behind: tearing it down first"
    teardown || die "could not tear down what the earlier run left"
  fi
  rm -rf "$DIR"
  mkdir -p "$DIR/log"; chmod 755 "$DIR"; touch "$MARK" "$TIMES"
  log "scratch folder $DIR; slurm.conf $SLURM_CONF_FILE; time limit ${TOTAL}s"
  local start=$EPOCHREALTIME rc=0 body_pid
  # The body runs under `timeout` in its own process group: a time-out kills all of it (Snakemake
  # included), while this shell survives to tear down. An interrupt of this shell is passed on.
  trap 'log "interrupted: stopping the run"; kill -TERM "$body_pid" 2>/dev/null || true' INT TERM HUP
  timeout -k 30 "$TOTAL" bash "$SELF" __body < /dev/null &
  body_pid=$!
  echo "$body_pid" > "$DIR/body.pid"
  wait "$body_pid" || rc=$?
  while alive "$body_pid"; do rc=0; wait "$body_pid" || rc=$?; done
  trap - INT TERM HUP
  # `timeout` led its own process group: whatever of the body survived it goes now.
  kill -KILL -- "-$body_pid" 2>/dev/null || true
  rm -f "$DIR/body.pid"
  [ $rc -ne 124 ] || log "FAILED: the run exceeded SLURM_CI_TIMEOUT=${TOTAL}s"
  if [ -f "$DIR/phase.running" ]; then
    awk -F'\t' -v now="$EPOCHREALTIME" '{ printf "%s (failed)\t%.1f\n", $1, now - $2 }' "$DIR/phase.running" >> "$TIMES"
    rm -f "$DIR/phase.running"
  fi
  [ $rc -eq 0 ] || dump_logs
  local t0=$EPOCHREALTIME
  log "== teardown"
  teardown || { log "FAILED: the teardown is incomplete (see above)"; rc=1; }
  printf '%s\t%s\n' "teardown" "$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')" >> "$TIMES"
  log "wall times (s):"
  awk -F'\t' '{ printf "  %-20s %6.1f\n", $1, $2 }' "$TIMES" >&2
  log "total: $(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }') s"
  if [ $rc -eq 0 ]; then
    if [ "${SLURM_CI_KEEP:-0}" = 1 ]; then log "kept $DIR"; else rm -rf "$DIR"; fi
    log "PASSED: the SLURM profile ran the workflow as SLURM jobs"
  else
    log "FAILED (rc $rc); logs and the workflow copy are in $DIR"
  fi
  return $rc
}

case "${1:-run}" in
  run) run_all ;;
  down) teardown ;;
  __body) body ;;
  *) echo "usage: $0 [run|down]" >&2; exit 2 ;;
esac
