//! A robot's pace: the platform's rate limits as sliding windows over the
//! times of its last sends, so that a burst of events is spread and the
//! platform never throttles the robot. Times are milliseconds.

use super::Platform;
use std::collections::VecDeque;

/// Room for the clocks of two machines and the time a request travels: a
/// window counts this much longer than the platform's.
const MARGIN_MS: i64 = 1_000;

#[derive(Debug, Clone)]
pub struct Pacer {
    /// (messages, window in ms), each never to be exceeded.
    windows: Vec<(usize, i64)>,
    /// When the latest sends were answered, oldest first.
    sent: VecDeque<i64>,
    /// No send before this (the platform said the robot is throttled).
    hold_until: i64,
}

impl Pacer {
    /// The platform's limits: 20 a minute for DingTalk and WeCom; 100 a
    /// minute and 5 a second for Feishu. `per_minute` may set a lower one.
    pub fn new(platform: Platform, per_minute: Option<u32>) -> Pacer {
        let n = per_minute
            .unwrap_or(u32::MAX)
            .min(platform.per_minute())
            .max(1) as usize;
        let mut windows = vec![(n, 60_000 + MARGIN_MS)];
        if platform == Platform::Feishu {
            windows.push((5, 1_000 + MARGIN_MS / 5));
        }
        Pacer {
            windows,
            sent: VecDeque::new(),
            hold_until: i64::MIN,
        }
    }

    /// A send whose answer came at `at` (sends are recorded in order).
    pub fn record(&mut self, at: i64) {
        self.sent.push_back(at);
        let keep = self.windows.iter().map(|w| w.0).max().unwrap_or(1);
        while self.sent.len() > keep {
            self.sent.pop_front();
        }
    }

    /// The sends the store knows of (from this process or another), in
    /// place of those recorded so far; a hold stays.
    pub fn seed(&mut self, times: impl IntoIterator<Item = i64>) {
        self.sent.clear();
        for t in times {
            self.record(t);
        }
    }

    /// No send before `until` (a throttled robot).
    pub fn hold(&mut self, until: i64) {
        self.hold_until = self.hold_until.max(until);
    }

    /// The earliest time from `now` at which a send may start.
    pub fn next_slot(&self, now: i64) -> i64 {
        let mut at = now.max(self.hold_until);
        for &(n, window) in &self.windows {
            if self.sent.len() >= n {
                // The n-th latest send must have left the window.
                let nth = self.sent[self.sent.len() - n];
                at = at.max(nth + window);
            }
        }
        at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sends `n` messages as early as the pacer allows, from time 0.
    fn run(p: &mut Pacer, n: usize) -> Vec<i64> {
        let mut now = 0;
        let mut v = vec![];
        for _ in 0..n {
            now = p.next_slot(now);
            p.record(now);
            v.push(now);
            now += 50; // a post takes 50 ms
        }
        v
    }

    fn most_in_any(times: &[i64], window: i64) -> usize {
        times
            .iter()
            .map(|&t| times.iter().filter(|&&u| u >= t && u < t + window).count())
            .max()
            .unwrap_or(0)
    }

    #[test]
    fn a_burst_of_fifty_is_spread_under_each_platform_limit() {
        let mut d = Pacer::new(Platform::DingTalk, None);
        let t = run(&mut d, 50);
        assert_eq!(most_in_any(&t, 60_000), 20);
        // The first 20 at once, the rest a minute (and a margin) later.
        assert!(t[19] < 2_000 && t[20] >= 61_000, "{t:?}");
        assert!(t[49] < 3 * 61_000 + 2_000, "{t:?}");
        let mut f = Pacer::new(Platform::Feishu, None);
        let t = run(&mut f, 50);
        assert_eq!(most_in_any(&t, 1_000), 5);
        assert!(most_in_any(&t, 60_000) <= 100);
        assert!(t[49] < 12_000, "50 Feishu messages take about 10 s: {t:?}");
        let mut w = Pacer::new(Platform::WeCom, Some(6));
        let t = run(&mut w, 12);
        assert_eq!(most_in_any(&t, 60_000), 6);
        // A configured pace above the platform's is the platform's.
        let mut w = Pacer::new(Platform::WeCom, Some(500));
        assert_eq!(most_in_any(&run(&mut w, 40), 60_000), 20);
    }

    #[test]
    fn a_held_robot_waits() {
        let mut p = Pacer::new(Platform::DingTalk, None);
        p.hold(600_000);
        assert_eq!(p.next_slot(10), 600_000);
        assert_eq!(p.next_slot(700_000), 700_000);
    }
}
