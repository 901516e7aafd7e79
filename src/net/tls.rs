//! The TLS client settings every connection out uses: the system's roots
//! plus an optional private CA (`ca_file`), rustls with ring.

use std::sync::Arc;

/// Builds a rustls client config from the system roots plus an optional PEM file.
pub fn tls_connector(ca_pem: Option<&[u8]>) -> Result<tokio_rustls::TlsConnector, String> {
    Ok(tokio_rustls::TlsConnector::from(Arc::new(client_config(
        ca_pem,
    )?)))
}

/// The rustls client settings: the system's roots plus an optional PEM
/// file of extra CA certificates, ring as the provider.
pub fn client_config(ca_pem: Option<&[u8]>) -> Result<tokio_rustls::rustls::ClientConfig, String> {
    let mut roots = tokio_rustls::rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for c in native.certs {
        let _ = roots.add(c);
    }
    if let Some(pem) = ca_pem {
        let mut rd = pem;
        for c in rustls_pemfile_certs(&mut rd)? {
            roots.add(c).map_err(|e| format!("ca_file: {e}"))?;
        }
    }
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let cfg = tokio_rustls::rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(cfg)
}

/// PEM → DER certificates, without another dependency: the base64 between
/// BEGIN/END CERTIFICATE lines.
fn rustls_pemfile_certs(
    pem: &mut &[u8],
) -> Result<Vec<tokio_rustls::rustls::pki_types::CertificateDer<'static>>, String> {
    let text = std::str::from_utf8(pem).map_err(|_| "ca_file is not PEM text".to_string())?;
    let mut out = vec![];
    let mut cur: Option<String> = None;
    for line in text.lines() {
        let l = line.trim();
        if l == "-----BEGIN CERTIFICATE-----" {
            cur = Some(String::new());
        } else if l == "-----END CERTIFICATE-----" {
            if let Some(b) = cur.take() {
                out.push(tokio_rustls::rustls::pki_types::CertificateDer::from(
                    b64_decode(&b).ok_or("ca_file: bad base64")?,
                ));
            }
        } else if let Some(b) = cur.as_mut() {
            b.push_str(l);
        }
    }
    if out.is_empty() {
        return Err("ca_file holds no certificate".into());
    }
    Ok(out)
}

fn b64_decode(s: &str) -> Option<Vec<u8>> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let bytes: Vec<u8> = s
        .bytes()
        .filter(|c| *c != b'=' && !c.is_ascii_whitespace())
        .collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            n |= val(*c)? << (18 - 6 * i);
        }
        out.push((n >> 16) as u8);
        if chunk.len() > 2 {
            out.push((n >> 8) as u8);
        }
        if chunk.len() > 3 {
            out.push(n as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_decodes_pem_bodies() {
        assert_eq!(b64_decode("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(b64_decode("aGVsbG8h").unwrap(), b"hello!");
        assert!(b64_decode("a$==").is_none());
    }
}
