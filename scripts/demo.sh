#!/usr/bin/env bash
# The main job on the embedded default, no mail server needed: the sample
# stories (Chinese and English, several mail clients) are dropped into a
# Maildir, `crossdesk run --once` acts on them and writes every reply into
# an outbox Maildir, then the resulting state is shown.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --locked --release --quiet
bin=target/release/crossdesk
cfg=config/demo.toml

rm -rf demo
mkdir -p demo/inbox/new demo/inbox/cur demo/inbox/tmp
# Keep story order: each file gets a strictly later mtime.
i=0
for f in tests/fixtures/story_zh/*.eml tests/fixtures/story_en/*.eml; do
  i=$((i + 1))
  name=$(printf '%04d.demo.%s' "$i" "$(basename "$f" .eml)")
  cp "$f" "demo/inbox/new/$name"
  touch -d "@$(( $(date +%s) - 3600 + i ))" "demo/inbox/new/$name"
done
echo "== $i sample mails in demo/inbox/new; running: $bin --config $cfg run --once"
CROSSDESK_LOG=warn "$bin" --config "$cfg" run --once
echo
echo "== requirements ($bin --config $cfg list)"
"$bin" --config "$cfg" list
for id in $("$bin" --config "$cfg" list --json | python3 -c 'import json,sys; print(" ".join(r["id"] for r in json.load(sys.stdin)))'); do
  echo
  "$bin" --config "$cfg" show "$id"
done
echo
echo "== $(ls demo/outbox/new | wc -l) replies written to demo/outbox/new; the first one:"
first=$(ls demo/outbox/new | head -n 1)
sed -n '1,60p' "demo/outbox/new/$first"
