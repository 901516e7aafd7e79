//! Key-value rows of the store: source cursors, the watermark, the crash
//! guard's death counts, the clock's exactly-once keys.

use super::*;

impl Store {
    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()?)
    }

    pub fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO meta(key, value) VALUES (?1, ?2)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }

    /// Counts one more death of the daemon with the message `name` in
    /// hand (see [`crate::crashguard`]); returns the count.
    pub fn bump_crash(&self, name: &str) -> Result<u32> {
        let key = format!("{CRASH_PREFIX}{name}");
        let n = self
            .meta(&key)?
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
            + 1;
        self.set_meta(&key, &n.to_string())?;
        Ok(n)
    }

    /// Every message the daemon died with in hand, with its count.
    pub fn crash_counts(&self) -> Result<Vec<(String, u32)>> {
        let mut st = self
            .conn
            .prepare("SELECT key, value FROM meta WHERE key >= ?1 AND key < ?2")?;
        let rows = st.query_map(params![CRASH_PREFIX, "crashed;"], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?;
        let mut out = vec![];
        for r in rows {
            let (k, v) = r?;
            out.push((k[CRASH_PREFIX.len()..].to_string(), v.parse().unwrap_or(0)));
        }
        Ok(out)
    }

    /// Has the clock recorded this key (a digest slot or a reminder)?
    pub fn clock_sent(&self, key: &str) -> Result<bool> {
        let mut st = self
            .conn
            .prepare_cached("SELECT 1 FROM clock_sent WHERE key = ?1")?;
        Ok(st.exists([key])?)
    }

    /// The clock's keys with a prefix (`digest:rd:`), oldest first.
    pub fn clock_keys(&self, prefix: &str) -> Result<Vec<String>> {
        let mut st = self.conn.prepare_cached(
            "SELECT key FROM clock_sent WHERE substr(key, 1, length(?1)) = ?1 ORDER BY at, key",
        )?;
        let rows = st.query_map([prefix], |r| r.get(0))?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// A number that grows with every state change (the last event's id):
    /// the clock recomputes reminders only when it moved or time passed.
    pub fn generation(&self) -> Result<i64> {
        Ok(self
            .conn
            .query_row("SELECT COALESCE(MAX(id), 0) FROM events", [], |r| r.get(0))?)
    }
}
