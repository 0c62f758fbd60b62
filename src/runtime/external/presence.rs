//! Whether each external service is there now: one liveliness subscription per key
//! for the whole run, its callback keeping a flag, so the executor can ask without
//! waiting whether a service that went away has come back (its joint then returns to
//! it, see `Supervisor::service_away`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use zenoh::Wait;
use zenoh::pubsub::Subscriber;
use zenoh::sample::SampleKind;

use super::ExternalError;

/// How often a bounded wait looks at the flag, wall time.
const POLL: Duration = Duration::from_millis(1);

/// One external service's liveliness, kept current by Zenoh (clones share it).
#[derive(Clone)]
pub struct Presence {
    here: Arc<AtomicBool>,
    _subscription: Arc<Subscriber<()>>,
}

impl std::fmt::Debug for Presence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Presence")
            .field("here", &self.here.load(Ordering::Relaxed))
            .finish()
    }
}

impl Presence {
    /// Watches `{key}/alive` from now on (the tokens already held included).
    pub fn watch(session: &zenoh::Session, key: &str) -> Result<Self, ExternalError> {
        let here = Arc::new(AtomicBool::new(false));
        let flag = here.clone();
        let subscription = session
            .liveliness()
            .declare_subscriber(format!("{key}/alive"))
            .history(true)
            .callback(move |s| flag.store(s.kind() == SampleKind::Put, Ordering::Release))
            .wait()
            .map_err(|e| ExternalError::Declare {
                key: format!("{key}/alive"),
                why: e.to_string(),
            })?;
        Ok(Self {
            here,
            _subscription: Arc::new(subscription),
        })
    }

    /// Whether the service holds its token, waiting up to `within` (wall time) for it.
    pub fn here(&self, within: Duration) -> bool {
        let began = Instant::now();
        loop {
            if self.here.load(Ordering::Acquire) {
                return true;
            }
            if began.elapsed() >= within {
                return false;
            }
            std::thread::sleep(POLL);
        }
    }
}
