//! A latest-value cell: state handed from one thread to another where only the newest
//! value matters (a link's online/offline status, the goals for a bus, the link
//! faults acting on it). A writer never blocks and never fails; a reader sees the
//! newest value and whether it changed since it last looked. Unlike a bounded
//! channel, nothing can be lost: an older value is replaced, which is what it means
//! for the state to have moved on.
//!
//! A real-time thread that must never wait on a lower-priority one (physics on the
//! served bus's thread) uses the `try_` side: it takes or offers the value only when
//! the other side is not holding the cell that instant, and otherwise goes on with
//! what it had (taking or offering the newer value next step).

use std::sync::{Arc, Mutex, MutexGuard, TryLockError};

/// Both ends of the cell (clone it to share).
#[derive(Debug)]
pub struct Latest<T> {
    inner: Arc<Mutex<(u64, T)>>,
}

impl<T> Clone for Latest<T> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<T: Clone> Latest<T> {
    /// A cell holding `initial` at version 0.
    pub fn new(initial: T) -> Self {
        Self {
            inner: Arc::new(Mutex::new((0, initial))),
        }
    }

    /// Replaces the value (the version moves on).
    pub fn set(&self, v: T) {
        let mut g = self.lock();
        g.0 += 1;
        g.1 = v;
    }

    /// Changes part of the value in place (the version moves on): for state several
    /// writers each update a part of.
    pub fn update(&self, f: impl FnOnce(&mut T)) {
        let mut g = self.lock();
        g.0 += 1;
        f(&mut g.1);
    }

    /// The value now.
    pub fn get(&self) -> T {
        self.lock().1.clone()
    }

    /// The value if it changed since version `*seen` (which is then updated).
    pub fn changed(&self, seen: &mut u64) -> Option<T> {
        let g = self.lock();
        (g.0 != *seen).then(|| {
            *seen = g.0;
            g.1.clone()
        })
    }

    /// As [`Latest::changed`], without waiting: `None` also while the other side
    /// holds the cell (ask again next time; nothing is lost, the value stays).
    pub fn try_changed(&self, seen: &mut u64) -> Option<T> {
        let g = self.try_lock()?;
        (g.0 != *seen).then(|| {
            *seen = g.0;
            g.1.clone()
        })
    }

    /// As [`Latest::try_changed`], copied into `out` (reusing its allocation: a
    /// control loop that must not allocate); true if it was.
    pub fn try_changed_into(&self, seen: &mut u64, out: &mut T) -> bool {
        let Some(g) = self.try_lock() else {
            return false;
        };
        if g.0 == *seen {
            return false;
        }
        *seen = g.0;
        out.clone_from(&g.1);
        true
    }

    /// As [`Latest::set`], without waiting: false while the other side holds the
    /// cell, and the value is not stored (offer the newer one next time).
    pub fn offer(&self, v: T) -> bool {
        let Some(mut g) = self.try_lock() else {
            return false;
        };
        g.0 += 1;
        g.1 = v;
        true
    }

    /// Holds the cell as the other side does mid-copy, until the guard drops: a
    /// scripted stall, to show that a `try_` user never waits on it.
    pub fn hold(&self) -> Held<'_, T> {
        Held(self.lock())
    }

    fn try_lock(&self) -> Option<MutexGuard<'_, (u64, T)>> {
        match self.inner.try_lock() {
            Ok(g) => Some(g),
            Err(TryLockError::Poisoned(e)) => Some(e.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        }
    }

    fn lock(&self) -> MutexGuard<'_, (u64, T)> {
        // A writer that panicked mid-set left a whole value behind: still usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The cell held (see [`Latest::hold`]); released on drop.
pub struct Held<'a, T>(#[allow(dead_code)] MutexGuard<'a, (u64, T)>);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reader_sees_the_newest_value_once_and_nothing_is_queued() {
        let cell = Latest::new("online");
        let mut seen = 0;
        assert_eq!(cell.changed(&mut seen), None);
        cell.set("offline");
        cell.set("online");
        cell.set("offline");
        assert_eq!(cell.changed(&mut seen), Some("offline"));
        assert_eq!(cell.changed(&mut seen), None);
        assert_eq!(cell.get(), "offline");
    }

    #[test]
    fn the_try_side_never_waits_and_loses_nothing() {
        let cell = Latest::new(1);
        let mut seen = 0;
        assert!(cell.offer(2));
        let held = cell.hold();
        // Held by the other side: neither call waits, and neither takes effect.
        assert!(!cell.offer(3));
        assert_eq!(cell.try_changed(&mut seen), None);
        drop(held);
        assert_eq!(cell.try_changed(&mut seen), Some(2));
        assert_eq!(cell.try_changed(&mut seen), None);
    }

    #[test]
    fn updated_in_place_and_copied_into_a_buffer_only_when_changed() {
        let cell = Latest::new(vec![0, 0]);
        let (mut seen, mut out) = (0, Vec::new());
        assert!(!cell.try_changed_into(&mut seen, &mut out));
        cell.update(|v| v[1] = 7);
        let held = cell.hold();
        assert!(!cell.try_changed_into(&mut seen, &mut out), "held: not now");
        drop(held);
        assert!(cell.try_changed_into(&mut seen, &mut out));
        assert_eq!(out, vec![0, 7]);
        assert!(!cell.try_changed_into(&mut seen, &mut out));
    }
}
