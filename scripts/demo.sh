#!/usr/bin/env bash
# The main job on the embedded default, no mail server needed: the sample
# stories (a Chinese and an English one, mails from Outlook, Foxmail, QQ,
# NetEase, Gmail, iPhone and Thunderbird) are dropped into a Maildir,
# `crossdesk run --once` acts on them and writes every reply into an outbox
# Maildir, then the resulting state is shown. Each story runs in its own
# deployment under demo/ (config/demo.toml with its paths moved there).
# Last, a look-up by mail (【查询】[REQ-1]) is answered.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --locked --release --quiet
bin=$PWD/target/release/crossdesk

rm -rf demo
for story in zh en; do
  d=demo/$story
  mkdir -p "$d/inbox/new" "$d/inbox/cur" "$d/inbox/tmp"
  sed -e 's|"maildir:../demo/inbox"|"maildir:inbox"|' \
      -e 's|"maildir:../demo/outbox"|"maildir:outbox"|' \
      -e 's|"../demo/crossdesk.db"|"crossdesk.db"|' config/demo.toml >"$d/crossdesk.toml"
  # Keep story order: each file gets a strictly later mtime.
  i=0
  for f in tests/fixtures/story_$story/*.eml; do
    i=$((i + 1))
    name=$(printf '%04d.demo.%s' "$i" "$(basename "$f" .eml)")
    cp "$f" "$d/inbox/new/$name"
    touch -d "@$(( $(date +%s) - 3600 + i ))" "$d/inbox/new/$name"
  done
  cfg=$d/crossdesk.toml
  echo "== story_$story: $i sample mails in $d/inbox/new"
  echo "== $bin --config $cfg run --once"
  CROSSDESK_LOG=error "$bin" --config "$cfg" run --once | sed 's|^.*/new/||'
  echo
  echo "== $bin --config $cfg list"
  "$bin" --config "$cfg" list
  echo
  "$bin" --config "$cfg" show REQ-1
  echo
  echo "== $(ls "$d/outbox/new" | wc -l) replies written to $d/outbox/new"
  echo
done
first=$(ls demo/zh/outbox/new | head -n 1)
echo "== the first reply of the Chinese story (demo/zh/outbox/new/$first), decoded:"
python3 - "demo/zh/outbox/new/$first" <<'PY'
import email, email.policy, sys
m = email.message_from_binary_file(open(sys.argv[1], "rb"), policy=email.policy.default)
for h in ("From", "To", "Cc", "Subject", "Message-ID", "In-Reply-To", "Auto-Submitted"):
    if m[h]:
        print(f"{h}: {m[h]}")
print()
print(m.get_body(preferencelist=("plain",)).get_content())
PY

# A look-up by mail: 李雷 of R&D, who joined late, asks for REQ-1.
d=demo/zh
printf 'From: =?UTF-8?B?5p2O6Zu3?= <lilei@corp.example>\r\nTo: workflow@corp.example\r\nSubject: =?UTF-8?B?44CQ5p+l6K+i44CRW1JFUS0xXQ==?=\r\nMessage-ID: <demo-lookup@corp.example>\r\nDate: %s\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n\r\n' \
  "$(date -R)" >"$d/inbox/new/9999.demo.lookup"
echo "== 李雷 sends 【查询】[REQ-1]; $bin --config $d/crossdesk.toml run --once"
CROSSDESK_LOG=error "$bin" --config "$d/crossdesk.toml" run --once | sed 's|^.*/new/||'
answer=$(grep -l '^In-Reply-To: <demo-lookup@corp.example>' "$d"/outbox/new/* | head -n 1)
echo "== the answer ($answer), decoded:"
python3 - "$answer" <<'PY'
import email, email.policy, sys
m = email.message_from_binary_file(open(sys.argv[1], "rb"), policy=email.policy.default)
for h in ("To", "Subject", "Auto-Submitted"):
    print(f"{h}: {m[h]}")
print()
print(m.get_body(preferencelist=("plain",)).get_content())
PY
echo
