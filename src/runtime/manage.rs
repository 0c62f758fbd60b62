//! Management messages (controller faults and gains injected while running) on their
//! way to joint services, so that none is lost. A message goes into the service's
//! `manage` inbox at once when it has room; otherwise it waits here, in order, and
//! is delivered as room appears (the service drains its inbox with each sample).
//! Past [`PENDING`] waiting messages a joint refuses more, with an event naming why,
//! and the service factory never remembers a refused message, so what a restarted
//! service starts from is exactly what the running one was (or will be) told.

use std::collections::VecDeque;

use crossbeam::channel::TrySendError;

use super::ServiceFactory;
use super::refusal::Refusal;
use super::service::{ServiceMsg, ServicePort};

/// Messages that may wait per joint: commands come at human or schedule rate, so a
/// backlog this long means the service has not taken a sample for a long while (it
/// is hung or far too slow); refusing then is clearer than queueing without bound.
pub const PENDING: usize = 64;

/// Per joint: messages accepted but not yet in the service's inbox.
pub(crate) struct Mailboxes {
    pending: Vec<VecDeque<ServiceMsg>>,
}

impl Mailboxes {
    pub(crate) fn new(joints: usize) -> Self {
        Self {
            pending: (0..joints).map(|_| VecDeque::new()).collect(),
        }
    }

    /// Sends `m` to joint `i`'s service, or queues it; remembered by the factory
    /// for restarts once accepted. `Err` (nothing remembered, nothing sent) when the
    /// joint's queue is full.
    pub(crate) fn send(
        &mut self,
        i: usize,
        m: ServiceMsg,
        port: &ServicePort,
        factory: &mut ServiceFactory,
    ) -> Result<(), Refusal> {
        let Some(q) = self.pending.get_mut(i) else {
            return Err(Refusal::NoSuchJoint(format!("#{i}")));
        };
        if q.len() >= PENDING {
            return Err(Refusal::Backlog(PENDING));
        }
        factory.remember(i, &m);
        q.push_back(m);
        self.flush(i, port);
        Ok(())
    }

    /// Moves joint `i`'s waiting messages into its service's inbox while it has room.
    /// A closed inbox (the service died) keeps them: its restart is built from the
    /// factory, which has them already, and [`Mailboxes::restarted`] drops them.
    pub(crate) fn flush(&mut self, i: usize, port: &ServicePort) {
        let Some(q) = self.pending.get_mut(i) else {
            return;
        };
        while let Some(m) = q.pop_front() {
            match port.manage.try_send(m) {
                Ok(()) => {}
                Err(TrySendError::Full(m) | TrySendError::Disconnected(m)) => {
                    q.push_front(m);
                    return;
                }
            }
        }
    }

    /// Joint `i` has a fresh service, built from the factory with everything accepted
    /// so far: nothing is left to deliver to the old one.
    pub(crate) fn restarted(&mut self, i: usize) {
        if let Some(q) = self.pending.get_mut(i) {
            q.clear();
        }
    }
}
