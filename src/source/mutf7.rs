//! IMAP's modified UTF-7 for mailbox names (RFC 3501 5.1.3): how a
//! folder called 已处理 travels on the wire (`&XfJZBHQG-`) to a server that
//! was not asked for UTF-8 names (RFC 6855), and how Dovecot's Maildir++
//! names it on disk. Printable ASCII stands for itself, except `&`, which
//! is `&-`; anything else is UTF-16BE in base64 (`,` for `/`, no padding)
//! between `&` and `-`.

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

/// The name as the server knows it. A configured name that is already
/// valid modified UTF-7 (copied from a server's listing, say `&XfJZBHQG-`)
/// is taken as it is; any other is encoded (`R&D` → `R&-D`).
pub fn wire_name(name: &str) -> String {
    if decode(name).is_some() {
        name.to_string()
    } else {
        encode(name)
    }
}

/// The name for people: decoded when it is valid modified UTF-7, else as
/// the server sent it.
pub fn display_name(wire: &str) -> String {
    decode(wire).unwrap_or_else(|| wire.to_string())
}

pub fn encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut wide: Vec<u16> = vec![];
    for c in name.chars() {
        if (' '..='~').contains(&c) {
            flush(&mut wide, &mut out);
            if c == '&' {
                out.push_str("&-");
            } else {
                out.push(c);
            }
        } else {
            let mut b = [0u16; 2];
            wide.extend_from_slice(c.encode_utf16(&mut b));
        }
    }
    flush(&mut wide, &mut out);
    out
}

/// A run of non-ASCII characters as `&…-`.
fn flush(wide: &mut Vec<u16>, out: &mut String) {
    if wide.is_empty() {
        return;
    }
    let bytes: Vec<u8> = wide.drain(..).flat_map(u16::to_be_bytes).collect();
    out.push('&');
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | (b as u32) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(B64[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out.push('-');
}

/// None when `wire` is not valid modified UTF-7.
pub fn decode(wire: &str) -> Option<String> {
    let mut out = String::with_capacity(wire.len());
    let mut rest = wire;
    while let Some(i) = rest.find('&') {
        let plain = &rest[..i];
        if !plain.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
            return None;
        }
        out.push_str(plain);
        let after = &rest[i + 1..];
        let end = after.find('-')?;
        let run = &after[..end];
        if run.is_empty() {
            out.push('&');
        } else {
            out.push_str(&decode_run(run)?);
        }
        rest = &after[end + 1..];
    }
    if !rest.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
        return None;
    }
    out.push_str(rest);
    Some(out)
}

/// The characters between `&` and `-`.
fn decode_run(run: &str) -> Option<String> {
    let mut bits = 0u32;
    let mut nbits = 0;
    let mut bytes = vec![];
    for c in run.bytes() {
        let v = B64.iter().position(|&b| b == c)? as u32;
        bits = bits << 6 | v;
        nbits += 6;
        if nbits >= 8 {
            nbits -= 8;
            bytes.push((bits >> nbits) as u8);
            bits &= (1 << nbits) - 1;
        }
    }
    // Leftover bits must be padding zeros, and UTF-16 comes in pairs.
    if bits != 0 || bytes.len() % 2 != 0 {
        return None;
    }
    let wide: Vec<u16> = bytes
        .chunks(2)
        .map(|p| u16::from_be_bytes([p[0], p[1]]))
        .collect();
    let s = String::from_utf16(&wide).ok()?;
    // Printable ASCII is never encoded (RFC 3501): such a run is not ours.
    if s.chars().any(|c| (' '..='~').contains(&c)) {
        return None;
    }
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_3501_example_and_chinese_folder_names() {
        // RFC 3501 5.1.3.
        assert_eq!(
            encode("~peter/mail/台北/日本語"),
            "~peter/mail/&U,BTFw-/&ZeVnLIqe-"
        );
        assert_eq!(
            decode("~peter/mail/&U,BTFw-/&ZeVnLIqe-").as_deref(),
            Some("~peter/mail/台北/日本語")
        );
        // Checked against Python's UTF-16BE + base64.
        for (name, wire) in [
            ("已处理", "&XfJZBHQG-"),
            ("已拒绝", "&XfJi0n7d-"),
            ("工作流", "&XeVPXG1B-"),
            ("归档/2026年", "&X1JoYw-/2026&XnQ-"),
            ("R&D", "R&-D"),
            ("INBOX", "INBOX"),
            ("😀", "&2D3eAA-"),
        ] {
            assert_eq!(encode(name), wire, "{name}");
            assert_eq!(decode(wire).as_deref(), Some(name), "{wire}");
            assert_eq!(wire_name(name), wire, "{name}");
            assert_eq!(wire_name(wire), wire, "{wire} is taken as it is");
            assert_eq!(display_name(wire), name);
        }
    }

    #[test]
    fn what_is_not_modified_utf7_is_refused() {
        for bad in ["R&D", "&XfJZBHQG", "a&=-", "已处理", "&AGEAYgBj-", "&Xf-"] {
            assert_eq!(decode(bad), None, "{bad}");
        }
        // … and shown as the server sent it.
        assert_eq!(display_name("R&D"), "R&D");
    }
}
