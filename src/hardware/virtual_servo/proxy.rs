//! A servo of an emulated bus that is really on another port (`armhil serve --proxy`):
//! the host's requests to its ID are forwarded to a real servo (under its own ID, on its
//! own port and baud) and the real servo's status comes back under the host's ID; a
//! sync read or sync write that names it is split, its part sent on alone and its
//! reply put back in the host's order. What the real servo reports of its position,
//! from the host's reads or from the bus's own polls while the host is quiet, is
//! handed to the plant (latest value), whose twin of that joint follows it.
//!
//! Fast Sync Read, Bulk Read and Bulk Write are split the same way (a Fast Sync
//! Read's one reply packet carries the real servo's block beside the others).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::table::Protocol;
use crate::hardware::protocol::{dxl as pdxl, sts as psts};
use crate::hardware::transport::Transport;
use crate::sys::latest::Latest;

/// What the real servo reported last: present position (its own ticks), speed
/// (ticks/s) and load (signed fraction of its maximum).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    pub pos: f64,
    pub vel: f64,
    pub load: f64,
}

/// A real servo standing in for one of the bus's IDs.
#[derive(Clone)]
pub struct Proxy {
    port: Arc<Mutex<Box<dyn Transport>>>,
    /// Its ID on its own bus.
    pub real_id: u8,
    protocol: Protocol,
    /// Its latest reading, for the plant.
    pub reading: Latest<Option<Reading>>,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy")
            .field("real_id", &self.real_id)
            .field("protocol", &self.protocol)
            .finish()
    }
}

/// How long a forwarded request waits for the real servo's status: just under the
/// official SDKs' own 34 ms, so a host never waits on a reply the bus has given up on.
const REPLY_TIMEOUT: Duration = Duration::from_millis(30);

impl Proxy {
    pub fn new(port: Box<dyn Transport>, real_id: u8, protocol: Protocol) -> Self {
        Self {
            port: Arc::new(Mutex::new(port)),
            real_id,
            protocol,
            reading: Latest::new(None),
        }
    }

    /// Sends `request` (already addressed to the real servo); with `reply`, waits for
    /// its status. Returns the status (error byte, params) and the round trip.
    fn call(&self, request: &[u8], reply: bool) -> Option<(u8, Vec<u8>, Duration)> {
        let mut port = self.port.lock().unwrap_or_else(|e| e.into_inner());
        let _ = port.clear_input();
        let start = Instant::now();
        port.write_all(request, REPLY_TIMEOUT).ok()?;
        if !reply {
            return None;
        }
        let mut buf = [0u8; 256];
        let mut sts = psts::Decoder::new();
        let mut dxl = pdxl::Decoder::new();
        while start.elapsed() < REPLY_TIMEOUT {
            let n = port.read(&mut buf, Duration::from_millis(2)).ok()?;
            match self.protocol {
                Protocol::Sts => {
                    sts.push(&buf[..n]);
                    while let Some(f) = sts.next_frame() {
                        if let Ok(f) = f
                            && f.id == self.real_id
                            && let Ok(s) = psts::Status::from_frame(&f)
                        {
                            return Some((s.error, s.params, start.elapsed()));
                        }
                    }
                }
                Protocol::Dxl => {
                    dxl.push(&buf[..n]);
                    while let Some(f) = dxl.next_frame() {
                        if let Ok(f) = f
                            && f.id == self.real_id
                            && let Ok(s) = pdxl::Status::from_frame(&f)
                        {
                            return Some((s.error, s.params, start.elapsed()));
                        }
                    }
                }
            }
        }
        None
    }

    /// An STS instruction for the real servo (sent to `to`: its own ID, or
    /// broadcast); its status re-addressed to `host_id` (bytes) and the round trip in
    /// µs, when it answers.
    pub(super) fn sts(
        &self,
        ins: &psts::Instruction,
        to: u8,
        host_id: u8,
        reply: bool,
    ) -> Option<(u64, Vec<u8>)> {
        let bytes = ins.encode(to).ok()?;
        let (error, params, rtt) = self.call(&bytes, reply)?;
        if let psts::Instruction::Read { addr, .. } = ins {
            self.note(*addr as u16, &params);
        }
        let st = psts::Status {
            id: host_id,
            error,
            params,
        };
        Some((rtt.as_micros() as u64, st.encode().ok()?))
    }

    /// A Dynamixel instruction for the real servo, as [`Self::sts`].
    pub(super) fn dxl(
        &self,
        ins: &pdxl::Instruction,
        to: u8,
        host_id: u8,
        reply: bool,
    ) -> Option<(u64, Vec<u8>)> {
        let bytes = ins.encode(to).ok()?;
        let (error, params, rtt) = self.call(&bytes, reply)?;
        if let pdxl::Instruction::Read { addr, .. } = ins {
            self.note(*addr, &params);
        }
        let st = pdxl::Status {
            id: host_id,
            error,
            params,
        };
        Some((rtt.as_micros() as u64, st.encode().ok()?))
    }

    /// A Dynamixel Read of the real servo: its error byte, data and the round trip
    /// (for a Fast Sync Read's shared reply).
    pub(super) fn dxl_read(&self, addr: u16, len: u16) -> Option<(u8, Vec<u8>, Duration)> {
        let bytes = pdxl::Instruction::Read { addr, len }
            .encode(self.real_id)
            .ok()?;
        let (error, params, rtt) = self.call(&bytes, true)?;
        self.note(addr, &params);
        Some((error, params, rtt))
    }

    /// Reads the real servo's position, speed and load itself (the host is quiet).
    pub fn poll(&self) {
        match self.protocol {
            Protocol::Sts => {
                let ins = psts::Instruction::Read {
                    addr: super::table::sts::PRESENT_POSITION,
                    len: 6,
                };
                let _ = self.sts(&ins, self.real_id, self.real_id, true);
            }
            Protocol::Dxl => {
                let ins = pdxl::Instruction::Read {
                    addr: super::table::dxl::PRESENT_CURRENT,
                    len: 10,
                };
                let _ = self.dxl(&ins, self.real_id, self.real_id, true);
            }
        }
    }

    /// Takes what a read of `data` at `addr` says of the position (and speed, load).
    fn note(&self, addr: u16, data: &[u8]) {
        use crate::hardware::protocol::sign_magnitude_decode as sm;
        let at = |a: u16, n: usize| -> Option<&[u8]> {
            let o = a.checked_sub(addr)? as usize;
            data.get(o..o + n)
        };
        let r = match self.protocol {
            Protocol::Sts => {
                let p = super::table::sts::PRESENT_POSITION as u16;
                at(p, 2).map(|b| {
                    let w = |b: &[u8]| u16::from_le_bytes([b[0], b[1]]) as u32;
                    Reading {
                        pos: sm(w(b), 15) as f64,
                        vel: at(p + 2, 2).map_or(0.0, |v| sm(w(v), 15) as f64),
                        load: at(p + 4, 2).map_or(0.0, |v| sm(w(v), 10) as f64 / 1000.0),
                    }
                })
            }
            Protocol::Dxl => {
                let p = super::table::dxl::PRESENT_POSITION;
                at(p, 4).map(|b| {
                    let i32_of = |b: &[u8]| i32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                    Reading {
                        pos: i32_of(b) as f64,
                        vel: at(p - 4, 4).map_or(0.0, |v| i32_of(v) as f64 * 0.229 / 60.0 * 4096.0),
                        load: at(p - 6, 2).map_or(0.0, |v| {
                            i16::from_le_bytes([v[0], v[1]]) as f64 * 0.00269 / 2.3
                        }),
                    }
                })
            }
        };
        if let Some(r) = r {
            self.reading.set(Some(r));
        }
    }
}

impl super::VirtualBus {
    /// The proxied servos: (index, host ID).
    fn proxies(&self) -> Vec<(usize, u8)> {
        self.servos
            .iter()
            .enumerate()
            .filter(|(_, s)| matches!(s.body, super::Body::Proxy(_)))
            .map(|(i, s)| (i, s.table.id()))
            .collect()
    }

    /// The proxied servo answering for `id`, if any.
    pub(super) fn proxy_of(&self, id: u8) -> Option<&Proxy> {
        self.servos.iter().find_map(|s| match &s.body {
            super::Body::Proxy(p) if s.table.id() == id => Some(p),
            _ => None,
        })
    }

    /// Polls every proxied servo's reading (while the host is quiet).
    pub fn poll_proxies(&self) {
        for s in &self.servos {
            if let super::Body::Proxy(p) = &s.body {
                p.poll();
            }
        }
    }

    /// Forwards what of an STS request concerns proxied servos; their replies.
    pub(super) fn forward_sts(&self, f: &psts::Frame) -> Vec<super::Out> {
        use psts::Instruction as I;
        let proxies = self.proxies();
        let mut out = Vec::new();
        let Ok(ins) = (!proxies.is_empty()).then(|| I::from_frame(f)).transpose() else {
            return out;
        };
        let Some(ins) = ins else { return out };
        let bcast = f.id == psts::BROADCAST;
        for (i, host) in proxies {
            let super::Body::Proxy(p) = &self.servos[i].body else {
                continue;
            };
            let single = f.id == host;
            let r = match &ins {
                I::Ping | I::Read { .. } if single => p.sts(&ins, p.real_id, host, true),
                I::Write { .. } | I::RegWrite { .. } | I::Action if single => {
                    p.sts(&ins, p.real_id, host, true)
                }
                I::Write { .. } | I::RegWrite { .. } | I::Action if bcast => {
                    p.sts(&ins, psts::BROADCAST, host, false)
                }
                I::SyncRead { addr, len, ids } if ids.contains(&host) => {
                    let read = I::Read {
                        addr: *addr,
                        len: *len,
                    };
                    p.sts(&read, p.real_id, host, true)
                }
                I::SyncWrite { addr, len, data } => match data.iter().find(|(id, _)| *id == host) {
                    Some((_, d)) => {
                        let w = I::SyncWrite {
                            addr: *addr,
                            len: *len,
                            data: vec![(p.real_id, d.clone())],
                        };
                        p.sts(&w, psts::BROADCAST, host, false)
                    }
                    None => None,
                },
                _ => None,
            };
            if let Some((rtt, bytes)) = r {
                out.push((Some(i), rtt, bytes));
            }
        }
        out
    }

    /// Forwards what of a Dynamixel request concerns proxied servos; their replies.
    pub(super) fn forward_dxl(&self, f: &pdxl::Frame) -> Vec<super::Out> {
        use pdxl::Instruction as I;
        let proxies = self.proxies();
        let mut out = Vec::new();
        let Ok(ins) = (!proxies.is_empty()).then(|| I::from_frame(f)).transpose() else {
            return out;
        };
        let Some(ins) = ins else { return out };
        let bcast = f.id == pdxl::BROADCAST;
        for (i, host) in proxies {
            let super::Body::Proxy(p) = &self.servos[i].body else {
                continue;
            };
            let single = f.id == host;
            let r = match &ins {
                I::Ping | I::Read { .. } | I::Reboot if single => {
                    p.dxl(&ins, p.real_id, host, true)
                }
                I::Write { .. } | I::RegWrite { .. } | I::Action if single => {
                    p.dxl(&ins, p.real_id, host, true)
                }
                I::Write { .. } | I::RegWrite { .. } | I::Action if bcast => {
                    p.dxl(&ins, pdxl::BROADCAST, host, false)
                }
                I::SyncRead { addr, len, ids } if ids.contains(&host) => {
                    let read = I::Read {
                        addr: *addr,
                        len: *len,
                    };
                    p.dxl(&read, p.real_id, host, true)
                }
                I::SyncWrite { addr, len, data } => match data.iter().find(|(id, _)| *id == host) {
                    Some((_, d)) => {
                        let w = I::SyncWrite {
                            addr: *addr,
                            len: *len,
                            data: vec![(p.real_id, d.clone())],
                        };
                        p.dxl(&w, pdxl::BROADCAST, host, false)
                    }
                    None => None,
                },
                I::BulkRead { reads } => match reads.iter().find(|r| r.0 == host) {
                    Some(&(_, addr, len)) => p.dxl(&I::Read { addr, len }, p.real_id, host, true),
                    None => None,
                },
                I::BulkWrite { writes } => {
                    // A bulk write has no reply: the real servo's own is not passed on.
                    if let Some((_, addr, d)) = writes.iter().find(|w| w.0 == host) {
                        let w = I::Write {
                            addr: *addr,
                            data: d.clone(),
                        };
                        let _ = p.dxl(&w, p.real_id, host, true);
                    }
                    None
                }
                _ => None,
            };
            if let Some((rtt, bytes)) = r {
                out.push((Some(i), rtt, bytes));
            }
        }
        out
    }
}
