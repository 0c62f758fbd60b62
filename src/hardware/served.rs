//! The served bus (`armhil serve`): the simulated arm's joints answer a host on a
//! pseudo-terminal as servos of one bus (STS3215s or XM430s), so unmodified host
//! software (LeRobot, the official SDKs, a user's own driver) drives them. Each served
//! joint gets a control table (`virtual_servo::table`, shared with `armhil
//! virtual-servo`) whose body is a [`ServedLink`] to the plant: the bus thread writes
//! what the host's registers ask and reads what the plant last reported, through
//! latest-value cells, so it never waits on physics (and physics never on it).
//!
//! The bus runs on its own thread with the emulator's wire timing (request bytes at
//! the baud, then the servo's Return Delay, then its reply bytes); a host that closes
//! the port and opens it again finds the same servos. EEPROM contents are loaded from
//! a file at the start and saved there at the end, as a servo's flash keeps them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam::channel::{Receiver, Sender};

use super::transport::Transport;
use super::transport::port;
use super::transport::pty::PtyTransport;
use super::virtual_servo::log::Transaction;
use super::virtual_servo::proxy::{Proxy, Reading};
use super::virtual_servo::table::{Protocol, Table};
use super::virtual_servo::{Body, BusStats, ServedLink, VirtualBus, VirtualServo};
use crate::sys::clock::Clock;
use crate::sys::latest::Latest;

/// One joint served as a servo.
#[derive(Debug, Clone, PartialEq)]
pub struct ServedServo {
    /// Index of the joint in the plant.
    pub joint: usize,
    /// Its name (the key of its EEPROM in the file).
    pub name: String,
    pub id: u8,
    /// Calibration as shipped: homing offset and position limits, in the family's
    /// present-position units. Joint position 0 reads 2048.
    pub homing_offset: i32,
    pub limits: (i32, i32),
    /// Ticks per unit of joint position (4096 / 2π for a revolute joint).
    pub ticks_per_unit: f64,
    /// Joint position at the start.
    pub start: f64,
    /// A real servo answering for this ID instead (`--proxy`).
    pub proxy: Option<ProxySpec>,
}

/// A real servo standing in for a served joint: its port, ID and baud there.
#[derive(Debug, Clone, PartialEq)]
pub struct ProxySpec {
    pub port: String,
    pub id: u8,
    pub baud: u32,
}

/// The served bus.
#[derive(Debug, Clone, PartialEq)]
pub struct ServedBusSpec {
    pub protocol: Protocol,
    /// Modelled line rate, bit/s.
    pub baud: u32,
    pub servos: Vec<ServedServo>,
    /// A symlink made to point at the pty.
    pub link: Option<PathBuf>,
    /// Where EEPROM contents persist between runs.
    pub eeprom: Option<PathBuf>,
    /// SCHED_FIFO priority of the bus thread.
    pub rt_priority: Option<i32>,
}

/// The present position a served joint reads at joint position 0.
pub const CENTRE: f64 = 2048.0;

/// A served joint as the plant drives it: its link and where its shaft's actual
/// ticks are at joint position 0.
#[derive(Debug, Clone)]
pub struct ServedJoint {
    pub joint: usize,
    /// Its servo ID on the bus (as it started).
    pub id: u8,
    /// How reports name its backend, e.g. `served:sts:1`.
    pub label: String,
    pub link: ServedLink,
    pub zero_actual: f64,
    pub ticks_per_unit: f64,
    /// For a proxied joint: the real servo's latest reading (its present position
    /// reads 2048 at joint position 0), which the joint follows.
    pub proxy: Option<Latest<Option<Reading>>>,
}

/// What a run takes of the served bus besides its joints: the host's transactions as
/// they happen, and where Torque Enable is in this family's table.
#[derive(Debug, Clone)]
pub struct ServedTap {
    pub log: Receiver<Transaction>,
    pub torque_enable: u16,
    /// Transactions the log channel had no room for.
    pub dropped: Arc<AtomicU64>,
}

/// A served servo as the host finds it at the start (after the kept EEPROM was
/// loaded): what a calibration file for the host must say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedInfo {
    pub name: String,
    pub id: u8,
    pub homing_offset: i32,
    pub min: i32,
    pub max: i32,
}

/// Why the served bus could not start or finish.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot open a pseudo-terminal: {0}")]
    Pty(#[from] super::transport::TransportError),
    #[error("--link {path}: {detail}")]
    Link { path: PathBuf, detail: String },
    #[error("EEPROM file {path}: {detail}")]
    Eeprom { path: PathBuf, detail: String },
    #[error("cannot start the served bus thread: {0}")]
    Thread(#[source] std::io::Error),
    #[error("--proxy {joint}: {source}")]
    Proxy {
        joint: String,
        #[source]
        source: super::transport::TransportError,
    },
}

/// The EEPROM file: per joint name, its servo's EEPROM bytes.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct EepromFile {
    protocol: String,
    servos: BTreeMap<String, Vec<u8>>,
}

fn protocol_name(p: Protocol) -> &'static str {
    match p {
        Protocol::Sts => "sts",
        Protocol::Dxl => "dxl",
    }
}

/// The running served bus.
pub struct ServedPort {
    /// The pty device the host opens.
    pub path: String,
    spec: ServedBusSpec,
    joints: Vec<ServedJoint>,
    info: Vec<ServedInfo>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<VirtualBus>>,
    log: Option<Receiver<Transaction>>,
    /// Transactions the log channel had no room for.
    dropped: Arc<AtomicU64>,
    /// The pty device now (a new one after each replug).
    device: Latest<String>,
}

impl ServedPort {
    /// Opens the pty, loads the EEPROM file (when there is one), links `spec.link` to
    /// the pty and starts serving.
    pub fn start(spec: ServedBusSpec, clock: Arc<dyn Clock>) -> Result<Self, ServeError> {
        let kept = match &spec.eeprom {
            Some(p) => load_eeprom(p, spec.protocol)?,
            None => BTreeMap::new(),
        };
        let mut servos = Vec::new();
        let mut joints = Vec::new();
        let mut info = Vec::new();
        for s in &spec.servos {
            let mut table = Table::new(spec.protocol, s.id, 0.0);
            table.calibrate(s.homing_offset, s.limits.0, s.limits.1);
            // The shaft's mounting is physical: fixed by the shipped calibration.
            let zero_actual = table.actual_for(CENTRE);
            if let Some(bytes) = kept.get(&s.name)
                && !table.restore_eeprom(bytes)
            {
                return Err(ServeError::Eeprom {
                    path: spec.eeprom.clone().unwrap_or_default(),
                    detail: format!(
                        "field servos.{}: {} bytes; expected this family's EEPROM size",
                        s.name,
                        bytes.len()
                    ),
                });
            }
            let (homing_offset, min, max) = table.calibration();
            info.push(ServedInfo {
                name: s.name.clone(),
                id: table.id(),
                homing_offset,
                min,
                max,
            });
            let start = zero_actual + s.start * s.ticks_per_unit;
            table.hold_goal_at(start);
            let link = ServedLink::new(start);
            let (body, label, proxy) = match &s.proxy {
                None => (
                    Body::Served(link.clone()),
                    format!("served:{}:{}", protocol_name(spec.protocol), table.id()),
                    None,
                ),
                Some(p) => {
                    let port = port::open(&p.port, p.baud).map_err(|source| ServeError::Proxy {
                        joint: s.name.clone(),
                        source,
                    })?;
                    let proxy = Proxy::new(Box::new(port), p.id, spec.protocol);
                    let reading = proxy.reading.clone();
                    (
                        Body::Proxy(proxy),
                        format!(
                            "proxy:serial:{}:{}:{}",
                            p.port,
                            protocol_name(spec.protocol),
                            p.id
                        ),
                        Some(reading),
                    )
                }
            };
            joints.push(ServedJoint {
                joint: s.joint,
                id: table.id(),
                label,
                link,
                zero_actual,
                ticks_per_unit: s.ticks_per_unit,
                proxy,
            });
            servos.push(VirtualServo::new(table, body));
        }
        let mut bus = VirtualBus::with_servos(spec.protocol, servos, spec.baud);
        bus.log_transactions();
        let pty = PtyTransport::open()?;
        let path = pty.slave_path().to_string();
        if let Some(link) = &spec.link {
            make_link(link, &path)?;
        }
        let stop = Arc::new(AtomicBool::new(false));
        // Transactions for the recording and the report: a host makes at most a few
        // thousand requests a second and the run drains them every physics step, so
        // 4096 is seconds of slack; if it is ever full, records are counted as
        // dropped, and the bus itself never waits.
        let (log_tx, log_rx) = crossbeam::channel::bounded(4096);
        let dropped = Arc::new(AtomicU64::new(0));
        let device = Latest::new(path.clone());
        let bus_loop = BusLoop {
            stop: stop.clone(),
            clock,
            link: spec.link.clone(),
            device: device.clone(),
            log: log_tx,
            dropped: dropped.clone(),
        };
        let prio = spec.rt_priority;
        let thread = std::thread::Builder::new()
            .name("served-bus".into())
            .spawn(move || {
                // It stands in for hardware, which host load does not slow down.
                if let Some(p) = prio {
                    let _ = crate::sys::priority::set_fifo(p);
                }
                bus_loop.run(&mut bus, Some(pty));
                bus
            })
            .map_err(ServeError::Thread)?;
        Ok(Self {
            path,
            spec,
            joints,
            info,
            stop,
            thread: Some(thread),
            log: Some(log_rx),
            dropped,
            device,
        })
    }

    /// The served joints, for the plant.
    pub fn joints(&self) -> &[ServedJoint] {
        &self.joints
    }

    /// The host's transactions, as they happen, for the run (once: it takes them).
    pub fn tap(&mut self) -> Option<ServedTap> {
        Some(ServedTap {
            log: self.log.take()?,
            torque_enable: match self.spec.protocol {
                Protocol::Sts => super::virtual_servo::table::sts::TORQUE_ENABLE as u16,
                Protocol::Dxl => super::virtual_servo::table::dxl::TORQUE_ENABLE,
            },
            dropped: self.dropped.clone(),
        })
    }

    /// Transactions the log had no room for so far.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// The pty device serving now (it changes after an unplug fault ends).
    pub fn device(&self) -> String {
        self.device.get()
    }

    /// The servos as the host finds them at the start.
    pub fn info(&self) -> &[ServedInfo] {
        &self.info
    }

    /// Stops serving, saves the EEPROM file and removes the link. Returns what the
    /// bus counted.
    pub fn finish(mut self) -> Result<BusStats, ServeError> {
        self.stop.store(true, Ordering::Relaxed);
        let bus = self.thread.take().and_then(|t| t.join().ok());
        if let Some(link) = &self.spec.link {
            // Only our own link: a path someone replaced meanwhile is left alone.
            if std::fs::read_link(link).is_ok_and(|t| t == Path::new(&self.device.get())) {
                let _ = std::fs::remove_file(link);
            }
        }
        let Some(bus) = bus else {
            return Ok(BusStats::default());
        };
        if let Some(p) = &self.spec.eeprom {
            let file = EepromFile {
                protocol: protocol_name(self.spec.protocol).into(),
                servos: self
                    .spec
                    .servos
                    .iter()
                    .zip(&bus.servos)
                    .map(|(s, v)| (s.name.clone(), v.table.eeprom().to_vec()))
                    .collect(),
            };
            save_eeprom(p, &file)?;
        }
        Ok(bus.stats.clone())
    }
}

impl Drop for ServedPort {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// How often a quiet host leaves the bus to read the proxied servos.
const POLL: Duration = Duration::from_millis(10);

/// The served bus's thread: requests in, timed replies out, the host's transactions
/// logged; an unplug fault hangs the pty up (the host's port fails as when a USB
/// adapter is pulled, and the link disappears) until it clears, then a new pty is
/// served under the same link.
struct BusLoop {
    stop: Arc<AtomicBool>,
    clock: Arc<dyn Clock>,
    link: Option<PathBuf>,
    device: Latest<String>,
    log: Sender<Transaction>,
    dropped: Arc<AtomicU64>,
}

impl BusLoop {
    fn run(&self, bus: &mut VirtualBus, mut pty: Option<PtyTransport>) {
        let mut buf = [0u8; 512];
        let clock = self.clock.as_ref();
        let mut last_rx = clock.now();
        let mut last_poll = last_rx;
        while !self.stop.load(Ordering::Relaxed) {
            bus.refresh();
            if bus.unplugged() {
                if pty.take().is_some()
                    && let Some(l) = &self.link
                {
                    let _ = std::fs::remove_file(l);
                }
                clock.sleep_until_coarse(clock.now() + Duration::from_millis(1));
                continue;
            }
            let Some(p) = pty.as_mut() else {
                // Plugged back in: a new device, under the same link.
                match PtyTransport::open() {
                    Ok(p) => {
                        let path = p.slave_path().to_string();
                        if let Some(l) = &self.link {
                            let _ = make_link(l, &path);
                        }
                        self.device.set(path);
                        pty = Some(p);
                    }
                    Err(_) => clock.sleep_until_coarse(clock.now() + Duration::from_millis(10)),
                }
                continue;
            };
            let n = match p.read(&mut buf, Duration::from_millis(1)) {
                Ok(n) => n,
                Err(_) => {
                    pty = None;
                    continue;
                }
            };
            if n == 0 {
                // A quiet host: the proxied servos are read by the bus itself, so their
                // joints follow them anyway (every 10 ms).
                let now = clock.now();
                if now - last_rx >= POLL && now - last_poll >= POLL {
                    bus.poll_proxies();
                    last_poll = now;
                }
                continue;
            }
            let now = clock.now();
            let replies = bus.receive_after(now - last_rx, &buf[..n]);
            last_rx = now;
            for r in replies {
                // Without the wall clock's final spin: this thread shares the machine
                // with the physics, and a reply a few tens of µs late is still a
                // reply at the modelled wire rate.
                clock.sleep_until_coarse(now + r.delay);
                if p.write_all(&r.bytes, Duration::from_millis(100)).is_err() {
                    break;
                }
            }
            for t in bus.take_log() {
                if self.log.try_send(t).is_err() {
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
}

fn make_link(link: &Path, target: &str) -> Result<(), ServeError> {
    let err = |detail: String| ServeError::Link {
        path: link.to_path_buf(),
        detail,
    };
    match std::fs::symlink_metadata(link) {
        Ok(m) if m.file_type().is_symlink() => {
            std::fs::remove_file(link).map_err(|e| err(format!("cannot replace it: {e}")))?
        }
        Ok(_) => return Err(err("exists and is not a symlink; not replaced".into())),
        Err(_) => {}
    }
    std::os::unix::fs::symlink(target, link).map_err(|e| err(format!("cannot create it: {e}")))
}

fn load_eeprom(path: &Path, protocol: Protocol) -> Result<BTreeMap<String, Vec<u8>>, ServeError> {
    let err = |detail: String| ServeError::Eeprom {
        path: path.to_path_buf(),
        detail,
    };
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(err(e.to_string())),
    };
    let f: EepromFile = serde_json::from_str(&text).map_err(|e| err(e.to_string()))?;
    if f.protocol != protocol_name(protocol) {
        return Err(err(format!(
            "field protocol: holds {} servos, this bus serves {}",
            f.protocol,
            protocol_name(protocol)
        )));
    }
    Ok(f.servos)
}

fn save_eeprom(path: &Path, f: &EepromFile) -> Result<(), ServeError> {
    let err = |detail: String| ServeError::Eeprom {
        path: path.to_path_buf(),
        detail,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| err(e.to_string()))?;
    }
    let text = serde_json::to_string_pretty(f).map_err(|e| err(e.to_string()))?;
    // Written beside, then renamed: a crash never leaves half a file.
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).map_err(|e| err(e.to_string()))?;
    std::fs::rename(&tmp, path).map_err(|e| err(e.to_string()))
}
