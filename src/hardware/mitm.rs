//! Man-in-the-middle fault layer on a serial transport: it sits between the bridge
//! and the port (a real USB adapter as well as a pty), so link faults work against
//! real servos too. It can drop bytes, flip bits, hold replies back (fixed latency +
//! uniform jitter), pretend the cable is pulled, and rewrite the ID of every reply
//! (fixing its checksum or CRC so only the ID is wrong).
//!
//! Time comes from the [`Clock`] passed in; randomness from a seeded stream, so a
//! given seed impairs the same bytes.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::protocol::dxl;
use super::transport::{Transport, TransportError};
use crate::faults::FaultKind;
use crate::scene::BusProtocol;
use crate::sys::clock::Clock;

/// The link faults acting now, merged.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Impairments {
    /// Probability that a byte is lost, each direction.
    pub drop_p: f64,
    /// Probability that a byte gets one bit flipped, each direction.
    pub corrupt_p: f64,
    /// Added reply latency, fixed part.
    pub latency: Duration,
    /// Added reply latency, uniform random part (0..jitter).
    pub jitter: Duration,
    /// The cable is pulled.
    pub unplugged: bool,
    /// Replies claim this ID.
    pub wrong_id: Option<u8>,
}

impl Impairments {
    /// Merges the link faults acting on a bus (probabilities combine as independent
    /// events; latencies add).
    pub fn from_kinds(kinds: &[FaultKind]) -> Self {
        let mut m = Self::default();
        for k in kinds {
            match *k {
                FaultKind::LinkDrop { p } => m.drop_p = 1.0 - (1.0 - m.drop_p) * (1.0 - p),
                FaultKind::LinkCorrupt { p } => m.corrupt_p = 1.0 - (1.0 - m.corrupt_p) * (1.0 - p),
                FaultKind::LinkLatency { ms, jitter_ms } => {
                    m.latency += Duration::from_secs_f64(ms / 1e3);
                    m.jitter += Duration::from_secs_f64(jitter_ms / 1e3);
                }
                FaultKind::Unplug => m.unplugged = true,
                FaultKind::WrongId { id } => m.wrong_id = Some(id),
                _ => {}
            }
        }
        m
    }

    /// Nothing impaired.
    pub fn is_clear(&self) -> bool {
        *self == Self::default()
    }
}

/// A transport with link faults in the middle.
pub struct MitmTransport<T: Transport> {
    inner: T,
    protocol: BusProtocol,
    clock: Arc<dyn Clock>,
    rng: ChaCha8Rng,
    imp: Impairments,
    /// Received bytes not yet framed (for ID rewriting).
    staging: Vec<u8>,
    /// Received bytes with the clock time they may be delivered.
    held: VecDeque<(Duration, u8)>,
}

impl<T: Transport> MitmTransport<T> {
    pub fn new(inner: T, protocol: BusProtocol, clock: Arc<dyn Clock>, seed: u64) -> Self {
        Self {
            inner,
            protocol,
            clock,
            rng: ChaCha8Rng::seed_from_u64(seed),
            imp: Impairments::default(),
            staging: Vec::new(),
            held: VecDeque::new(),
        }
    }

    /// Sets the faults acting from now on.
    pub fn set(&mut self, imp: Impairments) {
        self.imp = imp;
    }

    pub fn impairments(&self) -> Impairments {
        self.imp
    }

    fn mangle(&mut self, bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(bytes.len());
        for &b in bytes {
            if self.imp.drop_p > 0.0 && self.rng.random_bool(self.imp.drop_p.clamp(0.0, 1.0)) {
                continue;
            }
            let b = if self.imp.corrupt_p > 0.0
                && self.rng.random_bool(self.imp.corrupt_p.clamp(0.0, 1.0))
            {
                b ^ (1u8 << self.rng.random_range(0..8))
            } else {
                b
            };
            out.push(b);
        }
        out
    }

    /// Moves staged bytes to `held`, rewriting reply IDs when asked. An incomplete
    /// frame stays staged unless `flush`.
    fn release_staged(&mut self, flush: bool) {
        let mut out = Vec::new();
        match self.imp.wrong_id {
            None => out.append(&mut self.staging),
            Some(id) => loop {
                match frame_len(self.protocol, &self.staging) {
                    Framed::Frame(n) => {
                        let mut f: Vec<u8> = self.staging.drain(..n).collect();
                        rewrite_id(self.protocol, &mut f, id);
                        out.extend(f);
                    }
                    Framed::NotAFrame => out.push(self.staging.remove(0)),
                    Framed::Incomplete => {
                        if flush {
                            out.append(&mut self.staging);
                        }
                        break;
                    }
                    Framed::Empty => break,
                }
            },
        }
        if out.is_empty() {
            return;
        }
        let mut delay = self.imp.latency;
        if !self.imp.jitter.is_zero() {
            delay += self.imp.jitter.mul_f64(self.rng.random::<f64>());
        }
        let at = self.clock.now() + delay;
        self.held.extend(out.into_iter().map(|b| (at, b)));
    }

    fn take_ready(&mut self, buf: &mut [u8]) -> usize {
        let now = self.clock.now();
        let mut n = 0;
        while n < buf.len() {
            match self.held.front() {
                Some((at, b)) if *at <= now => {
                    buf[n] = *b;
                    n += 1;
                    self.held.pop_front();
                }
                _ => break,
            }
        }
        n
    }

    fn unplugged(&self) -> TransportError {
        TransportError::Disconnected(format!("{} (unplugged: injected fault)", self.inner.name()))
    }
}

enum Framed {
    Empty,
    Frame(usize),
    Incomplete,
    NotAFrame,
}

/// Length of the frame at the start of `b`, if one starts there.
fn frame_len(p: BusProtocol, b: &[u8]) -> Framed {
    if b.is_empty() {
        return Framed::Empty;
    }
    match p {
        BusProtocol::Sts => {
            // FF FF ID LEN ... CHK, LEN counts the bytes after it.
            if b[0] != 0xFF {
                return Framed::NotAFrame;
            }
            if b.len() < 4 {
                return if b.len() < 2 || b[1] == 0xFF {
                    Framed::Incomplete
                } else {
                    Framed::NotAFrame
                };
            }
            if b[1] != 0xFF {
                return Framed::NotAFrame;
            }
            let n = 4 + b[3] as usize;
            if b.len() >= n {
                Framed::Frame(n)
            } else {
                Framed::Incomplete
            }
        }
        BusProtocol::Dxl => {
            // FF FF FD 00 ID LEN_L LEN_H ..., LEN counts the bytes after it.
            const HDR: [u8; 4] = [0xFF, 0xFF, 0xFD, 0x00];
            let k = b.len().min(4);
            if b[..k] != HDR[..k] {
                return Framed::NotAFrame;
            }
            if b.len() < 7 {
                return Framed::Incomplete;
            }
            let n = 7 + u16::from_le_bytes([b[5], b[6]]) as usize;
            if n > dxl::MAX_PACKET + 16 {
                return Framed::NotAFrame;
            }
            if b.len() >= n {
                Framed::Frame(n)
            } else {
                Framed::Incomplete
            }
        }
    }
}

/// Gives a complete frame the ID `id`, with a valid checksum / CRC.
pub(crate) fn rewrite_id(p: BusProtocol, f: &mut [u8], id: u8) {
    match p {
        BusProtocol::Sts => {
            if f.len() < 5 {
                return;
            }
            let old = f[2];
            f[2] = id;
            let last = f.len() - 1;
            // checksum = !(sum of ID..params): a change d in ID moves it by -d.
            f[last] = f[last].wrapping_sub(id.wrapping_sub(old));
        }
        BusProtocol::Dxl => {
            if f.len() < 10 {
                return;
            }
            f[4] = id;
            let n = f.len();
            let crc = dxl::crc16(&f[..n - 2]);
            f[n - 2..].copy_from_slice(&crc.to_le_bytes());
        }
    }
}

impl<T: Transport> Transport for MitmTransport<T> {
    fn write_all(&mut self, bytes: &[u8], timeout: Duration) -> Result<(), TransportError> {
        if self.imp.unplugged {
            return Err(self.unplugged());
        }
        if self.imp.drop_p == 0.0 && self.imp.corrupt_p == 0.0 {
            return self.inner.write_all(bytes, timeout);
        }
        let out = self.mangle(bytes);
        self.inner.write_all(&out, timeout)
    }

    fn read(&mut self, buf: &mut [u8], timeout: Duration) -> Result<usize, TransportError> {
        if self.imp.unplugged {
            return Err(self.unplugged());
        }
        let end = self.clock.now() + timeout;
        let mut tmp = [0u8; 256];
        loop {
            let n = self.take_ready(buf);
            if n > 0 {
                return Ok(n);
            }
            let now = self.clock.now();
            if now >= end {
                // Out of time: whatever is staged goes on (no more bytes are coming
                // to complete its frame within this read).
                self.release_staged(true);
                return Ok(self.take_ready(buf));
            }
            // Wait for new bytes, but not past the next held byte's release.
            let mut wait = end - now;
            if let Some((at, _)) = self.held.front() {
                wait = wait.min(at.saturating_sub(now));
            }
            let got = if wait.is_zero() {
                0
            } else {
                self.inner.read(&mut tmp, wait)?
            };
            if got > 0 {
                let mangled = self.mangle(&tmp[..got]);
                self.staging.extend(mangled);
                self.release_staged(false);
            } else if self.held.is_empty() {
                self.release_staged(true);
            }
        }
    }

    fn clear_input(&mut self) -> Result<(), TransportError> {
        if self.imp.unplugged {
            return Err(self.unplugged());
        }
        self.staging.clear();
        self.held.clear();
        self.inner.clear_input()
    }

    fn name(&self) -> &str {
        self.inner.name()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hardware::protocol::{dxl, sts};

    #[test]
    fn rewritten_sts_reply_is_valid_from_the_wrong_id() {
        // Golden STS ping reply from ID 1: FF FF 01 02 00 FC.
        let mut f = vec![0xFF, 0xFF, 0x01, 0x02, 0x00, 0xFC];
        rewrite_id(BusProtocol::Sts, &mut f, 7);
        let mut d = sts::Decoder::new();
        d.push(&f);
        let frame = d.next_frame().expect("a frame").expect("valid checksum");
        assert_eq!(frame.id, 7);
    }

    #[test]
    fn rewritten_dxl_reply_is_valid_from_the_wrong_id() {
        let mut f = dxl::encode_frame(1, dxl::STATUS, &[0x00, 0x06, 0x04, 0x26]).expect("encode");
        rewrite_id(BusProtocol::Dxl, &mut f, 9);
        let mut d = dxl::Decoder::new();
        d.push(&f);
        let frame = d.next_frame().expect("a frame").expect("valid CRC");
        assert_eq!(frame.id, 9);
    }

    #[test]
    fn merged_impairments() {
        let m = Impairments::from_kinds(&[
            FaultKind::LinkDrop { p: 0.5 },
            FaultKind::LinkDrop { p: 0.5 },
            FaultKind::LinkLatency {
                ms: 2.0,
                jitter_ms: 1.0,
            },
            FaultKind::WrongId { id: 3 },
        ]);
        assert!((m.drop_p - 0.75).abs() < 1e-12);
        assert_eq!(m.latency, Duration::from_millis(2));
        assert_eq!(m.wrong_id, Some(3));
        assert!(!m.is_clear() && Impairments::from_kinds(&[]).is_clear());
    }
}
