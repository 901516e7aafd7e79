#!/usr/bin/env python3
"""Checks a running mail lab with real clients (smtplib, imaplib, LMTP).

Used by smoke.sh, one subcommand per step; reads the lab's lab.env
(STATE_DIR given as the first argument). Standard library only.

  labcheck.py STATE_DIR deliver             workflow@ and rd@ each get one mail
  labcheck.py STATE_DIR reject              unknown users refused (SMTP + LMTP)
  labcheck.py STATE_DIR tls-auth            IMAPS, STARTTLS, SMTP AUTH, failed logins
  labcheck.py STATE_DIR offsite             other domains refused, nothing leaves
  labcheck.py STATE_DIR idle-drop FILE      IDLE (FILE written once idling) until
                                            the server drops the session
  labcheck.py STATE_DIR imap-again          IMAP answers; counts unchanged
  labcheck.py STATE_DIR smtp-down           SMTP refuses connections
  labcheck.py STATE_DIR send USER SUBJECT   one mail to USER@DOMAIN
  labcheck.py STATE_DIR wait USER COUNT     until USER's INBOX holds COUNT
  labcheck.py STATE_DIR latency [N]         submit -> 250, submit -> Maildir/new
"""

import imaplib
import os
import shlex
import smtplib
import socket
import ssl
import statistics
import sys
import time
from email.message import EmailMessage

HOST = "127.0.0.1"


def load_env(state):
    env = {}
    with open(os.path.join(state, "lab.env")) as f:
        for line in f:
            k, _, v = line.rstrip("\n").partition("=")
            env[k] = shlex.split(v)[0] if v else ""
    return env


def message(env, to, subject, body="hello\n"):
    m = EmailMessage()
    m["From"] = f"tester@{env['DOMAIN']}"
    m["To"] = to
    m["Subject"] = subject
    m.set_content(body)
    return m


def smtp(env):
    return smtplib.SMTP(HOST, int(env["SMTP_PORT"]), timeout=10)


def inbox_count(env, user):
    imap = imaplib.IMAP4(HOST, int(env["IMAP_PORT"]), timeout=10)
    try:
        imap.login(user, env["PASSWORD"])
        typ, data = imap.select("INBOX", readonly=True)
        assert typ == "OK", (typ, data)
        return int(data[0])
    finally:
        try:
            imap.logout()
        except Exception:
            pass


def wait_counts(env, want, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        got = {u: inbox_count(env, u) for u in want}
        if got == want:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"inbox counts {got}, want {want}")
        time.sleep(0.05)


def ok(what):
    print(f"ok - {what}", flush=True)


def cmd_deliver(env):
    d = env["DOMAIN"]
    with smtp(env) as s:
        s.send_message(message(env, f"workflow@{d}", "to workflow"))
        s.send_message(message(env, f"rd@{d}", "to the rd group"))
    ok("SMTP accepted mail to workflow@ and rd@")
    wait_counts(env, {"workflow": 1, "wanglei": 1, "zhangsan": 1, "alice": 1, "lina": 0})
    ok("workflow has 1 message; rd members wanglei, zhangsan, alice have 1 each; lina 0")


def cmd_reject(env, state):
    d = env["DOMAIN"]
    with smtp(env) as s:
        s.ehlo()
        code, _ = s.mail(f"tester@{d}")
        assert code == 250, code
        code, resp = s.rcpt(f"nobody@{d}")
        assert code == 550, (code, resp)
        code, _ = s.rcpt(f"workflow@{d}")
        assert code == 250, code
        s.rset()
    ok(f"SMTP RCPT nobody@{d} refused: 550 {resp.decode()}")
    # Dovecot's LMTP refuses unknown users on its own (passdb/userdb check).
    c = socket.socket(socket.AF_UNIX)
    c.settimeout(5)
    c.connect(os.path.join(state, "run", "lmtp"))
    f = c.makefile("rwb")

    def reply():
        lines = []
        while True:
            line = f.readline().decode().rstrip("\r\n")
            lines.append(line)
            if len(line) < 4 or line[3] != "-":
                return lines

    def cmd(text):
        f.write(text.encode() + b"\r\n")
        f.flush()
        return reply()

    reply()
    cmd("LHLO lab")
    assert cmd("MAIL FROM:<>")[-1].startswith("250")
    r = cmd(f"RCPT TO:<nobody@{d}>")[-1]
    assert r.startswith("550"), r
    r2 = cmd(f"RCPT TO:<workflow@{d}>")[-1]
    assert r2.startswith("250"), r2
    cmd("QUIT")
    c.close()
    ok(f"LMTP RCPT nobody@{d} refused: {r}")


def cmd_tls_auth(env):
    ctx = ssl.create_default_context(cafile=env["CA_FILE"])
    imap = imaplib.IMAP4_SSL(HOST, int(env["IMAPS_PORT"]), ssl_context=ctx, timeout=10)
    imap.login(f"workflow@{env['DOMAIN']}", env["PASSWORD"])
    typ, data = imap.capability()  # imaplib keeps the pre-login list
    caps = data[0].decode().upper().split()
    imap.logout()
    for c in ("IDLE", "MOVE", "UIDPLUS", "CONDSTORE", "QRESYNC", "SPECIAL-USE"):
        assert c in caps, (c, caps)
    ok("IMAPS verified against CA_FILE; login as workflow@domain; IDLE MOVE UIDPLUS CONDSTORE QRESYNC SPECIAL-USE")
    imap = imaplib.IMAP4(HOST, int(env["IMAP_PORT"]), timeout=10)
    imap.starttls(ssl_context=ctx)
    imap.login("alice", env["PASSWORD"])
    typ, data = imap.list()
    imap.logout()
    names = b" ".join(data)
    for box in (b"\\Sent", b"\\Trash", b"\\Archive", b"\\Junk", b"\\Drafts"):
        assert box in names, (box, data)
    ok("IMAP STARTTLS; special-use folders Sent Trash Archive Junk Drafts exist")
    took = []
    for user in ("alice", "alice", "ghost"):
        bad = imaplib.IMAP4(HOST, int(env["IMAP_PORT"]), timeout=10)
        t = time.monotonic()
        try:
            bad.login(user, "wrong")
            raise AssertionError("wrong password accepted")
        except imaplib.IMAP4.error:
            took.append(time.monotonic() - t)
        bad.shutdown()
    # Dovecot 2.3.19 answers failures from a 500 ms timer even with
    # auth_failure_delay = 0; the escalating per-IP penalty is off.
    assert max(took) < 0.8, took
    ok("wrong IMAP passwords refused without escalating delay: "
       + ", ".join(f"{t * 1000:.0f} ms" for t in took))
    with smtp(env) as s:
        s.starttls(context=ctx)
        s.login(f"workflow@{env['DOMAIN']}", env["PASSWORD"])
    ok("SMTP STARTTLS + AUTH as workflow")


def cmd_offsite(env):
    """Mail for any other domain resolves to the error transport, which
    smtpd refuses at RCPT: nothing can leave the machine."""
    with smtp(env) as s:
        s.ehlo()
        s.mail(f"workflow@{env['DOMAIN']}")
        code, resp = s.rcpt("outsider@example.com")
        s.rset()
    assert code == 550, (code, resp)
    ok(f"RCPT outsider@example.com refused: {code} {resp.decode()}")


def cmd_imap_again(env):
    wait_counts(env, {"workflow": 1, "wanglei": 1, "zhangsan": 1, "alice": 1}, timeout=5)
    ok("IMAP answers after the restart; counts unchanged")


def cmd_smtp_down(env):
    try:
        socket.create_connection((HOST, int(env["SMTP_PORT"])), timeout=2).close()
    except ConnectionRefusedError:
        ok("SMTP refuses connections while Postfix is stopped")
        return
    raise AssertionError("SMTP port still answers")


def cmd_send(env, user, subject):
    with smtp(env) as s:
        s.send_message(message(env, f"{user}@{env['DOMAIN']}", subject))
    ok(f"SMTP accepted '{subject}' for {user}")


def cmd_wait(env, user, count):
    t = time.monotonic()
    wait_counts(env, {user: int(count)}, timeout=20)
    ok(f"{user} has {count} messages ({time.monotonic() - t:.2f} s after asking)")


def cmd_latency(env, state, n):
    user = "frank"
    new = os.path.join(state, "mail", user, "Maildir", "new")

    def files():
        try:
            return len(os.listdir(new))
        except FileNotFoundError:
            return 0

    accepted, delivered = [], []
    with smtp(env) as s:
        s.ehlo()
        for i in range(n):
            before = files()
            m = message(env, f"{user}@{env['DOMAIN']}", f"latency {i}")
            t0 = time.perf_counter()
            s.send_message(m)
            t1 = time.perf_counter()
            while files() <= before:
                if time.perf_counter() - t0 > 10:
                    raise AssertionError(f"mail {i} not delivered in 10 s")
                time.sleep(0.0002)
            t2 = time.perf_counter()
            accepted.append((t1 - t0) * 1000)
            delivered.append((t2 - t0) * 1000)
    med_a, med_d = statistics.median(accepted), statistics.median(delivered)
    print(f"latency over {n} mails: submit -> 250 median {med_a:.1f} ms "
          f"(min {min(accepted):.1f}, max {max(accepted):.1f}); "
          f"submit -> file in Maildir/new median {med_d:.1f} ms "
          f"(min {min(delivered):.1f}, max {max(delivered):.1f}); "
          f"MAILLAB.md: 2.2-2.8 ms and 5.7-6.5 ms")
    ok("latency measured")


def cmd_idle_drop(env, hold):
    """Opens IDLE, then (after the caller restarts Dovecot) sees it dropped."""
    imap = imaplib.IMAP4(HOST, int(env["IMAP_PORT"]), timeout=15)
    imap.login("workflow", env["PASSWORD"])
    imap.select("INBOX")
    tag = imap._new_tag().decode()
    imap.send(f"{tag} IDLE\r\n".encode())
    line = imap.readline()
    assert line.startswith(b"+"), line
    with open(hold, "w") as f:
        f.write("idling\n")
    # Dovecot says BYE (or just closes) when it is stopped under us.
    t = time.monotonic()
    while True:
        line = imap.readline()
        if not line or line.startswith(b"* BYE"):
            break
        if time.monotonic() - t > 15:
            raise AssertionError("IDLE session not dropped")
    ok(f"IDLE session dropped by the restart: {line.decode().strip() or 'EOF'}")


def main():
    state, what, *rest = sys.argv[1:]
    env = load_env(state)
    if what == "deliver":
        cmd_deliver(env)
    elif what == "reject":
        cmd_reject(env, state)
    elif what == "tls-auth":
        cmd_tls_auth(env)
    elif what == "idle-drop":
        cmd_idle_drop(env, rest[0])
    elif what == "offsite":
        cmd_offsite(env)
    elif what == "imap-again":
        cmd_imap_again(env)
    elif what == "smtp-down":
        cmd_smtp_down(env)
    elif what == "send":
        cmd_send(env, rest[0], rest[1])
    elif what == "wait":
        cmd_wait(env, rest[0], rest[1])
    elif what == "latency":
        cmd_latency(env, state, int(rest[0]) if rest else 20)
    else:
        sys.exit(f"labcheck.py: unknown step {what}")


if __name__ == "__main__":
    main()
