#!/usr/bin/env bash
# Smoke test of the mail lab: installs the packages, runs a lab with
# automatic ports in a fresh /tmp dir, checks delivery, group aliases,
# refusal of unknown users, TLS and AUTH, Dovecot restart/stop and Postfix
# stop/start, measures delivery latency, stops the lab and checks that
# none of its processes remain. A second lab (own users file and domain)
# runs beside the first. Needs root and python3. Prints timings.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
LAB=$HERE/lab.sh
CHECK=(python3 "$HERE/labcheck.py")

passed=0
ok() { echo "ok - $*"; passed=$((passed + 1)); }
fail() { echo "not ok - $*"; echo "smoke: $passed passed, 1 failed"; exit 1; }
secs() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }'; }
# Runs a labcheck step; each "ok - " line it prints counts as a pass.
check() {
  local out
  out=$("${CHECK[@]}" "$@" 2>&1) || { echo "$out"; fail "labcheck $*"; }
  echo "$out"
  passed=$((passed + $(grep -c '^ok - ' <<<"$out" || true)))
}

# Live pids whose session is one of the given ones (both daemons' masters
# lead their own session), and any process still naming the state dir.
leftovers() {
  local dir=$1 f line rest st sid
  shift
  for f in /proc/[0-9]*/stat; do
    line=$(cat "$f" 2>/dev/null) || continue
    rest=${line##*) }
    read -r st _ _ sid _ <<<"$rest"
    [[ $st == Z ]] && continue
    f=${f%/stat}
    if [[ " $* " == *" $sid "* ]] ||
      tr '\0' ' ' 2>/dev/null <"$f/cmdline" | grep -qF -- "$dir" ||
      tr '\0' '\n' 2>/dev/null <"$f/environ" | grep -qF -- "$dir"; then
      echo "${f#/proc/}"
    fi
  done
}

t=$EPOCHREALTIME
"$LAB" install
T_INSTALL=$(secs "$t")
ok "install (${T_INSTALL} s)"

A=$(mktemp -d /tmp/lab-smoke.XXXXXX)
B=$(mktemp -d /tmp/lab-smoke.XXXXXX)
cleanup() {
  "$LAB" stop "$A" >/dev/null 2>&1 || true
  "$LAB" stop "$B" >/dev/null 2>&1 || true
  if [[ ${passed_all:-} == 1 ]]; then rm -rf "$A" "$B"; else echo "kept $A and $B for inspection"; fi
}
trap cleanup EXIT

t=$EPOCHREALTIME
env_out=$(LAB_PORTS=auto "$LAB" start "$A")
T_START=$(secs "$t")
echo "$env_out"
# shellcheck disable=SC1091
. "$A/lab.env"
[[ $STATE_DIR == "$A" && $DOMAIN == corp.test && -n $IMAP_PORT && -n $IMAPS_PORT && -n $SMTP_PORT && -n $PASSWORD ]] ||
  fail "lab.env lacks a variable"
[[ $env_out == "$(cat "$A/lab.env")" ]] || fail "start's output differs from lab.env"
ok "start with LAB_PORTS=auto (${T_START} s): IMAP $IMAP_PORT, IMAPS $IMAPS_PORT, SMTP $SMTP_PORT"
"$LAB" status "$A" >/dev/null || fail "status says not running"
ok "status: running"
if LAB_PORTS=auto "$LAB" start "$A" >/dev/null 2>&1; then fail "second start in the same dir succeeded"; fi
ok "start refuses a dir whose lab runs"

# A second lab beside the first: own ports, users file and domain.
cat >"$B/users" <<'EOF'
# a users file: one user per line, groups as "group: member, member"
workflow
ann
ben
team: ann, ben
EOF
LAB_PORTS=auto "$LAB" start "$B" --users "$B/users" --domain example.test >/dev/null
# shellcheck disable=SC1091
B_SMTP=$(. "$B/lab.env" && echo "$SMTP_PORT")
[[ $B_SMTP != "$SMTP_PORT" ]] || fail "two labs got the same SMTP port"
ok "second lab runs beside the first (SMTP $B_SMTP)"
check "$B" send team "to the team"
check "$B" wait ann 1
check "$B" wait ben 1
b_sessions=$(cat "$B/pids/dovecot.pid" "$B/pids/postfix.pid")
t=$EPOCHREALTIME
"$LAB" stop "$B"
ok "second lab stopped ($(secs "$t") s)"

check "$A" deliver
check "$A" reject
check "$A" tls-auth
check "$A" offsite

# Dovecot restarted while a client IDLEs: the session drops, IMAP answers
# again.
rm -f "$A/idling"
"${CHECK[@]}" "$A" idle-drop "$A/idling" >"$A/idle.out" 2>&1 &
idle_pid=$!
for _ in $(seq 100); do [[ -f $A/idling ]] && break; sleep 0.05; done
[[ -f $A/idling ]] || fail "IDLE did not start"
t=$EPOCHREALTIME
"$LAB" restart-dovecot "$A"
T_RESTART=$(secs "$t")
wait "$idle_pid" || { cat "$A/idle.out"; fail "IDLE client"; }
cat "$A/idle.out"
passed=$((passed + 1))
ok "restart-dovecot (${T_RESTART} s)"
check "$A" imap-again

# Dovecot down for a while: Postfix queues the mail and delivers it soon
# after Dovecot is back (queue_run_delay and backoff are 1 s).
"$LAB" stop-dovecot "$A"
check "$A" send bob "while dovecot is down"
sleep 1
[[ -z $(ls -A "$A/mail/bob/Maildir/new" 2>/dev/null) ]] || fail "bob got mail while Dovecot was down"
"$LAB" start-dovecot "$A"
check "$A" wait bob 1

# Postfix stopped for a while, then started again.
"$LAB" stop-postfix "$A"
check "$A" smtp-down
sleep 1
"$LAB" start-postfix "$A"
check "$A" send carol "after postfix restart"
check "$A" wait carol 1

check "$A" latency 20

sessions=$(cat "$A/pids/dovecot.pid" "$A/pids/postfix.pid")
t=$EPOCHREALTIME
"$LAB" stop "$A"
T_STOP=$(secs "$t")
ok "stop (${T_STOP} s)"
# shellcheck disable=SC2086
left=$(leftovers "$A" $sessions)
[[ -z $left ]] || { ps -o pid,sid,stat,cmd -p "$(echo "$left" | tr '\n' ,)"; fail "processes remain"; }
ok "no process of the lab remains"
"$LAB" stop "$A" || fail "second stop"
ok "stop is idempotent"
if "$LAB" status "$A" >/dev/null; then fail "status says running after stop"; fi
ok "status: stopped"
# shellcheck disable=SC2086
left=$(leftovers "$B" $b_sessions)
[[ -z $left ]] || fail "processes of the second lab remain"

echo "timings: install ${T_INSTALL} s, start ${T_START} s, restart-dovecot ${T_RESTART} s, stop ${T_STOP} s"
passed_all=1
echo "smoke: $passed passed, 0 failed"
