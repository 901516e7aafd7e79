//! The mail edge: raw bytes in, a clean `Inbound` out (parse), a `Command`
//! from it (classify), and the "never act on or answer" filter.

pub mod classify;
pub mod filter;
pub mod parse;

use crate::model::Mailbox;
use serde::{Deserialize, Serialize};

/// One incoming mail, decoded and cleaned. Every string here has had its
/// control characters removed (CR/LF smuggled through encoded-words included).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inbound {
    /// The Message-ID without angle brackets, if the mail had one.
    pub message_id: Option<String>,
    /// The exactly-once key: `mid:<Message-ID>`, or `sha256:<hex>` of the raw
    /// bytes when there is no Message-ID.
    pub dedupe_key: String,
    pub from: Option<Mailbox>,
    pub to: Vec<Mailbox>,
    pub cc: Vec<Mailbox>,
    /// The decoded subject (encoded-words joined, GBK raw bytes decoded).
    pub subject: String,
    /// The Date header as RFC 3339, if it could be read.
    pub date: Option<String>,
    /// In-Reply-To ids without brackets (comma-separated lists split).
    pub in_reply_to: Vec<String>,
    /// References ids without brackets, oldest first.
    pub references: Vec<String>,
    /// `X-Microsoft-Original-Message-ID`, if any.
    pub ms_original_id: Option<String>,
    /// Body text: HTML reduced to text, format=flowed applied, quoted
    /// replies and signatures removed, NULs removed.
    pub body: String,
    /// Top-level MIME type, lower-cased (`text/plain`, `multipart/report`, …).
    pub content_type: String,
    /// The headers the filter looks at, lower-cased names, decoded values,
    /// in order of appearance (all occurrences).
    pub headers: Vec<(String, String)>,
    /// `Return-Path: <>` (a bounce).
    pub return_path_empty: bool,
    /// For a bounce (`multipart/report` or a quoted original): the
    /// Message-ID of the original message it reports on, if found.
    pub bounced_message_id: Option<String>,
    /// Size of the raw message in bytes.
    pub size: usize,
    /// The files the sender attached (not the body, not images the HTML
    /// body shows), in order; their bytes stay in the raw message.
    pub attachments: Vec<Attachment>,
}

/// How an attachment's bytes are encoded in the raw message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum TransferEncoding {
    #[default]
    Identity,
    Base64,
    QuotedPrintable,
}

/// One attached file: its name as the sender's client wrote it (decoded,
/// path and control characters removed), its MIME type, and where its
/// encoded bytes are in the raw message (`Attachment::bytes` decodes them
/// when the file is kept, so a batch of parsed mails holds no file twice).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    pub name: String,
    pub content_type: String,
    pub start: usize,
    pub end: usize,
    pub encoding: TransferEncoding,
}

impl Attachment {
    /// The decoded bytes, read from the raw message this was parsed from.
    pub fn bytes<'a>(&self, raw: &'a [u8]) -> std::borrow::Cow<'a, [u8]> {
        parse::attachment_bytes(self, raw)
    }
}

impl Inbound {
    /// The first value of a header (name case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a header, in order of appearance.
    pub fn header_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// All thread ids a reply may point at: In-Reply-To first, then
    /// References newest first, then the Microsoft original id.
    pub fn thread_ids(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.in_reply_to.iter().map(String::as_str).collect();
        v.extend(self.references.iter().rev().map(String::as_str));
        if let Some(m) = &self.ms_original_id {
            v.push(m);
        }
        v
    }
}
