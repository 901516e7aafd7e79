//! A template file's sections: its subject, text and html, each after its
//! marker line. (build.rs includes this file too, to compile the built-in
//! templates.)

/// Section markers of a template file, each alone on its line.
pub const MARK_SUBJECT: &str = "--- subject ---";
pub const MARK_TEXT: &str = "--- text ---";
pub const MARK_HTML: &str = "--- html ---";

/// One template file's sections.
#[derive(Debug, Default)]
pub struct Sections {
    pub subject: Option<String>,
    pub text: Option<String>,
    pub html: Option<String>,
}

/// Splits a template file at its marker lines. Text before the first
/// marker is a comment. CRLF files (edited on Windows) are accepted.
pub fn split(src: &str) -> Result<Sections, String> {
    let src = src.replace("\r\n", "\n");
    let mut s = Sections::default();
    let mut current: Option<(&str, String)> = None;
    let mut seen_marker = false;
    let finish = |cur: Option<(&str, String)>, s: &mut Sections| -> Result<(), String> {
        if let Some((which, body)) = cur {
            let slot = match which {
                "subject" => &mut s.subject,
                "text" => &mut s.text,
                _ => &mut s.html,
            };
            if slot.is_some() {
                return Err(format!("section `--- {which} ---` appears twice"));
            }
            *slot = Some(body);
        }
        Ok(())
    };
    for line in src.split_inclusive('\n') {
        let which = match line.trim_end() {
            MARK_SUBJECT => Some("subject"),
            MARK_TEXT => Some("text"),
            MARK_HTML => Some("html"),
            _ => None,
        };
        match which {
            Some(w) => {
                seen_marker = true;
                finish(current.take(), &mut s)?;
                current = Some((w, String::new()));
            }
            None => {
                if let Some((_, body)) = current.as_mut() {
                    body.push_str(line);
                }
            }
        }
    }
    finish(current.take(), &mut s)?;
    if !seen_marker {
        return Err(format!(
            "no section markers: a template holds `{MARK_SUBJECT}`, `{MARK_TEXT}` and `{MARK_HTML}` lines"
        ));
    }
    Ok(s)
}
