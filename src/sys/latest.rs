//! A latest-value cell: state handed from one thread to another where only the newest
//! value matters (a link's online/offline status, the goals for a bus, the link
//! faults acting on it). A writer never blocks and never fails; a reader sees the
//! newest value and whether it changed since it last looked. Unlike a bounded
//! channel, nothing can be lost: an older value is replaced, which is what it means
//! for the state to have moved on.

use std::sync::{Arc, Mutex, MutexGuard};

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

    fn lock(&self) -> MutexGuard<'_, (u64, T)> {
        // A writer that panicked mid-set left a whole value behind: still usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

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
}
