//! HTML-only mail → text. A small pre-filter first removes what the reader
//! never saw or did not write (`display:none` elements, quoted
//! `<blockquote>`s, comments), turns `<hr>` into a separator line quote
//! stripping knows, and caps element nesting (html2text is quadratic in
//! depth: 10,000 nested `<div>`s take a second, 100,000 nearly a minute).
//! html2text then renders it with line breaks for div/p/br and `-` list
//! items, without link footnotes or emphasis marks.

use html2text::render::text_renderer::{TaggedLine, TextDecorator};

/// Deepest element nesting handed to html2text; deeper tags are dropped
/// (their text is kept).
const MAX_DEPTH: usize = 64;

/// Render width: large, so html2text does not re-wrap the sender's lines.
const WIDTH: usize = 4096;

/// Converts an HTML body to plain text (LF line ends, not yet quote-stripped).
pub(crate) fn html_to_text(html: &str) -> String {
    let cleaned = prefilter(html);
    match html2text::config::with_decorator(MailDecorator)
        .raw_mode(true)
        .allow_width_overflow()
        .string_from_read(cleaned.as_bytes(), WIDTH)
    {
        Ok(s) => s,
        // Fall back to mail-parser's simple converter rather than lose the text.
        Err(_) => mail_parser::decoders::html::html_to_text(html),
    }
}

/// Elements that never have content.
fn is_void(name: &str) -> bool {
    matches!(
        name,
        "area"
            | "base"
            | "br"
            | "col"
            | "embed"
            | "hr"
            | "img"
            | "input"
            | "link"
            | "meta"
            | "param"
            | "source"
            | "track"
            | "wbr"
    )
}

/// Elements the HTML parser closes implicitly (`<p><p>`, `<li><li>`): they
/// cannot build depth, so they do not count towards the cap.
fn closes_implicitly(name: &str) -> bool {
    matches!(
        name,
        "p" | "li"
            | "td"
            | "th"
            | "tr"
            | "dt"
            | "dd"
            | "option"
            | "tbody"
            | "thead"
            | "tfoot"
            | "colgroup"
            | "html"
            | "head"
            | "body"
    )
}

/// A tag found at `html[start..end]`.
struct Tag<'a> {
    name: String,
    closing: bool,
    self_closing: bool,
    attrs: &'a str,
    end: usize,
}

/// Parses the tag starting at `pos` (which holds `<`). `None` when it is not a
/// tag (a bare `<` in text, or no `>` before the next unquoted `<` — which
/// also keeps the scan from running to the end of the document for every
/// `<` of a hostile message).
fn read_tag(html: &str, pos: usize) -> Option<Tag<'_>> {
    let b = html.as_bytes();
    let mut i = pos + 1;
    let closing = b.get(i) == Some(&b'/');
    if closing {
        i += 1;
    }
    let name_start = i;
    while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'-' || b[i] == b':') {
        i += 1;
    }
    if i == name_start || !b[name_start].is_ascii_alphabetic() {
        return None;
    }
    let name = html[name_start..i].to_ascii_lowercase();
    let attrs_start = i;
    // Find the closing '>' outside quotes.
    let mut quote = 0u8;
    while i < b.len() {
        let c = b[i];
        if quote != 0 {
            if c == quote {
                quote = 0;
            }
        } else if c == b'"' || c == b'\'' {
            quote = c;
        } else if c == b'>' {
            break;
        } else if c == b'<' {
            return None;
        }
        i += 1;
    }
    if i >= b.len() {
        return None;
    }
    let end = i + 1;
    let attrs = &html[attrs_start..i];
    Some(Tag {
        self_closing: attrs.trim_end().ends_with('/'),
        name,
        closing,
        attrs,
        end,
    })
}

/// `style="…display:none…"` in any case and spacing (and Outlook's
/// `mso-hide:all`).
fn is_hidden(attrs: &str) -> bool {
    let compact: String = attrs
        .to_ascii_lowercase()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    compact.contains("display:none") || compact.contains("mso-hide:all")
}

/// A `<blockquote>` used for indenting (Gmail's indent button writes
/// `style="margin:0 0 0 40px;border:none;padding:0px"`), not for quoting.
fn is_indent_blockquote(attrs: &str) -> bool {
    let compact: String = attrs
        .to_ascii_lowercase()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    compact.contains("border:none") && !compact.contains("type=\"cite\"")
}

/// Where the element opened by a `name` tag ending at `from` ends (after its
/// matching close tag), counting nested elements of the same name.
fn skip_element(html: &str, name: &str, from: usize) -> Option<usize> {
    let b = html.as_bytes();
    let mut depth = 1usize;
    let mut i = from;
    while let Some(off) = html[i..].find('<') {
        let pos = i + off;
        if html[pos..].starts_with("<!--") {
            i = html[pos..].find("-->").map_or(b.len(), |e| pos + e + 3);
            continue;
        }
        match read_tag(html, pos) {
            Some(t) if t.name == name => {
                if t.closing {
                    depth -= 1;
                    if depth == 0 {
                        return Some(t.end);
                    }
                } else if !t.self_closing {
                    depth += 1;
                }
                i = t.end;
            }
            Some(t) => i = t.end,
            None => i = pos + 1,
        }
    }
    None
}

/// The end of a raw-text element (`<script>`, `<style>`) whose start tag
/// ended at `from`: just after its `</name>`, or the end of the document.
fn skip_raw_text(html: &str, name: &str, from: usize) -> usize {
    let b = html.as_bytes();
    let mut i = from;
    while let Some(off) = html[i..].find("</") {
        let pos = i + off;
        let end = pos + 2 + name.len();
        if b.len() >= end && b[pos + 2..end].eq_ignore_ascii_case(name.as_bytes()) {
            return html[end..].find('>').map_or(b.len(), |e| end + e + 1);
        }
        i = pos + 2;
    }
    b.len()
}

/// The pre-filter described in the module comment.
pub(crate) fn prefilter(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut depth = 0usize;
    // After one element without a matching end tag, no more skipping: each
    // failed search scans to the end, and many of them would be quadratic.
    let mut can_skip = true;
    let mut i = 0;
    while let Some(off) = html[i..].find('<') {
        let pos = i + off;
        out.push_str(&html[i..pos]);
        if html[pos..].starts_with("<!--") {
            i = html[pos..].find("-->").map_or(html.len(), |e| pos + e + 3);
            continue;
        }
        let Some(tag) = read_tag(html, pos) else {
            out.push('<');
            i = pos + 1;
            continue;
        };
        i = tag.end;
        let void = is_void(&tag.name) || tag.self_closing;
        if !tag.closing && !tag.self_closing && (tag.name == "script" || tag.name == "style") {
            // Raw text: a `<` in a script is not a tag. html2text drops both anyway.
            i = skip_raw_text(html, &tag.name, tag.end);
            continue;
        }
        if !tag.closing {
            let quote = tag.name == "blockquote" && !is_indent_blockquote(tag.attrs);
            if quote || is_hidden(tag.attrs) {
                if !void && can_skip {
                    match skip_element(html, &tag.name, tag.end) {
                        Some(end) => i = end,
                        None => can_skip = false,
                    }
                }
                continue;
            }
            if tag.name == "hr" {
                out.push_str("<div>________________________________</div>");
                continue;
            }
            if void || closes_implicitly(&tag.name) {
                out.push_str(&html[pos..tag.end]);
                continue;
            }
            depth += 1;
            if depth <= MAX_DEPTH {
                out.push_str(&html[pos..tag.end]);
            }
        } else {
            if void || closes_implicitly(&tag.name) {
                out.push_str(&html[pos..tag.end]);
                continue;
            }
            if depth <= MAX_DEPTH {
                out.push_str(&html[pos..tag.end]);
            }
            depth = depth.saturating_sub(1);
        }
    }
    out.push_str(&html[i..]);
    out
}

/// Plain output: no link footnotes, emphasis marks or image placeholders;
/// `- ` and `1. ` list items (task lists survive); no quote prefix (quoted
/// blockquotes are already gone, indenting ones are ordinary text).
#[derive(Clone, Copy)]
struct MailDecorator;

impl TextDecorator for MailDecorator {
    type Annotation = ();

    fn decorate_link_start(&mut self, _url: &str) -> (String, ()) {
        (String::new(), ())
    }
    fn decorate_link_end(&mut self) -> String {
        String::new()
    }
    fn decorate_em_start(&self) -> (String, ()) {
        (String::new(), ())
    }
    fn decorate_em_end(&self) -> String {
        String::new()
    }
    fn decorate_strong_start(&self) -> (String, ()) {
        (String::new(), ())
    }
    fn decorate_strong_end(&self) -> String {
        String::new()
    }
    fn decorate_strikeout_start(&self) -> (String, ()) {
        (String::new(), ())
    }
    fn decorate_strikeout_end(&self) -> String {
        String::new()
    }
    fn decorate_code_start(&self) -> (String, ()) {
        (String::new(), ())
    }
    fn decorate_code_end(&self) -> String {
        String::new()
    }
    fn decorate_preformat_first(&self) {}
    fn decorate_preformat_cont(&self) {}
    fn decorate_image(&mut self, _src: &str, _title: &str) -> (String, ()) {
        (String::new(), ())
    }
    fn header_prefix(&self, _level: usize) -> String {
        String::new()
    }
    fn quote_prefix(&self) -> String {
        String::new()
    }
    fn unordered_item_prefix(&self) -> String {
        "- ".to_string()
    }
    fn ordered_item_prefix(&self, i: i64) -> String {
        format!("{i}. ")
    }
    fn make_subblock_decorator(&self) -> Self {
        MailDecorator
    }
    fn decorate_superscript_start(&self) -> (String, ()) {
        (String::new(), ())
    }
    fn decorate_superscript_end(&self) -> String {
        String::new()
    }
    fn finalise(&mut self, _links: Vec<String>) -> Vec<TaggedLine<()>> {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn divs_and_brs_make_lines() {
        let t = html_to_text("<div>第一行</div><div>second</div>third<br>fourth");
        let lines: Vec<&str> = t.lines().map(str::trim_end).collect();
        assert_eq!(lines, ["第一行", "second", "third", "fourth"]);
    }

    #[test]
    fn hidden_elements_are_dropped() {
        let t = html_to_text(
            "<div style=\"DISPLAY: none\">preheader <b>junk</b></div><p>visible</p>\
             <span style='mso-hide:all'>also hidden</span>",
        );
        assert_eq!(t.trim(), "visible");
    }

    #[test]
    fn quoting_blockquotes_are_removed_but_indents_kept() {
        let t = html_to_text(
            "<p>reply</p><blockquote type=\"cite\"><p>old <blockquote>older</blockquote> text</p></blockquote>\
             <blockquote style=\"margin:0 0 0 40px;border:none;padding:0px\">indented</blockquote>",
        );
        assert!(t.contains("reply") && t.contains("indented"), "{t}");
        assert!(!t.contains("old") && !t.contains("text"), "{t}");
    }

    #[test]
    fn lists_keep_dash_items_and_links_lose_footnotes() {
        let t = html_to_text("<ul><li>a@corp.example: API</li></ul><a href=\"http://x\">link</a>");
        assert!(t.contains("- a@corp.example: API"), "{t}");
        assert!(!t.contains("http://x"), "{t}");
    }

    #[test]
    fn style_and_script_are_not_text() {
        let t = html_to_text(
            "<style>p{color:red}</style><script>if (a<b) { x = '<div>'; }</SCRIPT><p>hi &amp; bye</p>",
        );
        assert_eq!(t.trim(), "hi & bye");
    }

    #[test]
    fn unterminated_tags_and_unclosed_hidden_elements_are_linear() {
        let mut h = String::new();
        for _ in 0..50_000 {
            h.push_str("<a \"x<div style=display:none>");
        }
        h.push_str("<p>end</p>");
        let t0 = std::time::Instant::now();
        let _ = prefilter(&h);
        assert!(t0.elapsed().as_secs() < 5, "{:?}", t0.elapsed());
        assert!(prefilter("a <b c").contains("<b c"));
    }

    #[test]
    fn deep_nesting_is_capped_and_fast() {
        let mut h = String::new();
        for _ in 0..20_000 {
            h.push_str("<div>");
        }
        h.push_str("deep");
        for _ in 0..20_000 {
            h.push_str("</div>");
        }
        let t0 = std::time::Instant::now();
        let t = html_to_text(&h);
        assert_eq!(t.trim(), "deep");
        assert!(t0.elapsed().as_secs() < 5);
    }
}
