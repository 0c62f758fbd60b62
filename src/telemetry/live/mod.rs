//! The live server (`--live`): a run as Foxglove sees it, over the official
//! `foxglove` crate's WebSocket server, while it runs. A sink like the recorder: the
//! run hands it records through a bounded [`Tap`] (never waiting: a full queue drops
//! and counts per channel), a forwarder thread logs them on Foxglove channels
//! (`channels`) with simulated time as log time, and the server runs on its own
//! small tokio runtime, never on the control path. Each client has its own bounded
//! queue in the server (`BACKLOG` messages; when a client does not read, the server
//! drops that client's oldest messages and nobody else's). Clients steer the run
//! through the run's one control channel (`steer`), and get the arm's shapes
//! (`shapes`) for Foxglove's 3D panel and, for an arm read from a URDF, the URDF and
//! its meshes (`assets`).
//!
//! Anyone who can reach the port can steer the run (e-stop, faults, swaps to real
//! servos, gains): it listens on loopback unless told otherwise.

pub mod assets;
mod channels;
mod params;
mod services;
pub mod shapes;
mod steer;
pub mod thin;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam::channel::{Receiver, Sender};
use foxglove::websocket::Capability;

use crate::recording::Record;
use crate::report::LiveReport;
use crate::runtime::command::ControlCommand;
use crate::runtime::tap::{RunInfo, Sink, SinkError, SinkFactory, SinkReport, Tap};
use crate::scene::Scene;

/// Where the live server listens unless told otherwise.
pub const DEFAULT_ADDR: &str = "127.0.0.1:8765";

/// Records waiting for the forwarder: arm6 makes ~4,300 a simulated second, so this
/// holds ~4 s at 1x (the forwarder drains it continuously; logging a record is a few
/// µs). Beyond it, dropping is better than holding up the control loop.
const CAPACITY: usize = 16_384;

/// Messages a client's queue in the server holds: ~1 s of arm6 at 1x with every
/// channel subscribed; a client that reads nothing loses its oldest beyond it.
const BACKLOG: usize = 4096;

/// How often the forwarder drains the queue: it never blocks on it, so the control
/// loop's send never has to wake it (a syscall per record). 1 ms: what it adds to a
/// client's latency stays below a real-time step's worth; at 60× real time arm6
/// queues ~260 records in 1 ms, a sixtieth of `CAPACITY`.
const POLL: Duration = Duration::from_millis(1);

/// Why the live server could not start.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error("cannot start the live server's runtime: {0}")]
    Runtime(#[source] std::io::Error),
    #[error("cannot listen on {addr}: {why}")]
    Listen { addr: SocketAddr, why: String },
    #[error("cannot start the live server's thread: {0}")]
    Thread(#[source] std::io::Error),
}

/// A running live server.
pub struct LiveServer {
    tap: Tap,
    addr: SocketAddr,
    /// Ends with each topic's count and the topic of each drop counter.
    forwarder: Option<JoinHandle<Forwarded>>,
    /// Shared with the forwarder (parameter updates), which ends first.
    server: Option<Arc<foxglove::WebSocketServerHandle>>,
    tally: Arc<steer::Tally>,
    /// Kept for the server's tasks; shut down after the server stopped.
    runtime: Option<tokio::runtime::Runtime>,
}

/// What the forwarder handed the server: (topic, messages, messages thinned) per
/// channel, and the topic of each of the tap's drop counters.
type Forwarded = (Vec<(String, u64, u64)>, Vec<String>);

impl LiveServer {
    /// Starts listening on `addr` (port 0: any free port, see [`LiveServer::addr`]).
    /// With `wait`, returns only once a client has subscribed to a channel (the run
    /// then starts: that channel is seen from simulated time 0).
    pub fn start(
        addr: SocketAddr,
        wait: bool,
        scene: &Scene,
        run: &RunInfo,
        control: Sender<ControlCommand>,
    ) -> Result<Self, LiveError> {
        // One worker: the server's tasks are I/O, and the machine's cores belong to
        // the run.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("armhil-live-io")
            .enable_all()
            .build()
            .map_err(LiveError::Runtime)?;
        let ctx = foxglove::Context::new();
        let shapes_channel = ctx
            .channel_builder(shapes::TOPIC)
            .build::<foxglove::messages::SceneUpdate>();
        let steer = Arc::new(steer::Steer::new(
            control,
            params::Steered {
                gains: run
                    .joints
                    .iter()
                    .cloned()
                    .zip(run.gains.iter().copied())
                    .collect(),
                speed: run.pace,
                realtime: run.realtime,
                paused: false,
            },
            shapes_channel,
            shapes::scene_update(scene),
        ));
        let tally = steer.tally.clone();
        let assets = assets::Assets::of(scene);
        let mut capabilities = vec![
            Capability::ClientPublish,
            Capability::Parameters,
            Capability::Services,
        ];
        if !assets.is_empty() {
            capabilities.push(Capability::Assets);
        }
        let server = ctx
            .websocket_server()
            .name(format!(
                "armhil {}: {}",
                env!("CARGO_PKG_VERSION"),
                run.scene_name
            ))
            .bind(addr.ip().to_string(), addr.port())
            .capabilities(capabilities)
            .fetch_asset_handler_blocking_fn(move |_client, uri| assets.fetch(&uri))
            .supported_encodings(["json", "text"])
            .services(services::services(&steer))
            .listener(steer.clone())
            .parameter_handler(steer.clone())
            .message_backlog_size(BACKLOG)
            .tokio_runtime(runtime.handle())
            .start_blocking()
            .map_err(|e| LiveError::Listen {
                addr,
                why: e.to_string(),
            })?;
        let addr = SocketAddr::new(addr.ip(), server.port());
        // Said where it listens (port 0 picks one): open it in Foxglove.
        eprintln!("live: Foxglove WebSocket server on ws://{addr}");
        let (tap, rx) = Tap::channel(CAPACITY, run.joints.len(), run.ports.len() + MORE_PORTS);
        let tap = tap.samples_while(steer.samples_wanted.clone());
        let mut channels = channels::Channels::new(ctx, run.joints, run.ports);
        let server = Arc::new(server);
        let publish = server.clone();
        let forwarding = steer.clone();
        let forwarder = std::thread::Builder::new()
            .name("armhil-live".into())
            .spawn(move || forward(rx, &mut channels, &forwarding, &publish))
            .map_err(LiveError::Thread)?;
        if wait {
            eprintln!("live: waiting for a client to subscribe before the run starts");
            steer.wait_for_subscriber();
        }
        Ok(Self {
            tap,
            addr,
            forwarder: Some(forwarder),
            server: Some(server),
            tally,
            runtime: Some(runtime),
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

/// Ports (and named channels) a run can take on beyond the scene's, as the
/// recorder's.
const MORE_PORTS: usize = 32;

/// Logs every record until the run lets go of its tap.
fn forward(
    rx: Receiver<Record>,
    channels: &mut channels::Channels,
    steer: &steer::Steer,
    server: &foxglove::WebSocketServerHandle,
) -> Forwarded {
    let start = std::time::Instant::now();
    crate::runtime::tap::drain(&rx, POLL, |r| {
        if let Record::Event(e) = &r {
            let changed = steer.observe(e);
            if !changed.is_empty() {
                server.publish_parameter_values(changed);
            }
        }
        channels.log(r, start.elapsed().as_secs_f64());
    });
    (channels.counts(), channels.slot_topics())
}

impl Sink for LiveServer {
    fn tap(&self) -> Tap {
        self.tap.clone()
    }

    fn finish(self: Box<Self>) -> Result<SinkReport, SinkError> {
        // The run has ended: nothing sends any more, so the drop counts are final.
        let drops = self.tap.dropped_by_slot();
        let LiveServer {
            tap,
            addr,
            forwarder,
            server,
            tally,
            runtime,
        } = *self;
        drop(tap);
        let (counts, slots) = forwarder.and_then(|f| f.join().ok()).unwrap_or_default();
        // The forwarder has let go of its handle: stop the server, close its clients.
        if let Some(handle) = server.and_then(|s| Arc::try_unwrap(s).ok()) {
            let done = handle.stop();
            if let Some(rt) = &runtime {
                rt.block_on(async { tokio::time::timeout(STOP, done.wait()).await.ok() });
            }
        }
        if let Some(rt) = runtime {
            rt.shutdown_timeout(STOP);
        }
        let dropped = |topic: &str| {
            slots
                .iter()
                .position(|s| s == topic)
                .and_then(|k| drops.get(k))
                .copied()
                .unwrap_or(0)
        };
        Ok(SinkReport::Live(LiveReport {
            address: format!("ws://{addr}"),
            clients: tally.clients.load(Ordering::Relaxed),
            thinned: counts
                .iter()
                .filter(|c| c.2 > 0)
                .map(|(t, _, n)| (t.clone(), *n))
                .collect(),
            channels: counts
                .into_iter()
                .map(|(t, n, _)| {
                    let d = dropped(&t);
                    (t, n, d)
                })
                .collect(),
            commands: tally.commands.load(Ordering::Relaxed),
            refused: tally.refused.load(Ordering::Relaxed),
            started_unix_s: None,
        }))
    }
}

/// How long stopping the server may take (closing its clients' connections).
const STOP: Duration = Duration::from_secs(2);

/// A live server for a run of `scene` on `addr` (for `RunOptions::live_server`);
/// clients' commands go to `control`, the run's control channel. With `wait`, the
/// run starts once a client has subscribed.
pub fn server(
    addr: SocketAddr,
    wait: bool,
    scene: &Scene,
    control: Sender<ControlCommand>,
) -> SinkFactory {
    let scene = scene.clone();
    SinkFactory::new(move |run: &RunInfo| {
        LiveServer::start(addr, wait, &scene, run, control.clone())
            .map(|s| Box::new(s) as Box<dyn Sink>)
            .map_err(Into::into)
    })
}
