//! armhil's end of one external service, and the run's Zenoh session.

use std::time::{Duration, Instant};

use zenoh::Wait;
use zenoh::handlers::FifoChannelHandler;
use zenoh::pubsub::{Publisher, Subscriber};
use zenoh::sample::{Sample, SampleKind};

use super::payload::{self, Command, CommandMode};
use super::{ExternalError, WireCounts, ZenohOptions};
use crate::runtime::service::Exchange;
use crate::runtime::service::{ServiceInput, ServiceMsg, ServiceOutput};
use crate::servo::spec::ServoSpec;
use crate::sys::clock::Clock;

/// How long a new link waits for its service's liveliness token (the program may be
/// started after armhil), wall time.
const APPEAR_WITHIN: Duration = Duration::from_secs(10);
/// How often a wait looks at the cancel flags and the liveliness, wall time.
const POLL: Duration = Duration::from_millis(5);

/// Opens the run's Zenoh session.
pub fn open(o: &ZenohOptions) -> Result<zenoh::Session, ExternalError> {
    let mut config = match &o.config {
        Some(p) => zenoh::Config::from_file(p).map_err(|e| ExternalError::Config {
            field: p.display().to_string(),
            why: e.to_string(),
        })?,
        None => zenoh::Config::default(),
    };
    let json = |v: &[String]| serde_json::to_string(v).unwrap_or_else(|_| "[]".into());
    let mut set = |field: &str, value: String| {
        config
            .insert_json5(field, &value)
            .map_err(|e| ExternalError::Config {
                field: field.into(),
                why: e.to_string(),
            })
    };
    set("mode", "\"peer\"".into())?;
    set("scouting/multicast/enabled", "false".into())?;
    set("listen/endpoints", json(&o.listen))?;
    if !o.connect.is_empty() {
        set("connect/endpoints", json(&o.connect))?;
    }
    zenoh::open(config)
        .wait()
        .map_err(|e| ExternalError::Open(e.to_string()))
}

/// armhil's end of one external service.
pub struct Link {
    key: String,
    servo: ServoSpec,
    samples: Publisher<'static>,
    manage: Publisher<'static>,
    commands: Subscriber<FifoChannelHandler<Sample>>,
    live: Subscriber<FifoChannelHandler<Sample>>,
    alive: bool,
    /// Whether the service was there once (a later absence is a departure).
    appeared: bool,
    /// Whether [`Link::prepare`] has waited for it already.
    prepared: bool,
    reply_bound: Option<Duration>,
    counts: WireCounts,
    /// Counts already told to the supervisor, and how the last bad one was wrong.
    told: WireCounts,
    last_wrong: String,
}

impl Link {
    pub fn new(
        session: &zenoh::Session,
        key: &str,
        servo: ServoSpec,
        reply_bound: Option<Duration>,
    ) -> Result<Self, ExternalError> {
        let declare = |what: &str, e: zenoh::Error| ExternalError::Declare {
            key: format!("{key}/{what}"),
            why: e.to_string(),
        };
        let samples = session
            .declare_publisher(format!("{key}/sample"))
            .wait()
            .map_err(|e| declare("sample", e))?;
        let manage = session
            .declare_publisher(format!("{key}/manage"))
            .wait()
            .map_err(|e| declare("manage", e))?;
        let commands = session
            .declare_subscriber(format!("{key}/command"))
            .wait()
            .map_err(|e| declare("command", e))?;
        let live = session
            .liveliness()
            .declare_subscriber(format!("{key}/alive"))
            .history(true)
            .wait()
            .map_err(|e| declare("alive", e))?;
        Ok(Self {
            key: key.to_string(),
            servo,
            samples,
            manage,
            commands,
            live,
            alive: false,
            appeared: false,
            prepared: false,
            reply_bound,
            counts: WireCounts::default(),
            told: WireCounts::default(),
            last_wrong: String::new(),
        })
    }

    /// What went wrong on the wire since the last call, as one service output.
    pub fn take_garbled(&mut self) -> Option<ServiceOutput> {
        let new = (self.counts.malformed - self.told.malformed)
            + (self.counts.out_of_sequence - self.told.out_of_sequence);
        self.told = self.counts;
        (new > 0).then(|| ServiceOutput::Garbled {
            count: new,
            what: std::mem::take(&mut self.last_wrong),
        })
    }

    /// Takes every liveliness change waiting; true if the token was dropped among
    /// them (even if held again since: that is a new instance of the service).
    fn liveliness(&mut self) -> bool {
        let mut dropped = false;
        while let Ok(Some(s)) = self.live.try_recv() {
            self.alive = s.kind() == SampleKind::Put;
            self.appeared |= self.alive;
            dropped |= !self.alive;
        }
        dropped
    }

    /// Waits (wall time) until the service holds its token, or `within` passes.
    fn wait_alive(&mut self, within: Duration, cancelled: &dyn Fn() -> bool) -> bool {
        let began = Instant::now();
        self.liveliness();
        while !self.alive && began.elapsed() < within && !cancelled() {
            if let Ok(Some(s)) = self.live.recv_timeout(POLL) {
                self.alive = s.kind() == SampleKind::Put;
                self.appeared |= self.alive;
            }
        }
        self.alive
    }

    /// Waits for the service to appear (a program started after armhil).
    pub fn prepare(&mut self, cancelled: &dyn Fn() -> bool) {
        self.wait_alive(APPEAR_WITHIN, cancelled);
        self.prepared = true;
    }

    /// Forwards new gains (or a fault, which an external program may act on).
    pub fn manage(&mut self, m: &ServiceMsg) {
        let json = serde_json::to_vec(m).unwrap_or_default();
        // Lost only if the session is closing: then nothing listens anyway.
        let _ = self.manage.put(json).wait();
    }

    /// Publishes one sample and waits for its command.
    pub fn exchange(
        &mut self,
        msg: &ServiceInput,
        cancelled: &dyn Fn() -> bool,
        // The same signature as a service process's exchange; an external program's
        // time is its own (a real-time run judges its replies on the run's clock).
        _clock: &dyn Clock,
    ) -> Exchange {
        let died = |message: String| {
            Exchange::Reply(ServiceOutput::Died {
                seq: msg.seq,
                message,
            })
        };
        let away = |message: String| {
            Exchange::Reply(ServiceOutput::Away {
                seq: msg.seq,
                message,
            })
        };
        let went_away = |key: &str| {
            away(format!(
                "external service {key} went away (its liveliness token {key}/alive was dropped)"
            ))
        };
        // A token dropped since the last sample: the service left (if it holds one
        // again, that is a new instance, to be taken up as after a restart).
        if self.appeared && self.liveliness() {
            return went_away(&self.key);
        }
        // A fresh link (a restart in lockstep, not prepared: the executor's probe has
        // just seen the token) gives its own subscription a moment to see it too.
        let within = if self.appeared || self.prepared {
            Duration::ZERO
        } else {
            self.reply_bound.unwrap_or(APPEAR_WITHIN)
        };
        if !self.wait_alive(within, cancelled) {
            if cancelled() {
                return Exchange::Cancelled { announced: false };
            }
            return away(format!(
                "external service {} is not there (no liveliness token {}/alive)",
                self.key, self.key
            ));
        }
        // Commands left from samples already given up on are stale now.
        while let Ok(Some(old)) = self.commands.try_recv() {
            self.judge(&old, u64::MAX);
        }
        if let Err(e) = self.samples.put(payload::sample(msg)).wait() {
            return died(format!(
                "external service {}: cannot publish: {e}",
                self.key
            ));
        }
        let began = Instant::now();
        loop {
            match self.commands.recv_timeout(POLL) {
                Ok(Some(s)) => {
                    if let Some(torque) = self.judge(&s, msg.seq).map(|c| self.torque(c, msg)) {
                        return Exchange::Reply(ServiceOutput::Command {
                            seq: msg.seq,
                            torque,
                            delay_s: 0.0,
                        });
                    }
                }
                Ok(None) => {}
                Err(e) => return died(format!("external service {}: {e}", self.key)),
            }
            if self.liveliness() || !self.alive {
                return went_away(&self.key);
            }
            if cancelled() {
                return Exchange::Cancelled { announced: false };
            }
            if self.reply_bound.is_some_and(|b| began.elapsed() > b) {
                return Exchange::Silent;
            }
        }
    }

    /// The command in `s` if it answers sample `seq`; otherwise counts it.
    fn judge(&mut self, s: &Sample, seq: u64) -> Option<Command> {
        match payload::command(&s.payload().to_bytes()) {
            Ok(c) if c.seq == seq => Some(c),
            Ok(c) => {
                self.counts.out_of_sequence += 1;
                self.last_wrong = format!("a command for sample {} (awaiting {seq})", c.seq);
                None
            }
            Err(e) => {
                self.counts.malformed += 1;
                self.last_wrong = format!("malformed command: {e}");
                None
            }
        }
    }

    /// The torque a command asks for: as given, or the servo's own position loop
    /// toward the commanded position from the measured state.
    fn torque(&self, c: Command, msg: &ServiceInput) -> f64 {
        match c.mode {
            CommandMode::Torque => c.value,
            CommandMode::Position => {
                let m = &msg.input.measured;
                let t = self.servo.hold_kp * (c.value - m.pos) - self.servo.hold_kd * m.vel;
                t.clamp(-self.servo.stall_torque_nm, self.servo.stall_torque_nm)
            }
        }
    }
}
