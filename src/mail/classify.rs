//! Subject tags, identifiers and body fields → `Command` (pure).

use crate::workflow::model::{Action, Command, Fields};
use chrono::NaiveDate;
use std::collections::HashMap;

/// Keyword sets: the defaults of PROTOCOL.md plus a company's own words.
#[derive(Debug, Clone, Default)]
pub struct Keywords {
    words: HashMap<String, Action>,
}

impl Keywords {
    /// Adds extra words for an action (from the config).
    pub fn add(&mut self, action: Action, word: &str) {
        self.words.insert(word.to_lowercase(), action);
    }
}

/// STUB: replaced by the real classifier.
pub fn classify(subject: &str, body: &str, kw: &Keywords, today: NaiveDate) -> Command {
    let _ = (kw, today);
    Command {
        action: None,
        target: None,
        title: subject.to_string(),
        fields: Fields {
            note: body.to_string(),
            ..Fields::default()
        },
        unknown_keyword: None,
    }
}
