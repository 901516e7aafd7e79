use super::*;

const GOOD: &str = r#"
[mail]
address = "workflow@corp.example"
[store]
path = "var/x.db"
[[departments]]
id = "rd"
name = "研发部"
group = "rd@corp.example"
members = ["张三 <zhangsan@corp.example>"]
"#;

fn load(s: &str) -> Result<Config, ConfigError> {
    Config::from_str(s, "test.toml", Path::new("/etc/crossdesk"))
}

#[test]
fn minimal_config_loads_with_defaults() {
    let c = load(GOOD).unwrap();
    assert_eq!(c.locale.default, "zh-CN");
    assert_eq!(c.store_path(), PathBuf::from("/etc/crossdesk/var/x.db"));
    assert_eq!(
        c.source(),
        Endpoint::Maildir(PathBuf::from("/etc/crossdesk/var/inbox"))
    );
}

#[test]
fn server_urls_parse_and_plain_text_is_loopback_only() {
    let u = ServerUrl::parse("imap://127.0.0.1:1143", "imap").unwrap();
    assert_eq!(
        (u.host.as_str(), u.port, u.tls),
        ("127.0.0.1", 1143, TlsMode::None)
    );
    let u = ServerUrl::parse("imaps://mail.corp.example", "imap").unwrap();
    assert_eq!((u.port, u.tls), (993, TlsMode::Implicit));
    let u = ServerUrl::parse("smtp://mail.corp.example:587?starttls", "smtp").unwrap();
    assert_eq!((u.port, u.tls), (587, TlsMode::StartTls));
    let u = ServerUrl::parse("smtp://[::1]:2525", "smtp").unwrap();
    assert_eq!((u.host.as_str(), u.port), ("::1", 2525));
    assert!(ServerUrl::parse("imap://mail.corp.example", "imap")
        .unwrap_err()
        .contains("only to"));
    assert!(ServerUrl::parse("pop3://x", "imap").is_err());
    assert!(ServerUrl::parse("smtp://h:99999", "smtp").is_err());
}

#[test]
fn imap_source_needs_its_section_and_a_password_source() {
    let base = GOOD.replace(
        "address = \"workflow@corp.example\"",
        "address = \"workflow@corp.example\"\nsource = \"imap\"",
    );
    let e = load(&base).unwrap_err().to_string();
    assert!(e.contains("[imap]"), "{e}");
    let e = load(&format!(
        "{base}\n[imap]\nurl = \"imap://127.0.0.1:1143\"\nuser = \"w\"\n"
    ))
    .unwrap_err()
    .to_string();
    assert!(e.contains("imap.password_file"), "{e}");
    let c = load(&format!(
        "{base}\n[imap]\nurl = \"imap://127.0.0.1:1143\"\nuser = \"w\"\npassword_env = \"X_PW\"\n"
    ))
    .unwrap();
    assert_eq!(c.source(), Endpoint::Imap);
    assert_eq!(c.imap.as_ref().unwrap().processed_folder, "Processed");
    let e = load(&format!(
        "{base}\n[imap]\nurl = \"imap://127.0.0.1:1143\"\nuser = \"w\"\npassword = \"inline\"\n"
    ))
    .unwrap_err()
    .to_string();
    assert!(e.contains("password"), "{e}");
}

#[test]
fn smtp_retry_schedule_defaults_and_is_checked() {
    let base = GOOD.replace(
        "address = \"workflow@corp.example\"",
        "address = \"workflow@corp.example\"\ntransport = \"smtp\"",
    );
    let smtp = "\n[smtp]\nurl = \"smtp://127.0.0.1:2525\"\n";
    let c = load(&format!("{base}{smtp}")).unwrap();
    assert_eq!(
        c.smtp.as_ref().unwrap().retry_seconds,
        [60, 300, 900, 3600, 14400]
    );
    let c = load(&format!("{base}{smtp}retry_seconds = [1, 2, 5]\n")).unwrap();
    assert_eq!(c.smtp.as_ref().unwrap().retry_seconds, [1, 2, 5]);
    for bad in ["[]", "[0, 5]", "[60, 300000]"] {
        let e = load(&format!("{base}{smtp}retry_seconds = {bad}\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("smtp.retry_seconds"), "{bad}: {e}");
    }
    assert_eq!(c.smtp.as_ref().unwrap().timeout_seconds, 600);
    let imap = "\n[imap]\nurl = \"imap://127.0.0.1:1143\"\nuser = \"u\"\npassword_env = \"P\"\n";
    let ibase = base.replace("transport = ", "source = \"imap\"\ntransport = ");
    let c = load(&format!("{ibase}{smtp}{imap}")).unwrap();
    assert_eq!(c.imap.as_ref().unwrap().timeout_seconds, 300);
    for bad in ["0", "3601"] {
        let e = load(&format!("{ibase}{smtp}{imap}timeout_seconds = {bad}\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("imap.timeout_seconds"), "{bad}: {e}");
    }
    let c = load(&format!(
        "{base}{smtp}timeout_seconds = 30
"
    ))
    .unwrap();
    assert_eq!(c.smtp.as_ref().unwrap().timeout_seconds, 30);
    for bad in ["0", "3601"] {
        let e = load(&format!(
            "{base}{smtp}timeout_seconds = {bad}
"
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("smtp.timeout_seconds"), "{bad}: {e}");
    }
}

#[test]
fn example_configs_load() {
    for (name, text) in [
        (
            "crossdesk.example.toml",
            include_str!("../../config/crossdesk.example.toml"),
        ),
        ("demo.toml", include_str!("../../config/demo.toml")),
    ] {
        Config::from_str(text, name, Path::new("/x")).unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn departments_override_the_digest_schedule_and_calendar_words_parse() {
    let c =
        load(&format!(
        "{}\n[digest]\nschedule = \"daily 18:00\"\n[calendar]\nweekend = [\"Fri\", \"Saturday\"]\n",
        GOOD.replace("members = [", "digest_schedule = \"Mon,Thu 10:00\"\nmembers = [")
    ))
        .unwrap();
    let s = c.clock_settings().unwrap();
    assert_eq!(s.schedule_for("rd").unwrap().text, "Mon,Thu 10:00");
    assert_eq!(s.schedule_for("other").unwrap().text, "daily 18:00");
    assert!(!s
        .calendar
        .is_workday(chrono::NaiveDate::from_ymd_opt(2026, 11, 27).unwrap()));
    assert!(s
        .calendar
        .is_workday(chrono::NaiveDate::from_ymd_opt(2026, 11, 29).unwrap()));
    let off = load(&GOOD.replace("members = [", "digest_schedule = \"off\"\nmembers = ["))
        .unwrap()
        .clock_settings()
        .unwrap();
    assert!(off.schedule_for("rd").is_none());
    // Defaults: Mon-Fri 09:00, 24h, 3d, 2d, 1d.
    let d = load(GOOD).unwrap().clock_settings().unwrap();
    assert_eq!(d.schedule_for("rd").unwrap().text, "Mon-Fri 09:00");
    assert_eq!((d.report_every, d.due_soon, d.escalate_after), (3, 2, 1));
}

#[test]
fn bad_config_names_file_key_and_problem() {
    let e = load(&GOOD.replace("rd@corp.example", "not-an-address"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("test.toml"), "{e}");
    assert!(e.contains("departments[0].group"), "{e}");
    assert!(e.contains("not an email address"), "{e}");

    let e = load(&GOOD.replace("[store]", "[store]\nbogus = 1"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("bogus"), "{e}");

    let e = load(&format!("{GOOD}\n[locale]\ntimezone = \"Mars/Base\""))
        .unwrap_err()
        .to_string();
    assert!(e.contains("locale.timezone"), "{e}");

    let e = load(&format!("{GOOD}\n[digest]\nschedule = \"Mon-Fry 09:00\""))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("digest.schedule") && e.contains("Mon-Fry"),
        "{e}"
    );
    let e = load(&format!("{GOOD}\n[reminders]\ndue_soon = \"48h\""))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("reminders.due_soon") && e.contains("working days"),
        "{e}"
    );
    let e = load(&format!("{GOOD}\n[calendar]\nholidays = [\"2026-13-01\"]"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("calendar.holidays"), "{e}");
    let e = load(&GOOD.replace(
        "members = [",
        "digest_schedule = \"sometimes\"\nmembers = [",
    ))
    .unwrap_err()
    .to_string();
    assert!(e.contains("departments[0].digest_schedule"), "{e}");

    let e = load(&format!("{GOOD}\n[keywords]\nconfrim = [\"ok\"]"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("keywords.confrim"), "{e}");

    let e = load(
        &GOOD
            .replace("maildir", "x")
            .replace("[store]", "source = \"pop3\"\n[store]"),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("mail.source"), "{e}");
}

#[test]
fn the_start_watermark_lets_mail_of_the_start_s_own_second_through() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = Config::from_str(
        &GOOD.replace("[mail]\n", "[mail]\nwatermark = \"start\"\n"),
        "t.toml",
        dir.path(),
    )
    .unwrap();
    assert_eq!(cfg.mail.watermark, "start");
    let start = chrono::DateTime::parse_from_rfc3339("2026-12-04T03:46:04.666Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let w = cfg.watermark_time(start).unwrap().unwrap();
    // An INTERNALDATE of the start's own second (whole seconds), and a
    // file time a few milliseconds behind the start: both newer.
    let internaldate = chrono::DateTime::parse_from_rfc3339("2026-12-04T03:46:04Z").unwrap();
    assert!(internaldate > w, "{internaldate} > {w}");
    assert!(start - chrono::TimeDelta::milliseconds(5) > w);
    // Mail from well before the start is still older.
    assert!(start - chrono::TimeDelta::seconds(3) < w);
}
