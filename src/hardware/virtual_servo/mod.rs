//! The virtual servo: emulated Feetech STS3215 or Dynamixel XM430 servos on one bus,
//! answering the real protocols byte for byte. Each servo has its control table
//! ([`table`]), a motor with its own position loop ([`motor`]), status return level,
//! return delay and EEPROM lock rules. Replies are timed as the wire would deliver
//! them at the configured baud (a pty has no wire time of its own): request bytes,
//! then each servo's return delay, then its reply bytes.
//!
//! [`VirtualBus`] is pure (bytes in, timed replies out, time passed in); [`serve`]
//! runs it on any [`Transport`], e.g. the master side of a pty for
//! `armhil virtual-servo`.

pub mod log;
pub mod motor;
pub mod proxy;
pub mod table;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::hardware::protocol::{dxl as pdxl, sts as psts};
use crate::hardware::transport::{Transport, TransportError};
use crate::servo::firmware::{Drive, Present};
use crate::sys::clock::{Clock, sleep_until};
use crate::sys::latest::Latest;
use motor::{Motor, MotorParams};
use table::{Protocol, Table, WriteError};

/// What stands behind a servo's control table.
#[derive(Debug, Clone)]
pub enum Body {
    /// An emulated motor with nothing attached (`armhil virtual-servo`).
    Motor(Box<Motor>),
    /// A simulated joint of a served run (`armhil serve`): the registers' drive goes
    /// to the plant, which reports back what the servo reads.
    Served(ServedLink),
    /// A real servo on another port, answering for this ID (`armhil serve --proxy`).
    Proxy(proxy::Proxy),
}

/// The two latest-value cells between a served servo's table (on the bus thread) and
/// its joint in the plant (on the physics thread): neither side ever waits for the
/// other.
#[derive(Debug, Clone)]
pub struct ServedLink {
    /// What the host's registers ask; written by the bus, read by the plant.
    pub drive: Latest<Drive>,
    /// What the servo reads now; written by the plant, read by the bus.
    pub present: Latest<Present>,
    /// The link faults acting on this servo's wire; written by the plant on change.
    pub faults: Latest<Vec<crate::faults::FaultKind>>,
}

impl ServedLink {
    /// A link for a servo powered on at `pos` ticks (actual), torque off.
    pub fn new(pos: f64) -> Self {
        Self {
            drive: Latest::new(Drive::off(pos)),
            present: Latest::new(Present::at(pos)),
            faults: Latest::new(Vec::new()),
        }
    }
}

/// One emulated servo.
#[derive(Debug, Clone)]
pub struct VirtualServo {
    pub table: Table,
    pub body: Body,
    /// A Reg Write waiting for Action: (address, data).
    pending: Option<(usize, Vec<u8>)>,
    /// Powered (a servo without power answers nothing), as of the last publish.
    powered: bool,
    /// Link faults acting on its replies (a served joint's, from the plant).
    link: crate::hardware::mitm::Impairments,
    link_seen: u64,
    /// Firmware resets seen (a served joint's, from the plant).
    boots: u32,
}

impl VirtualServo {
    /// A servo with `table` in front of `body`; the body takes the table's settings.
    pub fn new(table: Table, body: Body) -> Self {
        let mut s = Self {
            table,
            body,
            pending: None,
            powered: true,
            link: Default::default(),
            link_seen: 0,
            boots: 0,
        };
        s.push_drive();
        s
    }

    /// The emulated motor, if this servo has one.
    pub fn motor(&self) -> Option<&Motor> {
        match &self.body {
            Body::Motor(m) => Some(m),
            Body::Served(_) | Body::Proxy(_) => None,
        }
    }

    /// Hands the registers' settings to the body.
    fn push_drive(&mut self) {
        let d = self.table.drive();
        match &mut self.body {
            Body::Motor(m) => m.set(d),
            Body::Served(l) => l.drive.set(d),
            Body::Proxy(_) => {}
        }
    }

    /// Answers here: powered, and not a proxy for a servo on another port.
    fn local(&self) -> bool {
        self.powered && !matches!(self.body, Body::Proxy(_))
    }

    /// Takes the body's power and link faults as they are now.
    fn refresh(&mut self) {
        if let Body::Served(l) = &self.body {
            self.powered = l.present.get().powered;
        }
        self.refresh_link();
    }

    /// Takes the link faults acting on a served body's wire, when they changed.
    fn refresh_link(&mut self) {
        if let Body::Served(l) = &self.body
            && let Some(kinds) = l.faults.changed(&mut self.link_seen)
        {
            self.link = crate::hardware::mitm::Impairments::from_kinds(&kinds);
        }
    }

    /// Publishes the body's state into the registers; returns the status error byte.
    fn publish(&mut self) -> u8 {
        self.refresh_link();
        let p = match &self.body {
            Body::Motor(m) => m.present(),
            Body::Served(l) => l.present.get(),
            // The real servo answers for itself.
            Body::Proxy(_) => return 0,
        };
        self.powered = p.powered;
        if p.boots != self.boots {
            // The firmware reset: registers as at power-on.
            self.boots = p.boots;
            self.table.power_cycle(p.pos);
            self.pending = None;
            self.push_drive();
        }
        let before = self.table.torque_enabled();
        let err = self.table.publish(&p);
        // A protection may have turned torque off in the registers.
        if before && !self.table.torque_enabled() {
            self.push_drive();
        }
        err
    }
}

/// A reply to send `delay` after the end of the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub delay: Duration,
    pub bytes: Vec<u8>,
}

/// Counters of what the bus saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BusStats {
    pub frames: u64,
    pub checksum_errors: u64,
    pub garbage_bytes: u64,
    pub replies: u64,
    /// Replies corrupted / not sent by the impairments.
    pub corrupted: u64,
    pub dropped: u64,
}

enum Decoder {
    Sts(psts::Decoder),
    Dxl(pdxl::Decoder),
}

/// Faults the bus injects into its replies, for testing a host's link handling.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Impairments {
    /// Probability that a reply has one byte corrupted, in [0, 1].
    pub corrupt: f64,
    /// Probability that a reply is not sent at all, in [0, 1].
    pub drop: f64,
    /// Extra delay before every reply.
    pub latency: Duration,
    /// Seed of the impairment draws.
    pub seed: u64,
}

/// Servos sharing one bus.
pub struct VirtualBus {
    pub protocol: Protocol,
    pub servos: Vec<VirtualServo>,
    /// Modelled line rate, bit/s (8N1: 10 bits per byte).
    pub baud: u32,
    pub stats: BusStats,
    pub impairments: Impairments,
    /// Logged transactions not yet taken, when logging.
    log: Vec<log::Transaction>,
    logging: bool,
    /// How long the line stays busy after the last `receive_after` call.
    backlog: Duration,
    rng: rand_chacha::ChaCha8Rng,
    decoder: Decoder,
}

impl VirtualBus {
    /// Servos with the given IDs, shafts at mid-range (2048 ticks), torque off.
    pub fn new(protocol: Protocol, ids: &[u8], baud: u32) -> Self {
        let servos: Vec<(u8, f64)> = ids.iter().map(|&id| (id, 2048.0)).collect();
        Self::with_positions(protocol, &servos, baud)
    }

    /// Servos with the given IDs, shafts at the given positions (ticks), torque off.
    pub fn with_positions(protocol: Protocol, servos: &[(u8, f64)], baud: u32) -> Self {
        let params = match protocol {
            Protocol::Sts => MotorParams::sts3215(),
            Protocol::Dxl => MotorParams::xm430(),
        };
        let servos = servos
            .iter()
            .map(|&(id, pos)| {
                VirtualServo::new(
                    Table::new(protocol, id, pos),
                    Body::Motor(Box::new(Motor::new(params, pos))),
                )
            })
            .collect();
        Self::with_servos(protocol, servos, baud)
    }

    /// A bus of the given servos (their tables of `protocol`).
    pub fn with_servos(protocol: Protocol, servos: Vec<VirtualServo>, baud: u32) -> Self {
        let decoder = match protocol {
            Protocol::Sts => Decoder::Sts(psts::Decoder::new()),
            Protocol::Dxl => Decoder::Dxl(pdxl::Decoder::new()),
        };
        Self {
            protocol,
            servos,
            baud: baud.max(1),
            stats: BusStats::default(),
            impairments: Impairments::default(),
            log: Vec::new(),
            logging: false,
            backlog: Duration::ZERO,
            rng: rand::SeedableRng::seed_from_u64(0),
            decoder,
        }
    }

    /// Sets the faults to inject (and reseeds their random draws).
    pub fn impair(&mut self, imp: Impairments) {
        self.impairments = imp;
        self.rng = rand::SeedableRng::seed_from_u64(imp.seed);
    }

    /// Advances every motor by `dt` seconds (in steps of at most 1 ms).
    pub fn advance(&mut self, dt: f64) {
        let mut left = dt.max(0.0);
        while left > 0.0 {
            let h = left.min(0.001);
            for s in &mut self.servos {
                if let Body::Motor(m) = &mut s.body {
                    m.step(h);
                }
            }
            left -= h;
        }
    }

    fn wire(&self, bytes: usize) -> Duration {
        Duration::from_nanos(bytes as u64 * 10 * 1_000_000_000 / self.baud as u64)
    }

    /// The servo answering to `id` here (one without power is not there, and a
    /// proxied one answers from its own port).
    fn index_of(&self, id: u8) -> Option<usize> {
        self.servos
            .iter()
            .position(|s| s.local() && s.table.id() == id)
    }

    /// Feeds received bytes; returns the replies for every complete request, timed
    /// from the end of the request.
    pub fn receive(&mut self, bytes: &[u8]) -> Vec<Reply> {
        self.backlog = Duration::ZERO;
        self.receive_after(Duration::MAX, bytes)
    }

    /// Like [`Self::receive`], for bytes arriving `elapsed` after the previous call:
    /// the line is half-duplex, so a request cannot finish arriving before the
    /// previous traffic (e.g. a sync write, which has no reply) has left the wire.
    pub fn receive_after(&mut self, elapsed: Duration, bytes: &[u8]) -> Vec<Reply> {
        self.backlog = self.backlog.saturating_sub(elapsed);
        let mut t = self.backlog;
        let mut out = Vec::new();
        match &mut self.decoder {
            Decoder::Sts(d) => d.push(bytes),
            Decoder::Dxl(d) => d.push(bytes),
        }
        loop {
            let next = match &mut self.decoder {
                Decoder::Sts(d) => d.next_frame().map(|r| r.map(Frame::Sts)),
                Decoder::Dxl(d) => d.next_frame().map(|r| r.map(Frame::Dxl)),
            };
            match next {
                None => break,
                Some(Err(crate::hardware::protocol::FrameError::Checksum { .. })) => {
                    self.stats.checksum_errors += 1
                }
                Some(Err(crate::hardware::protocol::FrameError::Garbage(n))) => {
                    self.stats.garbage_bytes += n as u64
                }
                Some(Err(_)) => self.stats.garbage_bytes += 1,
                Some(Ok(f)) => {
                    self.stats.frames += 1;
                    let (req_len, mut tx, replies) = match f {
                        Frame::Sts(f) => {
                            let proxied = self.forward_sts(&f);
                            let local = self.handle_sts(&f);
                            let order = sync_order_sts(&f);
                            (
                                f.params.len() + 6,
                                log::sts(&f),
                                self.merge(local, proxied, &order),
                            )
                        }
                        Frame::Dxl(f) => {
                            let proxied = self.forward_dxl(&f);
                            let local = self.handle_dxl(&f);
                            let order = sync_order_dxl(&f);
                            (
                                f.params.len() + 10,
                                log::dxl(&f),
                                self.merge(local, proxied, &order),
                            )
                        }
                    };
                    // Each reply starts after the request and the servo's return
                    // delay, and never before the previous reply has ended.
                    t += self.wire(req_len);
                    let req_end = t;
                    for (servo, delay_us, bytes) in replies {
                        let Some((bytes, extra)) = self.impair_reply(servo, bytes) else {
                            tx.lost += 1;
                            continue;
                        };
                        let start = t.max(
                            req_end
                                + Duration::from_micros(delay_us)
                                + self.impairments.latency
                                + extra,
                        );
                        t = start + self.wire(bytes.len());
                        self.stats.replies += 1;
                        tx.replies += 1;
                        tx.latency_us
                            .get_or_insert((start - req_end).as_secs_f64() * 1e6);
                        out.push(Reply { delay: t, bytes });
                    }
                    if self.logging {
                        self.log.push(tx);
                    }
                }
            }
        }
        self.backlog = t;
        out
    }

    /// Local replies and proxied ones together; a sync read's in the order of its IDs.
    fn merge(&self, mut local: Vec<Out>, proxied: Vec<Out>, order: &[u8]) -> Vec<Out> {
        if proxied.is_empty() {
            return local;
        }
        local.extend(proxied);
        if !order.is_empty() {
            let rank = |o: &Out| {
                o.0.map(|i| self.servos[i].table.id())
                    .and_then(|id| order.iter().position(|&x| x == id))
                    .unwrap_or(usize::MAX)
            };
            local.sort_by_key(rank);
        }
        local
    }

    /// What the link faults make of servo `servo`'s reply: `None` when it is lost,
    /// else its bytes (corrupted, or with another ID) and the extra delay.
    fn impair_reply(
        &mut self,
        servo: Option<usize>,
        mut bytes: Vec<u8>,
    ) -> Option<(Vec<u8>, Duration)> {
        use rand::Rng;
        let imp = self.impairments;
        if imp.drop > 0.0 && self.rng.random::<f64>() < imp.drop {
            self.stats.dropped += 1;
            return None;
        }
        if imp.corrupt > 0.0 && self.rng.random::<f64>() < imp.corrupt && !bytes.is_empty() {
            let k = self.rng.random_range(0..bytes.len());
            bytes[k] ^= 1 << self.rng.random_range(0..8);
            self.stats.corrupted += 1;
        }
        let Some(link) = servo.map(|i| self.servos[i].link) else {
            return Some((bytes, Duration::ZERO));
        };
        if let Some(id) = link.wrong_id {
            let p = match self.protocol {
                Protocol::Sts => crate::scene::BusProtocol::Sts,
                Protocol::Dxl => crate::scene::BusProtocol::Dxl,
            };
            crate::hardware::mitm::rewrite_id(p, &mut bytes, id);
        }
        // Byte-level faults on this servo's reply, as a bad cable would make them.
        let mut kept = Vec::with_capacity(bytes.len());
        let mut hit = false;
        for b in bytes {
            if link.drop_p > 0.0 && self.rng.random_bool(link.drop_p.clamp(0.0, 1.0)) {
                hit = true;
                continue;
            }
            if link.corrupt_p > 0.0 && self.rng.random_bool(link.corrupt_p.clamp(0.0, 1.0)) {
                hit = true;
                kept.push(b ^ (1u8 << self.rng.random_range(0..8)));
            } else {
                kept.push(b);
            }
        }
        if hit {
            self.stats.corrupted += 1;
        }
        if kept.is_empty() {
            self.stats.dropped += 1;
            return None;
        }
        let jitter = if link.jitter > Duration::ZERO {
            link.jitter.mul_f64(self.rng.random::<f64>())
        } else {
            Duration::ZERO
        };
        Some((kept, link.latency + jitter))
    }

    /// Takes the transactions logged since the last call (see [`Self::log_transactions`]).
    pub fn take_log(&mut self) -> Vec<log::Transaction> {
        std::mem::take(&mut self.log)
    }

    /// Keeps a log of every request from now on (the served bus records them).
    pub fn log_transactions(&mut self) {
        self.logging = true;
    }

    /// Reads the servos' link faults and power from their bodies (a served bus
    /// between requests).
    pub fn refresh(&mut self) {
        for s in &mut self.servos {
            s.refresh();
        }
    }

    /// A link fault has pulled the bus's cable.
    pub fn unplugged(&self) -> bool {
        self.servos.iter().any(|s| s.link.unplugged)
    }

    fn publish_all(&mut self) -> Vec<u8> {
        self.servos.iter_mut().map(|s| s.publish()).collect()
    }

    fn apply_write(&mut self, i: usize, addr: usize, data: &[u8]) -> Result<(), WriteError> {
        let s = &mut self.servos[i];
        s.table.write(addr, data)?;
        s.push_drive();
        Ok(())
    }

    fn handle_sts(&mut self, f: &psts::Frame) -> Vec<Out> {
        use psts::Instruction as I;
        let Ok(ins) = I::from_frame(f) else {
            return Vec::new();
        };
        let errs = self.publish_all();
        let bcast = f.id == psts::BROADCAST;
        let targets: Vec<usize> = if bcast {
            (0..self.servos.len())
                .filter(|&i| self.servos[i].local())
                .collect()
        } else {
            self.index_of(f.id).into_iter().collect()
        };
        let status = |bus: &Self, i: usize, params: Vec<u8>| -> Out {
            let s = &bus.servos[i];
            let st = psts::Status {
                id: s.table.id(),
                error: errs[i],
                params,
            };
            (
                Some(i),
                s.table.return_delay_us(),
                st.encode().unwrap_or_default(),
            )
        };
        let mut replies = Vec::new();
        match ins {
            I::Ping => {
                for &i in &targets {
                    replies.push(status(self, i, Vec::new()));
                }
            }
            I::Read { addr, len } if !bcast => {
                for &i in &targets {
                    if let Ok(d) = self.servos[i].table.read(addr as usize, len as usize) {
                        replies.push(status(self, i, d));
                    }
                }
            }
            I::Write { addr, data } | I::RegWrite { addr, data } => {
                let reg = f.code == psts::code::REG_WRITE;
                for &i in &targets {
                    let level = self.servos[i].table.status_level();
                    if reg {
                        self.servos[i].pending = Some((addr as usize, data.clone()));
                    } else {
                        // STS servos ignore refused writes (locked EEPROM, read-only).
                        let _ = self.apply_write(i, addr as usize, &data);
                    }
                    if !bcast && level >= 1 {
                        replies.push(status(self, i, Vec::new()));
                    }
                }
            }
            I::Action => {
                for &i in &targets {
                    if let Some((a, d)) = self.servos[i].pending.take() {
                        let _ = self.apply_write(i, a, &d);
                    }
                    if !bcast && self.servos[i].table.status_level() >= 1 {
                        replies.push(status(self, i, Vec::new()));
                    }
                }
            }
            I::SyncRead { addr, len, ids } => {
                for id in ids {
                    if let Some(i) = self.index_of(id)
                        && let Ok(d) = self.servos[i].table.read(addr as usize, len as usize)
                    {
                        replies.push(status(self, i, d));
                    }
                }
            }
            I::SyncWrite { addr, data, .. } => {
                for (id, d) in data {
                    if let Some(i) = self.index_of(id) {
                        let _ = self.apply_write(i, addr as usize, &d);
                    }
                }
            }
            _ => {}
        }
        replies
    }

    fn handle_dxl(&mut self, f: &pdxl::Frame) -> Vec<Out> {
        use pdxl::Instruction as I;
        let Ok(ins) = I::from_frame(f) else {
            return Vec::new();
        };
        let alerts = self.publish_all();
        let bcast = f.id == pdxl::BROADCAST;
        let targets: Vec<usize> = if bcast {
            (0..self.servos.len())
                .filter(|&i| self.servos[i].local())
                .collect()
        } else {
            self.index_of(f.id).into_iter().collect()
        };
        let status = |bus: &Self, i: usize, error: u8, params: Vec<u8>| -> Out {
            let s = &bus.servos[i];
            let st = pdxl::Status {
                id: s.table.id(),
                error: error | alerts[i],
                params,
            };
            (
                Some(i),
                s.table.return_delay_us(),
                st.encode().unwrap_or_default(),
            )
        };
        let code = |e: WriteError| match e {
            WriteError::Access => pdxl::err::ACCESS,
            WriteError::Range => pdxl::err::DATA_RANGE,
            WriteError::Limit => pdxl::err::DATA_LIMIT,
        };
        let mut replies = Vec::new();
        match ins {
            I::Ping => {
                for &i in &targets {
                    let p = self.servos[i].table.ping_params();
                    replies.push(status(self, i, 0, p));
                }
            }
            I::Read { addr, len } if !bcast => {
                for &i in &targets {
                    if self.servos[i].table.status_level() >= 1 {
                        match self.servos[i].table.read(addr as usize, len as usize) {
                            Ok(d) => replies.push(status(self, i, 0, d)),
                            Err(e) => replies.push(status(self, i, code(e), Vec::new())),
                        }
                    }
                }
            }
            I::Write { addr, data } | I::RegWrite { addr, data } => {
                let reg = f.instruction == pdxl::code::REG_WRITE;
                for &i in &targets {
                    // The reply follows the status return level in force when the
                    // write arrived (a write to the level itself is still answered).
                    let level = self.servos[i].table.status_level();
                    let r = if reg {
                        self.servos[i].pending = Some((addr as usize, data.clone()));
                        Ok(())
                    } else {
                        self.apply_write(i, addr as usize, &data)
                    };
                    if !bcast && level >= 2 {
                        replies.push(status(self, i, r.err().map_or(0, code), Vec::new()));
                    }
                }
            }
            I::Action => {
                for &i in &targets {
                    let r = match self.servos[i].pending.take() {
                        Some((a, d)) => self.apply_write(i, a, &d),
                        None => Ok(()),
                    };
                    if !bcast && self.servos[i].table.status_level() >= 2 {
                        replies.push(status(self, i, r.err().map_or(0, code), Vec::new()));
                    }
                }
            }
            I::Reboot => {
                for &i in &targets {
                    let s = &mut self.servos[i];
                    s.table.reboot();
                    s.push_drive();
                    if !bcast && s.table.status_level() >= 2 {
                        replies.push(status(self, i, 0, Vec::new()));
                    }
                }
            }
            I::SyncRead { addr, len, ids } => {
                for id in ids {
                    if let Some(i) = self.index_of(id)
                        && self.servos[i].table.status_level() >= 1
                    {
                        match self.servos[i].table.read(addr as usize, len as usize) {
                            Ok(d) => replies.push(status(self, i, 0, d)),
                            Err(e) => replies.push(status(self, i, code(e), Vec::new())),
                        }
                    }
                }
            }
            I::FastSyncRead { addr, len, ids } => {
                let mut blocks = Vec::new();
                let mut delay = 0;
                for id in ids {
                    if let Some(i) = self.index_of(id) {
                        let t = &self.servos[i].table;
                        delay = delay.max(t.return_delay_us());
                        match t.read(addr as usize, len as usize) {
                            Ok(d) => blocks.push(pdxl::FastBlock {
                                error: alerts[i],
                                id,
                                data: d,
                            }),
                            Err(e) => blocks.push(pdxl::FastBlock {
                                error: code(e) | alerts[i],
                                id,
                                data: vec![0; len as usize],
                            }),
                        }
                    } else if let Some((error, data, rtt)) =
                        self.proxy_of(id).and_then(|p| p.dxl_read(addr, len))
                    {
                        // The real servo's block, in its place in the one reply.
                        delay = delay.max(rtt.as_micros() as u64);
                        blocks.push(pdxl::FastBlock { error, id, data });
                    }
                }
                if !blocks.is_empty()
                    && let Ok(b) = pdxl::encode_fast_sync_reply(&blocks)
                {
                    replies.push((None, delay, b));
                }
            }
            I::BulkRead { reads } => {
                for (id, addr, len) in reads {
                    if let Some(i) = self.index_of(id)
                        && let Ok(d) = self.servos[i].table.read(addr as usize, len as usize)
                    {
                        replies.push(status(self, i, 0, d));
                    }
                }
            }
            I::SyncWrite { addr, data, .. } => {
                for (id, d) in data {
                    if let Some(i) = self.index_of(id) {
                        let _ = self.apply_write(i, addr as usize, &d);
                    }
                }
            }
            I::BulkWrite { writes } => {
                for (id, addr, d) in writes {
                    if let Some(i) = self.index_of(id) {
                        let _ = self.apply_write(i, addr as usize, &d);
                    }
                }
            }
            _ => {}
        }
        replies
    }
}

enum Frame {
    Sts(psts::Frame),
    Dxl(pdxl::Frame),
}

/// The IDs a sync read names, in order (empty for other instructions).
fn sync_order_sts(f: &psts::Frame) -> Vec<u8> {
    match psts::Instruction::from_frame(f) {
        Ok(psts::Instruction::SyncRead { ids, .. }) => ids,
        _ => Vec::new(),
    }
}

/// The IDs a sync or bulk read names, in order (empty for other instructions).
fn sync_order_dxl(f: &pdxl::Frame) -> Vec<u8> {
    match pdxl::Instruction::from_frame(f) {
        Ok(pdxl::Instruction::SyncRead { ids, .. }) => ids,
        Ok(pdxl::Instruction::BulkRead { reads }) => reads.iter().map(|r| r.0).collect(),
        _ => Vec::new(),
    }
}

/// A reply a handler makes: the servo that sends it (none for a Fast Sync Read's
/// shared packet), its return delay (µs) and its bytes.
type Out = (Option<usize>, u64, Vec<u8>);

/// Runs `bus` on `transport` until `stop` is set: reads requests, advances the motors
/// on `clock`, and writes each reply when the modelled wire would have delivered it.
pub fn serve(
    bus: &mut VirtualBus,
    transport: &mut dyn Transport,
    stop: &AtomicBool,
    clock: &dyn Clock,
) -> Result<(), TransportError> {
    let mut buf = [0u8; 512];
    let mut last = clock.now();
    let mut last_rx = last;
    while !stop.load(Ordering::Relaxed) {
        let n = transport.read(&mut buf, Duration::from_millis(1))?;
        let now = clock.now();
        bus.advance((now - last).as_secs_f64());
        last = now;
        if n == 0 {
            continue;
        }
        let replies = bus.receive_after(now - last_rx, &buf[..n]);
        last_rx = now;
        for r in replies {
            sleep_until(clock, now + r.delay);
            transport.write_all(&r.bytes, Duration::from_millis(100))?;
        }
    }
    Ok(())
}
