//! The serial bridge: one thread per bus (serial port). Every period it takes the
//! latest goal positions for the bus's joints, sends them in one sync write, then one
//! sync read of present position, speed and load, and reports a timed sample per
//! joint, or the link errors it saw (timeout, checksum, wrong ID, servo error bits).
//! A failed port (unplugged, device gone) is reported offline and reopened with
//! backoff (50 ms doubling to 1 s). It never blocks on the runtime: goals, link
//! faults and the link's up/down status are latest-value cells (`sys::latest`:
//! nothing queued, nothing lost), transaction reports a bounded channel whose
//! overflow is counted. The port is wrapped in the man-in-the-middle
//! fault layer (`super::mitm`), idle until the runtime sends the bus link faults.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam::channel::{Receiver, Sender, bounded};

use super::mitm::{Impairments, MitmTransport};
use super::protocol::{FrameError, dxl, sign_magnitude_decode, sts};
use super::transport::port::{self, Port};
use super::transport::{Transport, TransportError};
use crate::scene::BusProtocol;
use crate::sys::clock::{Clock, sleep_until};
use crate::sys::latest::Latest;

const TICKS: f64 = 4096.0;

/// A joint on a bus.
#[derive(Debug, Clone, PartialEq)]
pub struct BusJoint {
    /// Index of the joint in the plant.
    pub joint: usize,
    pub id: u8,
    pub zero_tick: u32,
}

/// One bus.
#[derive(Debug, Clone, PartialEq)]
pub struct BusSpec {
    pub port: String,
    pub protocol: BusProtocol,
    pub baud: u32,
    pub joints: Vec<BusJoint>,
    /// Transaction period.
    pub period: Duration,
    /// SCHED_FIFO priority of the bus thread (it is part of the control loop), or
    /// normal scheduling.
    pub rt_priority: Option<i32>,
}

/// Goal positions, rad, index-aligned with `BusSpec::joints`.
#[derive(Debug, Clone, PartialEq)]
pub struct Goals(pub Vec<f64>);

/// What one servo reported.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Index into `BusSpec::joints`.
    pub slot: usize,
    /// rad, rad/s.
    pub pos: f64,
    pub vel: f64,
    /// Load, fraction of stall torque, signed.
    pub load: f64,
    /// Servo status error byte.
    pub error: u8,
}

/// Kinds of link error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkError {
    /// No reply from this servo within the transaction.
    Timeout,
    /// A frame with a bad checksum / CRC.
    Checksum,
    /// A reply from an ID that was not asked.
    WrongId(u8),
    /// Bytes that were not a frame.
    Garbage,
}

/// A bus thread's report of one transaction (sync write + sync read). Whether the
/// link is up is state, not a report: see [`Link`].
#[derive(Debug, Clone, PartialEq)]
pub struct BusTick {
    /// Wall time from the first request byte to the last reply byte.
    pub latency: Duration,
    pub samples: Vec<Sample>,
    /// (slot, error); `slot` is `usize::MAX` when no joint can be blamed.
    pub errors: Vec<(usize, LinkError)>,
}

/// A bus's link as state (the newest wins, nothing is queued, so nothing is lost):
/// whether the port is open, and how many times it has gone down, so a reader that
/// looks only after the link is back still learns that it was down.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Link {
    pub up: bool,
    /// Times the link has gone down (failed to open, or failed while open).
    pub downs: u64,
    /// Why it last went down.
    pub reason: String,
}

/// The runtime's end of a bus thread.
pub struct BusHandle {
    pub spec: BusSpec,
    goals: Latest<Option<Goals>>,
    /// One report per transaction; a full channel drops the newest and counts it
    /// (see [`BusHandle::dropped_ticks`]).
    pub events: Receiver<BusTick>,
    link: Latest<Link>,
    link_seen: u64,
    impair: Latest<Impairments>,
    dropped: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl BusHandle {
    /// Hands the bus its newest goals (they replace any it has not used yet).
    pub fn send_goals(&self, goals: Vec<f64>) {
        self.goals.set(Some(Goals(goals)));
    }

    /// Sets the link faults acting on this bus from now on.
    pub fn impair(&self, kinds: Vec<crate::faults::FaultKind>) {
        self.impair.set(Impairments::from_kinds(&kinds));
    }

    /// The link's state if it changed since the last call.
    pub fn link_changed(&mut self) -> Option<Link> {
        self.link.changed(&mut self.link_seen)
    }

    /// Transaction reports dropped because the runtime had not taken the earlier ones.
    pub fn dropped_ticks(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Stops the thread and waits for it (at most one transaction).
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for BusHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Transaction reports waiting: ~60 ms at 1 kHz if the runtime stalls; past that the
/// oldest news is stale and the bus drops (and counts) new reports rather than block.
const EVENTS: usize = 64;

/// The bus thread's end of its cells and channel.
struct BusSide {
    goals: Latest<Option<Goals>>,
    goals_seen: u64,
    events: Sender<BusTick>,
    dropped: Arc<AtomicU64>,
    link: Latest<Link>,
    impair: Latest<Impairments>,
    impair_seen: u64,
}

impl BusSide {
    fn report(&self, ev: BusTick) {
        if self.events.try_send(ev).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn up(&self) {
        let mut l = self.link.get();
        l.up = true;
        self.link.set(l);
    }

    fn down(&self, reason: String) {
        let l = self.link.get();
        self.link.set(Link {
            up: false,
            downs: l.downs + 1,
            reason,
        });
    }

    /// New link faults, if they changed.
    fn impairments(&mut self) -> Option<Impairments> {
        self.impair.changed(&mut self.impair_seen)
    }

    /// The newest goals, if new ones came.
    fn new_goals(&mut self) -> Option<Option<Goals>> {
        self.goals.changed(&mut self.goals_seen)
    }
}

/// Starts the thread of one bus.
pub fn spawn(spec: BusSpec, clock: Arc<dyn Clock>) -> std::io::Result<BusHandle> {
    let (events_tx, events_rx) = bounded(EVENTS);
    let goals = Latest::new(None);
    let link = Latest::new(Link::default());
    let impair = Latest::new(Impairments::default());
    let dropped = Arc::new(AtomicU64::new(0));
    let side = BusSide {
        goals: goals.clone(),
        goals_seen: 0,
        events: events_tx,
        dropped: dropped.clone(),
        link: link.clone(),
        impair: impair.clone(),
        impair_seen: 0,
    };
    let stop = Arc::new(AtomicBool::new(false));
    let s2 = spec.clone();
    let stop2 = stop.clone();
    let thread = std::thread::Builder::new()
        .name(format!("bus-{}", spec.port))
        .spawn(move || {
            if let Some(p) = s2.rt_priority {
                let _ = crate::sys::priority::set_fifo(p);
            }
            bus_loop(s2, clock, side, stop2)
        })?;
    Ok(BusHandle {
        spec,
        goals,
        events: events_rx,
        link,
        link_seen: 0,
        impair,
        dropped,
        stop,
        thread: Some(thread),
    })
}

fn ticks_of(q: f64, zero: u32) -> i32 {
    (zero as f64 + q * TICKS / std::f64::consts::TAU).round() as i32
}

fn rad_of(ticks: i32, zero: u32) -> f64 {
    (ticks - zero as i32) as f64 * std::f64::consts::TAU / TICKS
}

fn bus_loop(spec: BusSpec, clock: Arc<dyn Clock>, mut side: BusSide, stop: Arc<AtomicBool>) {
    let mut link: Option<MitmTransport<Port>> = None;
    let mut imp = Impairments::default();
    let mut backoff = Duration::from_millis(50);
    let mut offline_reported = false;
    let mut latest: Option<Goals> = None;
    let mut next = clock.now();
    // The fault layer's random stream: fixed per port, so a run is repeatable.
    let seed = crate::sys::seed::seed_for(0x6d69_746d, &spec.port);
    while !stop.load(Ordering::Relaxed) {
        if let Some(i) = side.impairments() {
            imp = i;
            if let Some(l) = link.as_mut() {
                l.set(imp);
            }
        }
        if link.is_none() {
            let opened = if imp.unplugged {
                Err(TransportError::Disconnected(format!(
                    "{} (unplugged: injected fault)",
                    spec.port
                )))
            } else {
                port::open(&spec.port, spec.baud).map(|t| {
                    let mut m = MitmTransport::new(t, spec.protocol, clock.clone(), seed);
                    m.set(imp);
                    m
                })
            };
            match opened {
                Ok(mut t) => match engage(&spec, &mut t, clock.as_ref()) {
                    Ok(samples) => {
                        link = Some(t);
                        backoff = Duration::from_millis(50);
                        offline_reported = false;
                        side.up();
                        let errors = (0..spec.joints.len())
                            .filter(|k| !samples.iter().any(|s| s.slot == *k))
                            .map(|k| (k, LinkError::Timeout))
                            .collect();
                        side.report(BusTick {
                            latency: Duration::ZERO,
                            samples,
                            errors,
                        });
                        // Goals computed before the takeover are stale.
                        let _ = side.new_goals();
                        latest = None;
                        next = clock.now();
                    }
                    Err(e) => {
                        if !offline_reported {
                            offline_reported = true;
                            side.down(e.to_string());
                        }
                        std::thread::sleep(backoff);
                        backoff = (backoff * 2).min(Duration::from_secs(1));
                        continue;
                    }
                },
                Err(e) => {
                    if !offline_reported {
                        offline_reported = true;
                        side.down(e.to_string());
                    }
                    let until = clock.now() + backoff;
                    while clock.now() < until && !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(Duration::from_millis(5));
                        // A replug (fault cleared) retries at once.
                        if let Some(i) = side.impairments() {
                            let replug = imp.unplugged && !i.unplugged;
                            imp = i;
                            if replug {
                                backoff = Duration::from_millis(25);
                                break;
                            }
                        }
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                    continue;
                }
            }
        }
        next += spec.period;
        let now = clock.now();
        if next < now {
            next = now; // fell behind: do not burst to catch up
        }
        sleep_until(clock.as_ref(), next);
        if let Some(g) = side.new_goals() {
            latest = g;
        }
        let Some(t) = link.as_mut() else { continue };
        match transaction(&spec, t, latest.as_ref(), clock.as_ref()) {
            Ok(ev) => side.report(ev),
            Err(e) => {
                link = None;
                offline_reported = true;
                side.down(e.to_string());
            }
        }
    }
}

/// The registers the bridge uses on each servo family (spec §1.2 and §2).
struct Regs {
    /// Goal position and its size, bytes.
    goal: u16,
    goal_len: u16,
    torque: u16,
    /// Start and size of the block read every tick: STS position, speed, load (56..62);
    /// DXL present current, velocity, position (126..136).
    present: u16,
    present_len: u16,
}

impl Regs {
    fn of(p: BusProtocol) -> Self {
        match p {
            BusProtocol::Sts => Regs {
                goal: 42,
                goal_len: 2,
                torque: 40,
                present: 56,
                present_len: 6,
            },
            BusProtocol::Dxl => Regs {
                goal: 116,
                goal_len: 4,
                torque: 64,
                present: 126,
                present_len: 10,
            },
        }
    }

    /// A goal in ticks as the register wants it (STS: 0..=4095 in 2 bytes).
    fn goal_bytes(&self, ticks: i32) -> Vec<u8> {
        if self.goal_len == 2 {
            (ticks.clamp(0, 4095) as u16).to_le_bytes().to_vec()
        } else {
            ticks.to_le_bytes().to_vec()
        }
    }
}

/// A broadcast sync write (`None` if it cannot be encoded).
fn sync_write(p: BusProtocol, addr: u16, len: u16, data: Vec<(u8, Vec<u8>)>) -> Option<Vec<u8>> {
    match p {
        BusProtocol::Sts => sts::Instruction::SyncWrite {
            addr: addr as u8,
            len: len as u8,
            data,
        }
        .encode(sts::BROADCAST)
        .ok(),
        BusProtocol::Dxl => dxl::Instruction::SyncWrite { addr, len, data }
            .encode(dxl::BROADCAST)
            .ok(),
    }
}

/// A broadcast sync read of `len` bytes at `addr` from `ids`.
fn sync_read(p: BusProtocol, addr: u16, len: u16, ids: &[u8]) -> Vec<u8> {
    let ids = ids.to_vec();
    match p {
        BusProtocol::Sts => sts::Instruction::SyncRead {
            addr: addr as u8,
            len: len as u8,
            ids,
        }
        .encode(sts::BROADCAST),
        BusProtocol::Dxl => dxl::Instruction::SyncRead { addr, len, ids }.encode(dxl::BROADCAST),
    }
    .unwrap_or_default()
}

/// One sync write (if there are goals) and one sync read: the bus's closed-loop
/// transaction (public for benchmarks).
pub fn transaction(
    spec: &BusSpec,
    t: &mut dyn Transport,
    goals: Option<&Goals>,
    clock: &dyn Clock,
) -> Result<BusTick, TransportError> {
    let ids: Vec<u8> = spec.joints.iter().map(|j| j.id).collect();
    let r = Regs::of(spec.protocol);
    let write = goals.and_then(|g| {
        let data = spec
            .joints
            .iter()
            .zip(&g.0)
            .map(|(j, q)| (j.id, r.goal_bytes(ticks_of(*q, j.zero_tick))))
            .collect();
        sync_write(spec.protocol, r.goal, r.goal_len, data)
    });
    let read = sync_read(spec.protocol, r.present, r.present_len, &ids);
    let t0 = clock.now();
    t.clear_input()?;
    let budget = spec.period.mul_f64(0.9);
    if let Some(w) = write {
        t.write_all(&w, budget)?;
    }
    t.write_all(&read, budget)?;
    let (samples, errors, last_byte) = collect(spec, t, clock, t0, t0 + budget)?;
    Ok(BusTick {
        latency: last_byte.saturating_sub(t0),
        samples,
        errors,
    })
}

/// Reads the replies to a sync read until every servo answered or `deadline`.
#[allow(clippy::type_complexity)]
fn collect(
    spec: &BusSpec,
    t: &mut dyn Transport,
    clock: &dyn Clock,
    t0: Duration,
    deadline: Duration,
) -> Result<(Vec<Sample>, Vec<(usize, LinkError)>, Duration), TransportError> {
    let ids: Vec<u8> = spec.joints.iter().map(|j| j.id).collect();
    let mut samples: Vec<Sample> = Vec::new();
    let mut errors = Vec::new();
    let mut got = vec![false; ids.len()];
    let mut buf = [0u8; 256];
    let mut sdec = sts::Decoder::new();
    let mut ddec = dxl::Decoder::new();
    let mut last_byte = t0;
    while got.iter().any(|g| !g) {
        let now = clock.now();
        if now >= deadline {
            break;
        }
        let n = t.read(&mut buf, deadline - now)?;
        if n == 0 {
            continue;
        }
        last_byte = clock.now();
        // (id, error byte, params) of each complete reply.
        let mut frames: Vec<(u8, u8, Vec<u8>)> = Vec::new();
        let push_err = |e: FrameError, errors: &mut Vec<(usize, LinkError)>| {
            errors.push((
                usize::MAX,
                if matches!(e, FrameError::Checksum { .. }) {
                    LinkError::Checksum
                } else {
                    LinkError::Garbage
                },
            ))
        };
        match spec.protocol {
            BusProtocol::Sts => {
                sdec.push(&buf[..n]);
                while let Some(r) = sdec.next_frame() {
                    match r {
                        Ok(f) => frames.push((f.id, f.code, f.params)),
                        Err(e) => push_err(e, &mut errors),
                    }
                }
            }
            BusProtocol::Dxl => {
                ddec.push(&buf[..n]);
                while let Some(r) = ddec.next_frame() {
                    match r {
                        Ok(f) if f.instruction == dxl::STATUS && !f.params.is_empty() => {
                            frames.push((f.id, f.params[0], f.params[1..].to_vec()))
                        }
                        Ok(_) => {} // our own request echoed on a shared line
                        Err(e) => push_err(e, &mut errors),
                    }
                }
            }
        }
        for (id, err, p) in frames {
            let Some(slot) = ids.iter().position(|x| *x == id) else {
                errors.push((usize::MAX, LinkError::WrongId(id)));
                continue;
            };
            let j = &spec.joints[slot];
            let sample = match spec.protocol {
                BusProtocol::Sts if p.len() == 6 => {
                    let w = |i: usize| u16::from_le_bytes([p[i], p[i + 1]]) as u32;
                    Some(Sample {
                        slot,
                        pos: rad_of(sign_magnitude_decode(w(0), 15), j.zero_tick),
                        vel: sign_magnitude_decode(w(2), 15) as f64 * std::f64::consts::TAU / TICKS,
                        load: sign_magnitude_decode(w(4), 10) as f64 / 1000.0,
                        error: err,
                    })
                }
                BusProtocol::Dxl if p.len() == 10 => {
                    // Present current (2.69 mA units) as a fraction of the XM430's ~2.3 A stall.
                    let cur = i16::from_le_bytes([p[0], p[1]]) as f64 * 2.69e-3 / 2.3;
                    let vel = i32::from_le_bytes([p[2], p[3], p[4], p[5]]) as f64
                        * 0.229
                        * std::f64::consts::TAU
                        / 60.0;
                    let pos = i32::from_le_bytes([p[6], p[7], p[8], p[9]]);
                    Some(Sample {
                        slot,
                        pos: rad_of(pos, j.zero_tick),
                        vel,
                        load: cur,
                        error: err,
                    })
                }
                _ => None,
            };
            match sample {
                Some(s) if !got[slot] => {
                    got[slot] = true;
                    samples.push(s);
                }
                _ => errors.push((slot, LinkError::Garbage)),
            }
        }
    }
    for (slot, g) in got.iter().enumerate() {
        if !g {
            errors.push((slot, LinkError::Timeout));
        }
    }
    Ok((samples, errors, last_byte))
}

/// Takes the servos over without a jump: reads where they are, makes that their goal,
/// then turns torque on. Returns the positions read (rad) so the runtime can start from
/// them.
fn engage(
    spec: &BusSpec,
    t: &mut dyn Transport,
    clock: &dyn Clock,
) -> Result<Vec<Sample>, TransportError> {
    let ids: Vec<u8> = spec.joints.iter().map(|j| j.id).collect();
    let timeout = Duration::from_millis(100);
    let r = Regs::of(spec.protocol);
    let read = sync_read(spec.protocol, r.present, r.present_len, &ids);
    t.clear_input()?;
    let t0 = clock.now();
    t.write_all(&read, timeout)?;
    let (samples, _, _) = collect(spec, t, clock, t0, t0 + timeout)?;
    let goals = samples
        .iter()
        .map(|s| {
            let j = &spec.joints[s.slot];
            (j.id, r.goal_bytes(ticks_of(s.pos, j.zero_tick)))
        })
        .collect();
    let on = samples
        .iter()
        .map(|s| (spec.joints[s.slot].id, vec![1]))
        .collect();
    let packets = [
        sync_write(spec.protocol, r.goal, r.goal_len, goals),
        sync_write(spec.protocol, r.torque, 1, on),
    ];
    for p in packets.into_iter().flatten() {
        t.write_all(&p, timeout)?;
    }
    Ok(samples)
}
