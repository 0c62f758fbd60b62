//! The ROS 2 sink on the run's Zenoh session: joint states and clock published from
//! its own thread, joint commands taken in Zenoh's callback thread into the run's
//! [`Targets`].

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crossbeam::channel::Receiver;
use zenoh::Wait;

use super::cdr::{self, JointState};
use super::{CLOCK, Ros2Options};
use crate::recording::{Record, WorldSample};
use crate::report::Ros2Report;
use crate::runtime::commanded::{Target, Targets};
use crate::runtime::tap::{RunInfo, Sink, SinkError, SinkFactory, SinkReport, Tap};

/// Records waiting for the publisher thread: it takes only the world records (link
/// poses, joint states, objects, contacts: 4 × 50 a simulated second), so 1,024 hold
/// 5 s at 1x and ~0.1 s at 50x; the thread publishes one in a few µs.
const CAPACITY: usize = 1024;

/// How often the publisher drains its queue (`tap::drain`). 1 ms: at 60× real time
/// ~12 records wait, and a ROS node sees a state at most 1 ms after it was taken.
const POLL: std::time::Duration = std::time::Duration::from_millis(1);

/// How often a run waiting for its first subscriber looks.
const WAIT_POLL: std::time::Duration = std::time::Duration::from_millis(10);

/// Unknown joint names kept for the report (a misconfigured controller sends the
/// same few again and again).
const MAX_UNKNOWN: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum Ros2Error {
    #[error("zenoh: cannot declare {key}: {why}")]
    Declare { key: String, why: String },
    #[error("cannot start the ROS 2 publisher thread: {0}")]
    Thread(#[source] std::io::Error),
}

/// What the command subscriber has seen.
#[derive(Default)]
struct Counts {
    messages: AtomicU64,
    applied: AtomicU64,
    malformed: AtomicU64,
    wrong_length: AtomicU64,
    unknown: Mutex<BTreeSet<String>>,
    last_error: Mutex<Option<String>>,
}

/// The ROS 2 sink for a run on `session`: commands go to `targets`.
pub fn start(session: zenoh::Session, opts: Ros2Options, targets: Targets) -> SinkFactory {
    SinkFactory::new(move |run: &RunInfo| {
        Bridge::start(&session, &opts, targets.clone(), run)
            .map(|b| Box::new(b) as Box<dyn Sink>)
            .map_err(Into::into)
    })
}

struct Bridge {
    tap: Tap,
    keys: [String; 3],
    publisher: Option<JoinHandle<Published>>,
    subscriber: Option<zenoh::pubsub::Subscriber<()>>,
    counts: Arc<Counts>,
}

impl Bridge {
    fn start(
        session: &zenoh::Session,
        opts: &Ros2Options,
        targets: Targets,
        run: &RunInfo,
    ) -> Result<Self, Ros2Error> {
        let keys = [
            opts.key(&opts.states),
            opts.key(CLOCK),
            opts.key(&opts.commands),
        ];
        let declare = |key: &String| {
            session
                .declare_publisher(key.clone())
                .wait()
                .map_err(|e| Ros2Error::Declare {
                    key: key.clone(),
                    why: e.to_string(),
                })
        };
        let (states, clock) = (declare(&keys[0])?, declare(&keys[1])?);
        let counts = Arc::new(Counts::default());
        let seen = counts.clone();
        let subscriber = session
            .declare_subscriber(keys[2].clone())
            .callback(move |s| take(&s.payload().to_bytes(), &targets, &seen))
            .wait()
            .map_err(|e| Ros2Error::Declare {
                key: keys[2].clone(),
                why: e.to_string(),
            })?;
        if opts.wait {
            eprintln!(
                "ros2: waiting for a subscriber to {} before the run starts",
                keys[0]
            );
            while !heard(&states) {
                std::thread::sleep(WAIT_POLL);
            }
        }
        let (tap, rx) = Tap::channel(CAPACITY, run.joints.len(), run.ports.len() + 32);
        let tap = tap.world_only();
        let ports = run.ports.to_vec();
        let publisher = std::thread::Builder::new()
            .name("armhil-ros2".into())
            .spawn(move || publish(rx, ports, &states, &clock))
            .map_err(Ros2Error::Thread)?;
        eprintln!(
            "ros2: publishing {} and {}, commands from {} (Zenoh keys for zenoh-bridge-ros2dds)",
            keys[0], keys[1], keys[2]
        );
        Ok(Self {
            tap,
            keys,
            publisher: Some(publisher),
            subscriber: Some(subscriber),
            counts,
        })
    }
}

/// Publishes each joint-state record as `joint_states` and `clock` until the run lets
/// go of its tap; (joint states, clocks) published.
fn publish(
    rx: Receiver<Record>,
    mut ports: Vec<String>,
    states: &zenoh::pubsub::Publisher<'static>,
    clock: &zenoh::pubsub::Publisher<'static>,
) -> Published {
    let mut n = Published::default();
    crate::runtime::tap::drain(&rx, POLL, |r| {
        match r {
            Record::Port(k, name) => {
                let k = k as usize;
                if ports.len() <= k {
                    ports.resize(k + 1, String::new());
                }
                ports[k] = name;
            }
            Record::World(k, WorldSample::Joints(t, joints))
                if ports.get(k as usize).map(String::as_str)
                    == Some(crate::recording::JOINT_STATES) =>
            {
                let stamp = cdr::stamp(t);
                // Encoded and put only for a subscriber (the bridge subscribes once a
                // ROS node does): unheard, it costs the machine nothing.
                if heard(clock) {
                    // A put fails only once the session is closing: nothing to do then.
                    n.clock += clock.put(cdr::clock(stamp)).wait().is_ok() as u64;
                } else {
                    n.clock_unheard += 1;
                }
                if !heard(states) {
                    n.joint_states_unheard += 1;
                    return;
                }
                let mut m = JointState {
                    stamp,
                    ..Default::default()
                };
                for (name, pos, vel, effort) in joints {
                    m.name.push(name);
                    m.position.push(pos);
                    m.velocity.push(vel);
                    m.effort.push(effort);
                }
                n.joint_states += states.put(m.encode()).wait().is_ok() as u64;
            }
            _ => {}
        }
    });
    n
}

/// Whether anything subscribes to what `p` publishes now.
fn heard(p: &zenoh::pubsub::Publisher<'static>) -> bool {
    p.matching_status().wait().is_ok_and(|m| m.matching())
}

/// Messages put, and samples nobody subscribed to, per topic.
#[derive(Debug, Default)]
struct Published {
    joint_states: u64,
    joint_states_unheard: u64,
    clock: u64,
    clock_unheard: u64,
}

/// Takes one command message: each named joint's position, velocity and effort
/// (non-finite: not commanded) become its latest target.
fn take(payload: &[u8], targets: &Targets, counts: &Counts) {
    counts.messages.fetch_add(1, Ordering::Relaxed);
    let refuse = |counter: &AtomicU64, why: String| {
        counter.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut e) = counts.last_error.lock() {
            *e = Some(why);
        }
    };
    let m = match JointState::decode(payload) {
        Ok(m) => m,
        Err(e) => return refuse(&counts.malformed, e.to_string()),
    };
    let n = m.name.len();
    for (field, v) in [
        ("position", &m.position),
        ("velocity", &m.velocity),
        ("effort", &m.effort),
    ] {
        if !v.is_empty() && v.len() != n {
            return refuse(
                &counts.wrong_length,
                format!("{field} has {} values for {n} names", v.len()),
            );
        }
    }
    for (k, name) in m.name.iter().enumerate() {
        let Some(i) = targets.index(name) else {
            if let Ok(mut u) = counts.unknown.lock()
                && u.len() < MAX_UNKNOWN
            {
                u.insert(name.clone());
            }
            continue;
        };
        let get = |v: &[f64]| v.get(k).copied().filter(|x| x.is_finite());
        let t = Target {
            pos: get(&m.position),
            vel: get(&m.velocity),
            effort: get(&m.effort),
        };
        if !t.is_empty() {
            targets.set(i, t);
            counts.applied.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl Sink for Bridge {
    fn tap(&self) -> Tap {
        self.tap.clone()
    }

    fn finish(mut self: Box<Self>) -> Result<SinkReport, SinkError> {
        let dropped = self.tap.dropped();
        if let Some(s) = self.subscriber.take() {
            // Undeclaring fails only when the session is already closed.
            let _ = s.undeclare().wait();
        }
        let Bridge {
            tap,
            keys,
            publisher,
            counts,
            ..
        } = *self;
        drop(tap);
        let n = publisher.and_then(|p| p.join().ok()).unwrap_or_default();
        let c = &counts;
        let [states_key, clock_key, commands_key] = keys;
        Ok(SinkReport::Ros2(Ros2Report {
            joint_states_key: states_key,
            clock_key,
            commands_key,
            joint_states: n.joint_states,
            joint_states_unheard: n.joint_states_unheard,
            clock: n.clock,
            clock_unheard: n.clock_unheard,
            dropped,
            commands: c.messages.load(Ordering::Relaxed),
            applied: c.applied.load(Ordering::Relaxed),
            malformed: c.malformed.load(Ordering::Relaxed),
            wrong_length: c.wrong_length.load(Ordering::Relaxed),
            unknown_joints: c
                .unknown
                .lock()
                .map(|u| u.iter().cloned().collect())
                .unwrap_or_default(),
            last_error: c.last_error.lock().ok().and_then(|e| e.clone()),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn targets() -> Targets {
        Targets::new("test", vec!["shoulder".into(), "elbow".into()])
    }

    #[test]
    fn commands_become_targets_and_nonsense_is_counted() {
        let (t, c) = (targets(), Counts::default());
        let m = JointState {
            name: vec!["elbow".into(), "wrist".into()],
            position: vec![0.5, 1.0],
            effort: vec![f64::NAN, 0.2],
            ..Default::default()
        };
        take(&m.encode(), &t, &c);
        let (mut seen, mut out) = (0, Vec::new());
        assert!(t.changed(&mut seen, &mut out));
        assert_eq!(
            out,
            vec![
                None,
                Some(Target {
                    pos: Some(0.5),
                    ..Default::default()
                })
            ]
        );
        assert_eq!(c.applied.load(Ordering::Relaxed), 1);
        assert_eq!(
            *c.unknown.lock().unwrap(),
            BTreeSet::from(["wrist".to_string()])
        );
        take(&[1, 2, 3], &t, &c);
        let short = JointState {
            name: vec!["elbow".into()],
            position: vec![0.1, 0.2],
            ..Default::default()
        };
        take(&short.encode(), &t, &c);
        assert_eq!(c.malformed.load(Ordering::Relaxed), 1);
        assert_eq!(c.wrong_length.load(Ordering::Relaxed), 1);
        assert_eq!(c.messages.load(Ordering::Relaxed), 3);
        assert!(
            !t.changed(&mut seen, &mut out),
            "nothing applied from either"
        );
        assert_eq!(
            c.last_error.lock().unwrap().as_deref(),
            Some("position has 2 values for 1 names")
        );
    }
}
