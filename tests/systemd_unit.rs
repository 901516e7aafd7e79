//! The shipped unit file: hardened, and valid for systemd.

use std::path::Path;

fn unit() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd/crossdesk.service"))
        .unwrap()
}

#[test]
fn unit_is_hardened() {
    let u = unit();
    for key in [
        "DynamicUser=yes",
        "StateDirectory=crossdesk",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "Restart=on-failure",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "CapabilityBoundingSet=",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
        "SystemCallFilter=@system-service",
        "MemoryMax=1G",
    ] {
        assert!(u.lines().any(|l| l.trim() == key), "missing {key}");
    }
    assert!(u.contains("crossdesk --config /etc/crossdesk/crossdesk.toml run"));
    // `systemctl reload` checks the file, then has the daemon read it again.
    assert!(u
        .lines()
        .any(|l| l.trim() == "ExecReload=/bin/kill -HUP $MAINPID"));
}

#[test]
fn unit_passes_systemd_analyze_verify() {
    if std::process::Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("systemd-analyze is not installed here; only the static checks ran");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("crossdesk.service");
    std::fs::write(
        &p,
        unit().replace("/usr/local/bin/crossdesk", env!("CARGO_BIN_EXE_crossdesk")),
    )
    .unwrap();
    let out = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .arg(&p)
        .output()
        .unwrap();
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "systemd-analyze verify: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
