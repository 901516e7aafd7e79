#!/usr/bin/env bash
# A private mail lab on loopback for crossdesk's tests and benchmarks:
# Dovecot (IMAP, IMAPS, LMTP) and Postfix (SMTP) from Debian's packages,
# run as root without systemd, every file under one state directory,
# listening on 127.0.0.1 only, delivering nothing off the machine.
#
#   lab.sh install                       install the packages (idempotent)
#   lab.sh start STATE_DIR [--users FILE] [--domain DOMAIN]
#   lab.sh stop STATE_DIR                stop what start started (idempotent)
#   lab.sh status STATE_DIR              exit 0 when both daemons run
#   lab.sh restart-dovecot STATE_DIR     fault tests: drops IMAP sessions
#   lab.sh stop-dovecot STATE_DIR        fault tests: IMAP refuses, mail queues
#   lab.sh start-dovecot STATE_DIR
#   lab.sh stop-postfix STATE_DIR        fault tests: SMTP refuses
#   lab.sh start-postfix STATE_DIR
#
# README.md beside this file documents the environment, the users file and
# the layout. The facts behind each setting are in shared/MAILLAB.md.
set -euo pipefail

PROG=lab.sh
PACKAGES=(dovecot-imapd dovecot-lmtpd postfix openssl)

DEFAULT_USERS=(workflow zhangsan alice wanglei zhaoliu lina bob dave carol emma frank)
DEFAULT_GROUPS=(
  "rd: wanglei, zhangsan, alice"
  "sales: lina, zhaoliu, carol"
  "ops: dave, bob"
  "mkt: emma, frank"
)

say() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { say "$*"; exit 1; }

usage() {
  awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0" >&2
  exit "${1:-2}"
}

need_root() {
  [[ $(id -u) -eq 0 ]] || die "must run as root (Postfix's master refuses to run otherwise)"
}

# ---------------------------------------------------------------- install --

installed() {
  local st
  st=$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) || return 1
  [[ $st == "install ok installed" ]]
}

cmd_install() {
  need_root
  local missing=() p
  for p in "${PACKAGES[@]}"; do
    installed "$p" || missing+=("$p")
  done
  if [[ ${#missing[@]} -eq 0 ]]; then
    say "packages already installed: ${PACKAGES[*]}"
    return 0
  fi
  say "installing ${missing[*]}"
  # Packages must not start system-wide daemons (ports 25/143/993) on a
  # machine that does not already forbid it.
  local made_policy=
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    made_policy=1
  fi
  local rc=0
  {
    echo 'postfix postfix/main_mailer_type select No configuration' | debconf-set-selections &&
      DEBIAN_FRONTEND=noninteractive apt-get update -q &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
  } </dev/null >&2 || rc=$?
  [[ -z $made_policy ]] || rm -f /usr/sbin/policy-rc.d
  [[ $rc -eq 0 ]] || die "apt-get failed (exit $rc)"
  for p in "${PACKAGES[@]}"; do
    installed "$p" || die "$p is still not installed"
  done
  say "installed"
}

# ---------------------------------------------------------- state dir ------

# Sets S (absolute state dir) from $1; with "create", makes it.
set_state() {
  [[ -n ${1:-} ]] || usage
  S=$(realpath -m -- "$1")
  # Dovecot's config syntax and Postfix's tables take paths unquoted.
  [[ $S =~ ^/[A-Za-z0-9._/+-]+$ ]] ||
    die "state dir '$S': use only letters, digits and . _ - + / in its path"
  # Unix sockets live under it (Dovecot's longest is run/token-login/...,
  # about 35 characters); sun_path holds 107.
  [[ ${#S} -le 64 ]] || die "state dir '$S' is too long for unix socket paths (max 64 characters); use e.g. \$(mktemp -d /tmp/lab.XXXXXX)"
}

# Every directory above the state dir must be world-traversable: the
# postfix, dovenull and mail uids pass through it.
check_traversable() {
  local d=$S mode
  while :; do
    d=$(dirname -- "$d")
    [[ -e $d ]] || continue
    mode=$(stat -L -c %A -- "$d")
    [[ ${mode:9:1} == [xt] ]] ||
      die "'$d' is not world-traversable (mode $mode): the postfix, dovenull and mail users must pass through it. Use a state dir under /tmp, e.g. \$(mktemp -d /tmp/lab.XXXXXX), or chmod o+x '$d'"
    [[ $d == / ]] && break
  done
}

load_env() {
  [[ -f $S/lab.env ]] || die "no lab in $S (no lab.env; run: $PROG start $S)"
  # shellcheck disable=SC1091
  . "$S/lab.env"
}

# ---------------------------------------------------------- processes ------

# Prints a process's state letter (R, S, Z, ...); fails if there is none.
proc_state() {
  local line
  { read -r line <"/proc/$1/stat"; } 2>/dev/null || return 1
  line=${line##*) }
  printf '%s\n' "${line%% *}"
}

# A zombie counts as gone: PID 1 here reaps dead daemons about 1 s late.
alive() {
  local st
  st=$(proc_state "$1") || return 1
  [[ $st != Z ]]
}

# Live (non-zombie) pids in session $1. Both masters make themselves session
# leaders, and every process they start stays in that session.
session_pids() {
  local f line rest st ppid pgrp sid
  for f in /proc/[0-9]*/stat; do
    { read -r line <"$f"; } 2>/dev/null || continue
    rest=${line##*) }
    read -r st ppid pgrp sid _ <<<"$rest"
    if [[ $sid == "$1" && $st != Z ]]; then
      f=${f#/proc/}
      printf '%s\n' "${f%/stat}"
    fi
  done
  : "$ppid" "$pgrp"
}

# Is pid $2 the $1 master this state dir started?
is_ours() {
  local name=$1 pid=$2
  alive "$pid" || return 1
  case $name in
    dovecot)
      tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF -- "-c $S/dovecot.conf"
      ;;
    postfix)
      tr '\0' '\n' 2>/dev/null <"/proc/$pid/environ" | grep -qxF -- "MAIL_CONFIG=$S/postfix"
      ;;
  esac
}

running() {
  local f=$S/pids/$1.pid
  [[ -f $f ]] && is_ours "$1" "$(<"$f")"
}

# Waits up to $2 tenths of a second until session $1 has no live process.
wait_session_gone() {
  local i
  for ((i = 0; i < $2 * 2; i++)); do
    [[ -z $(session_pids "$1") ]] && return 0
    sleep 0.05
  done
  [[ -z $(session_pids "$1") ]]
}

# Stops the daemon whose pid file start wrote, and waits until it and every
# process of its session are gone. The master is asked first; whatever of
# its session outlives it is terminated too: a Dovecot master stopped while
# an IMAP session is open exits after ~1 s and leaves its auth, stats and
# log processes running for good (under systemd the unit's cgroup would be
# killed; here nothing would).
stop_daemon() {
  local name=$1 f=$S/pids/$1.pid pid i left
  [[ -f $f ]] || return 0
  pid=$(<"$f")
  if is_ours "$name" "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 60; i++)); do # 3 s for the master itself
      alive "$pid" || break
      sleep 0.05
    done
    if ! wait_session_gone "$pid" 2; then
      left=$(session_pids "$pid")
      # shellcheck disable=SC2086
      kill -TERM $left 2>/dev/null || true
      if ! wait_session_gone "$pid" 30; then
        left=$(session_pids "$pid")
        say "$name: killing what survived SIGTERM: $(echo "$left" | tr '\n' ' ')"
        # shellcheck disable=SC2086
        kill -KILL $left 2>/dev/null || true
        wait_session_gone "$pid" 20 || die "$name (session $pid) survived SIGKILL"
      fi
    fi
  fi
  rm -f "$f"
}

# Fails unless something accepts a TCP connection on 127.0.0.1:$1. A failed
# exec 3<>/dev/tcp/... exits a non-interactive shell, hence the subshell.
port_answers() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

wait_ports() {
  local i p ok
  for ((i = 0; i < 200; i++)); do # 10 s
    ok=1
    for p in "$@"; do
      port_answers "$p" || { ok=; break; }
    done
    [[ -n $ok ]] && return 0
    sleep 0.05
  done
  return 1
}

# ------------------------------------------------------------- daemons -----

start_dovecot() {
  local i pid
  running dovecot && return 0
  : >"$S/logs/dovecot-start.log"
  # </dev/null >log 2>&1: the master keeps fd 2 open, and a caller reading
  # our output through a pipe would never see EOF.
  if ! dovecot -c "$S/dovecot.conf" </dev/null >>"$S/logs/dovecot-start.log" 2>&1; then
    return 1
  fi
  for ((i = 0; i < 100; i++)); do
    pid=$(cat "$S/run/master.pid" 2>/dev/null || true)
    [[ -n $pid ]] && is_ours dovecot "$pid" && break
    pid=
    sleep 0.05
  done
  [[ -n $pid ]] || return 1
  echo "$pid" >"$S/pids/dovecot.pid"
  for ((i = 0; i < 100; i++)); do
    [[ -S $S/run/lmtp ]] && break
    sleep 0.05
  done
  [[ -S $S/run/lmtp ]] && wait_ports "$IMAP_PORT" "$IMAPS_PORT"
}

# Creates Postfix's queue directories with the owners and modes that
# post-install would give them. Fails (and start falls back to the full
# checks) when the package's list is not where Debian puts it.
make_spool() {
  local files=/etc/postfix/postfix-files path type owner group mode _ d
  [[ -r $files ]] || return 1
  while IFS=: read -r path type owner group mode _; do
    # shellcheck disable=SC2016 # literal $names, as in postfix-files
    [[ $type == d && $path == '$queue_directory'* ]] || continue
    # shellcheck disable=SC2016
    d=$S/spool${path#'$queue_directory'}
    # shellcheck disable=SC2016
    [[ $owner == '$mail_owner' ]] && owner=postfix
    # shellcheck disable=SC2016
    [[ $group == '$setgid_group' ]] && group=postdrop
    [[ $group == - ]] && group=root
    mkdir -p "$d"
    chown "$owner:$group" "$d"
    chmod "$mode" "$d"
  done <"$files"
  [[ -d $S/spool/maildrop && -d $S/spool/public && -d $S/spool/pid ]]
}

start_postfix() {
  local pid
  running postfix && return 0
  : >"$S/logs/postfix-start.log"
  # A plain "postfix start" runs post-install create-missing and its
  # integrity checks first: ~0.5 s of postconf and find. The queue
  # directories are made here instead, from the package's own list
  # (postfix-files), and quick-start skips the checks.
  make_spool && touch "$S/spool/quick-start"
  if ! postfix -c "$S/postfix" start </dev/null >>"$S/logs/postfix-start.log" 2>&1; then
    # Postfix prints a fatal config error only to a terminal (else to
    # syslog, which is not there): ask again with a pseudo-terminal.
    if command -v script >/dev/null; then
      script -qc "postfix -c $S/postfix check" /dev/null </dev/null >>"$S/logs/postfix-start.log" 2>&1 || true
    fi
    return 1
  fi
  # postfix start waits (master -w) until the master is ready.
  pid=$(tr -d ' \n' <"$S/spool/pid/master.pid" 2>/dev/null || true)
  [[ -n $pid ]] && is_ours postfix "$pid" || return 1
  echo "$pid" >"$S/pids/postfix.pid"
  wait_ports "$SMTP_PORT"
}

show_logs() {
  local f
  for f in "$S"/logs/*.log; do
    [[ -s $f ]] || continue
    say "---- tail of $f"
    tail -n 15 "$f" >&2
  done
}

# ------------------------------------------------------------- config ------

# Reads the users file (or the default directory) into USERS and GROUPS
# (GROUPS: "name member member ...").
read_users() {
  USERS=() GROUPS_=()
  local lines=() line name members m
  if [[ -n ${USERS_FILE:-} ]]; then
    [[ -r $USERS_FILE ]] || die "cannot read users file '$USERS_FILE'"
    mapfile -t lines <"$USERS_FILE"
  else
    lines=("${DEFAULT_USERS[@]}" "${DEFAULT_GROUPS[@]}")
  fi
  local -A isuser=() isgroup=()
  local n=0
  for line in "${lines[@]}"; do
    n=$((n + 1))
    line=${line%%#*}
    line=${line,,}
    line=${line#"${line%%[![:space:]]*}"}
    line=${line%"${line##*[![:space:]]}"}
    [[ -z $line ]] && continue
    if [[ $line == *:* ]]; then
      name=${line%%:*}
      name=${name%"${name##*[![:space:]]}"}
      members=${line#*:}
      members=${members//,/ }
      [[ $name =~ ^[a-z0-9][a-z0-9._-]*$ ]] || die "users file line $n: bad group name '$name'"
      [[ -n ${members// /} ]] || die "users file line $n: group '$name' has no members"
      GROUPS_+=("$name $members")
      isgroup[$name]=1
    else
      [[ $line =~ ^[a-z0-9][a-z0-9._-]*$ ]] || die "users file line $n: bad user name '$line' (one name per line; groups are 'group: member, member')"
      USERS+=("$line")
      isuser[$line]=1
    fi
  done
  [[ ${#USERS[@]} -gt 0 ]] || die "the users file names no users"
  for line in "${GROUPS_[@]}"; do
    name=${line%% *}
    [[ -z ${isuser[$name]:-} ]] || die "'$name' is both a user and a group"
    for m in ${line#* }; do
      m=${m%@"$DOMAIN"}
      [[ -n ${isuser[$m]:-} || -n ${isgroup[$m]:-} ]] ||
        die "group '$name': member '$m' is not a user of the lab"
    done
  done
}

write_configs() {
  local u g m list first
  mkdir -p "$S/postfix" "$S/logs" "$S/pids" "$S/run" "$S/dovecot-state" "$S/mail" "$S/tls" "$S/spool" "$S/postfix-data"
  chmod 755 "$S" "$S/postfix" "$S/logs" "$S/pids" "$S/run" "$S/spool"
  chown "$MAIL_UID:$MAIL_GID" "$S/mail"
  chmod 755 "$S/mail"
  chown postfix:postfix "$S/postfix-data" # master.lock
  chmod 700 "$S/postfix-data"

  # Certificate: a CA and a leaf for localhost/127.0.0.1 signed by it
  # (rustls refuses a CA certificate as the server's own). Kept across
  # starts of the same state dir.
  if [[ ! -s $S/tls/cert.pem ]]; then
    (
      cd "$S/tls"
      openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout ca.key -out ca.pem -days 3650 -subj "/CN=crossdesk lab CA" \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
      openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout key.pem -out leaf.csr -subj "/CN=localhost"
      printf '%s\n' 'basicConstraints=critical,CA:FALSE' \
        'keyUsage=critical,digitalSignature' 'extendedKeyUsage=serverAuth' \
        'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1' >leaf.ext
      openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
        -out cert.pem -days 3650 -extfile leaf.ext
      cat cert.pem ca.pem >chain.pem
      rm -f leaf.csr leaf.ext ca.srl
      chmod 644 ./*.pem
      chmod 600 ca.key key.pem
    ) >"$S/logs/openssl.log" 2>&1 || die "openssl failed; see $S/logs/openssl.log"
  fi

  # Users: one passwd-file, passdb and userdb both (so LMTP rejects
  # unknown users). name:password:uid:gid:gecos:home:shell
  : >"$S/users.passwd"
  : >"$S/postfix/vmailbox"
  # LAB_MDBOX_USERS: these users' mailboxes are mdbox (Dovecot's own
  # format, ~/mdbox) instead of Maildir; the userdb's extra field overrides
  # mail_location for them alone.
  local -A mdbox=()
  local mdbox_users=${LAB_MDBOX_USERS:-}
  for u in ${mdbox_users//,/ }; do
    u=${u,,}
    printf '%s\n' "${USERS[@]}" | grep -qxF -- "$u" || die "LAB_MDBOX_USERS: '$u' is not a user of the lab"
    mdbox[$u]=1
  done
  for u in "${USERS[@]}"; do
    local extra=
    [[ -z ${mdbox[$u]:-} ]] || extra='userdb_mail=mdbox:~/mdbox'
    printf '%s:{PLAIN}%s:%s:%s::%s/mail/%s::%s\n' "$u" "$PASSWORD" "$MAIL_UID" "$MAIL_GID" "$S" "$u" "$extra" >>"$S/users.passwd"
    printf '%s@%s %s/\n' "$u" "$DOMAIN" "$u" >>"$S/postfix/vmailbox"
  done
  chmod 644 "$S/users.passwd"
  # LAB_PIPE_TO / LAB_PIPE_CMD: mail to LAB_PIPE_TO@DOMAIN goes through
  # Postfix's pipe(8) to LAB_PIPE_CMD (run as the mail user), as a
  # deployment that delivers to `crossdesk ingest -` does.
  : >"$S/postfix/transport"
  if [[ -n ${LAB_PIPE_CMD:-} ]]; then
    [[ ${LAB_PIPE_TO:-} =~ ^[a-z0-9._-]+$ ]] || die "LAB_PIPE_TO: the local part of the piped address (e.g. crossdesk)"
    printf '%s@%s %s/\n' "$LAB_PIPE_TO" "$DOMAIN" "$LAB_PIPE_TO" >>"$S/postfix/vmailbox"
    printf '%s@%s crossdesk:\n' "$LAB_PIPE_TO" "$DOMAIN" >>"$S/postfix/transport"
  fi
  : >"$S/postfix/virtual"
  for g in "${GROUPS_[@]}"; do
    list='' first=1
    for m in ${g#* }; do
      m=${m%@"$DOMAIN"}
      [[ -n $first ]] || list+=", "
      list+="$m@$DOMAIN" first=
    done
    printf '%s@%s %s\n' "${g%% *}" "$DOMAIN" "$list" >>"$S/postfix/virtual"
  done

  cat >"$S/dovecot.conf" <<EOF
# Written by tests/mailserver/lab.sh; rewritten on every start.
instance_name = crossdesk-lab-$(printf '%s' "$S" | cksum | cut -d' ' -f1)
base_dir = $S/run
state_dir = $S/dovecot-state
log_path = $S/logs/dovecot.log
info_log_path = $S/logs/dovecot.log
listen = 127.0.0.1
protocols = imap lmtp
ssl = yes
ssl_cert = <$S/tls/cert.pem
ssl_key = <$S/tls/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
auth_username_format = %Ln
auth_verbose = yes
mail_location = maildir:~/Maildir
mail_uid = $MAIL_UID
mail_gid = $MAIL_GID
first_valid_uid = 1
recipient_delimiter = +
lmtp_save_to_detail_mailbox = no

passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%Ln $S/users.passwd
}
userdb {
  driver = passwd-file
  args = username_format=%Ln $S/users.passwd
}

namespace inbox {
  inbox = yes
  mailbox Drafts {
    special_use = \\Drafts
    auto = subscribe
  }
  mailbox Sent {
    special_use = \\Sent
    auto = subscribe
  }
  mailbox Archive {
    special_use = \\Archive
    auto = subscribe
  }
  mailbox Junk {
    special_use = \\Junk
    auto = subscribe
  }
  mailbox Trash {
    special_use = \\Trash
    auto = subscribe
  }
}

service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $IMAP_PORT
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = $IMAPS_PORT
    ssl = yes
  }
}
service anvil {
  # No escalating per-IP penalty after failed logins (2, 4, 8 ... 15 s):
  # tests that try wrong passwords must not slow each other down. With the
  # listener unreachable the auth process disables penalties.
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
service lmtp {
  unix_listener lmtp {
    # Postfix's lmtp client (user postfix) connects here.
    mode = 0666
  }
}
service auth {
  unix_listener auth-postfix {
    # SMTP AUTH for Postfix's smtpd (optional for clients).
    mode = 0666
  }
}
protocol imap {
  # Tests open several sessions per user (IDLE + commands) in parallel.
  mail_max_userip_connections = 200
}
EOF

  cat >"$S/postfix/main.cf" <<EOF
# Written by tests/mailserver/lab.sh; rewritten on every start.
compatibility_level = 3.6
queue_directory = $S/spool
data_directory = $S/postfix-data
maillog_file = $S/logs/postfix.log
maillog_file_prefixes = $S/logs
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = mail.$DOMAIN
mydomain = $DOMAIN
myorigin = \$mydomain
mydestination =
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
local_transport = error:5.1.1 local delivery is disabled in the lab
recipient_delimiter = +

virtual_mailbox_domains = $DOMAIN
virtual_mailbox_maps = texthash:$S/postfix/vmailbox
virtual_alias_maps = texthash:$S/postfix/virtual
# Its default (\$virtual_alias_maps) would make the domain alias-only and
# bounce every mailbox "User unknown in virtual alias table".
virtual_alias_domains =
virtual_transport = lmtp:unix:$S/run/lmtp

# Nothing leaves the machine: an address in any other domain resolves to
# the error transport, which smtpd refuses at RCPT (550 5.7.1).
default_transport = error:5.7.1 the lab delivers nothing off this machine
relay_transport = error:5.7.1 the lab delivers nothing off this machine
relayhost =
smtp_dns_support_level = disabled
smtpd_peername_lookup = no
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_banner = \$myhostname ESMTP crossdesk lab
biff = no
in_flow_delay = 0
message_size_limit = 67108864
mailbox_size_limit = 0
virtual_mailbox_limit = 0

# Fault tests stop Dovecot for a moment: retry deferred mail within
# seconds, not minutes.
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 5s

smtpd_tls_security_level = may
smtpd_tls_chain_files = $S/tls/key.pem, $S/tls/chain.pem
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = dovecot
smtpd_sasl_path = $S/run/auth-postfix
smtpd_tls_auth_only = no
transport_maps = texthash:$S/postfix/transport
# One recipient per pipe delivery: the command gets the message once.
crossdesk_destination_recipient_limit = 1
EOF

  # No chroot anywhere (Debian's stock master.cf chroots services).
  cat >"$S/postfix/master.cf" <<EOF
# Written by tests/mailserver/lab.sh; rewritten on every start.
# service type  private unpriv  chroot  wakeup  maxproc command
127.0.0.1:$SMTP_PORT inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
  if [[ -n ${LAB_PIPE_CMD:-} ]]; then
    # pipe(8): exit 75 (EX_TEMPFAIL) defers the mail, to be tried again.
    local mail_user
    mail_user=$(getent passwd "$MAIL_UID" | cut -d: -f1)
    printf 'crossdesk unix  -       n       n       -       -       pipe\n  flags=R user=%s argv=%s\n' \
      "$mail_user" "$LAB_PIPE_CMD" >>"$S/postfix/master.cf"
  fi
  chmod 644 "$S/postfix/"* "$S/dovecot.conf"

  # Postfix ignores a config or table file changed less than ~1 s ago and
  # polls until it is older: each postfix command would stall ~2 s.
  touch -d '1 minute ago' "$S/postfix/"* "$S/dovecot.conf" "$S/users.passwd"
}

# ------------------------------------------------------------- ports -------

# Picks three distinct ports in 20000-31999 that nothing answers on (below
# the kernel's ephemeral range, so outgoing connections do not take them).
pick_ports() {
  local ports=() p i
  for ((i = 0; i < 1000 && ${#ports[@]} < 3; i++)); do
    p=$((20000 + RANDOM % 12000))
    [[ " ${ports[*]} " == *" $p "* ]] && continue
    port_answers "$p" && continue
    ports+=("$p")
  done
  [[ ${#ports[@]} -eq 3 ]] || die "found no free ports"
  IMAP_PORT=${ports[0]} IMAPS_PORT=${ports[1]} SMTP_PORT=${ports[2]}
}

write_env() {
  local k
  : >"$S/lab.env.tmp"
  for k in STATE_DIR DOMAIN PASSWORD IMAP_PORT IMAPS_PORT SMTP_PORT HOST CA_FILE; do
    printf '%s=%q\n' "$k" "${!k}" >>"$S/lab.env.tmp"
  done
  chmod 644 "$S/lab.env.tmp"
  mv "$S/lab.env.tmp" "$S/lab.env"
}

# ------------------------------------------------------------- commands ----

cmd_start() {
  need_root
  set_state "${1:-}"
  shift
  USERS_FILE=${LAB_USERS:-}
  DOMAIN=${LAB_DOMAIN:-corp.test}
  while [[ $# -gt 0 ]]; do
    case $1 in
      --users) USERS_FILE=$(realpath -- "${2:?--users needs a file}"); shift 2 ;;
      --users=*) USERS_FILE=$(realpath -- "${1#*=}"); shift ;;
      --domain) DOMAIN=${2:?--domain needs a name}; shift 2 ;;
      --domain=*) DOMAIN=${1#*=}; shift ;;
      *) die "unknown option '$1'" ;;
    esac
  done
  DOMAIN=${DOMAIN,,}
  [[ $DOMAIN =~ ^[a-z0-9-]+(\.[a-z0-9-]+)+$ ]] || die "bad domain '$DOMAIN' (want e.g. corp.test)"
  PASSWORD=${LAB_PASSWORD:-secret}
  [[ $PASSWORD =~ ^[A-Za-z0-9._+-]+$ ]] || die "LAB_PASSWORD: use only letters, digits and . _ + -"
  MAIL_UID=${LAB_MAIL_UID:-$(id -u mail)}
  MAIL_GID=${LAB_MAIL_GID:-$(id -g mail)}
  [[ $MAIL_UID =~ ^[1-9][0-9]*$ && $MAIL_GID =~ ^[1-9][0-9]*$ ]] || die "LAB_MAIL_UID/LAB_MAIL_GID must be numbers above 0"
  local p
  for p in dovecot postfix openssl; do
    command -v "$p" >/dev/null || die "$p is not installed; run: $0 install"
  done

  # Written to lab.env by write_env.
  # shellcheck disable=SC2034
  STATE_DIR=$S HOST=127.0.0.1 CA_FILE=$S/tls/ca.pem
  check_traversable
  mkdir -p "$S"
  check_traversable
  if [[ -f $S/pids/dovecot.pid || -f $S/pids/postfix.pid ]]; then
    if running dovecot || running postfix; then
      die "a lab is already running in $S (stop it first: $0 stop $S)"
    fi
    rm -f "$S/pids/"*.pid
  fi
  read_users

  local auto='' attempts=1 attempt
  if [[ ${LAB_PORTS:-} == auto ]]; then
    auto=1 attempts=5
  else
    IMAP_PORT=${LAB_IMAP_PORT:-1143}
    IMAPS_PORT=${LAB_IMAPS_PORT:-1993}
    SMTP_PORT=${LAB_SMTP_PORT:-2525}
    for p in "$IMAP_PORT" "$IMAPS_PORT" "$SMTP_PORT"; do
      [[ $p =~ ^[0-9]+$ && $p -ge 1 && $p -le 65535 ]] || die "bad port '$p'"
      ! port_answers "$p" || die "port $p on 127.0.0.1 is in use (another lab? set LAB_PORTS=auto or LAB_IMAP_PORT/LAB_IMAPS_PORT/LAB_SMTP_PORT)"
    done
  fi

  local t0=$EPOCHREALTIME
  for ((attempt = 1; attempt <= attempts; attempt++)); do
    [[ -z $auto ]] || pick_ports
    write_configs
    if start_dovecot && start_postfix; then
      write_env
      say "lab running in $S: IMAP 127.0.0.1:$IMAP_PORT, IMAPS :$IMAPS_PORT, SMTP :$SMTP_PORT, domain $DOMAIN ($(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.2f", b-a}') s)"
      cat "$S/lab.env"
      return 0
    fi
    stop_daemon postfix
    stop_daemon dovecot
    if [[ -n $auto ]] && grep -qsi 'in use' "$S/logs/dovecot-start.log" "$S/logs/postfix-start.log" "$S/logs/postfix.log"; then
      say "ports taken meanwhile; trying others"
      continue
    fi
    break
  done
  show_logs
  die "the lab did not start; logs are in $S/logs"
}

cmd_stop() {
  need_root
  set_state "${1:-}"
  [[ -d $S ]] || return 0
  stop_daemon postfix
  stop_daemon dovecot
  say "stopped the lab in $S"
}

cmd_status() {
  set_state "${1:-}"
  local rc=0 d pid
  for d in dovecot postfix; do
    if running "$d"; then
      pid=$(<"$S/pids/$d.pid")
      echo "$d: running (pid $pid, $(session_pids "$pid" | wc -l) processes)"
    else
      echo "$d: stopped"
      rc=1
    fi
  done
  [[ ! -f $S/lab.env ]] || cat "$S/lab.env"
  return $rc
}

cmd_restart_dovecot() {
  need_root
  set_state "${1:-}"
  load_env
  stop_daemon dovecot
  # Configs are older than a minute already; keep them as start wrote them.
  start_dovecot || { show_logs; die "dovecot did not start again"; }
  say "dovecot restarted"
}

cmd_stop_dovecot() {
  need_root
  set_state "${1:-}"
  load_env
  stop_daemon dovecot
  say "dovecot stopped"
}

cmd_start_dovecot() {
  need_root
  set_state "${1:-}"
  load_env
  start_dovecot || { show_logs; die "dovecot did not start again"; }
  say "dovecot started"
}

cmd_stop_postfix() {
  need_root
  set_state "${1:-}"
  load_env
  stop_daemon postfix
  say "postfix stopped"
}

cmd_start_postfix() {
  need_root
  set_state "${1:-}"
  load_env
  start_postfix || { show_logs; die "postfix did not start again"; }
  say "postfix started"
}

main() {
  local cmd=${1:-}
  [[ $# -gt 0 ]] && shift
  case $cmd in
    install) cmd_install ;;
    start) cmd_start "$@" ;;
    stop) cmd_stop "$@" ;;
    status) cmd_status "$@" ;;
    restart-dovecot) cmd_restart_dovecot "$@" ;;
    stop-dovecot) cmd_stop_dovecot "$@" ;;
    start-dovecot) cmd_start_dovecot "$@" ;;
    stop-postfix) cmd_stop_postfix "$@" ;;
    start-postfix) cmd_start_postfix "$@" ;;
    -h | --help | help) usage 0 ;;
    *) usage ;;
  esac
}

main "$@"
