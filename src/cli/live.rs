//! `--live [ADDR]`: the run served live to Foxglove (and any client of Foxglove's
//! WebSocket protocol), on loopback unless `--live-remote` says otherwise.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use armhil::runtime::command::ControlCommand;
use armhil::runtime::tap::SinkFactory;
use armhil::scene::Scene;
use crossbeam::channel::Sender;

use super::BadInput;

#[derive(clap::Args, Debug, Clone, Default)]
pub(super) struct LiveArgs {
    /// Serve the run live to Foxglove (its WebSocket protocol) on ADDR: HOST:PORT or
    /// PORT (default 127.0.0.1:8765; port 0: any free port, printed). Channels
    /// `/joint_states`, `/tf`, `/arm/shapes`, `/events`, `/joints/<name>`,
    /// `/bus/<port>`; clients may publish commands and set gains and pace as
    /// parameters: whoever reaches the port steers the run.
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = "127.0.0.1:8765", value_parser = addr)]
    pub(super) live: Option<SocketAddr>,
    /// Let --live listen on an address other than loopback (anyone who can reach it
    /// can steer the run: e-stop, faults, swaps, gains).
    #[arg(long, requires = "live")]
    pub(super) live_remote: bool,
    /// Start the run only once a client has subscribed to a channel (it is seen from
    /// simulated time 0).
    #[arg(long, requires = "live")]
    pub(super) live_wait: bool,
}

/// `HOST:PORT` (an IP address) or a bare `PORT` on 127.0.0.1.
fn addr(s: &str) -> Result<SocketAddr, String> {
    if let Ok(port) = s.parse::<u16>() {
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    }
    s.parse().map_err(|_| {
        format!(
            "{s:?}: expected HOST:PORT (an IP address, e.g. 127.0.0.1:8765) or a port 0 ..= 65535"
        )
    })
}

impl LiveArgs {
    /// The address to serve on, if any: loopback, or anything with `--live-remote`.
    pub(super) fn addr(&self) -> Result<Option<SocketAddr>, BadInput> {
        match self.live {
            Some(_) if !cfg!(feature = "live") => Err(BadInput(
                "--live: this armhil was built without the `live` feature; rebuild with default features".into(),
            )),
            Some(a) if !a.ip().is_loopback() && !self.live_remote => Err(BadInput(format!(
                "--live {a}: not a loopback address; anyone who reaches it can steer the run, so add --live-remote to mean it"
            ))),
            a => Ok(a),
        }
    }

    /// The live server's sink for a run of `scene` steered through `control`.
    pub(super) fn sink(
        &self,
        scene: &Scene,
        control: &Sender<ControlCommand>,
    ) -> Result<Option<SinkFactory>, BadInput> {
        #[cfg(feature = "live")]
        return Ok(self
            .addr()?
            .map(|a| armhil::telemetry::live::server(a, self.live_wait, scene, control.clone())));
        #[cfg(not(feature = "live"))]
        {
            let _ = (scene, control);
            self.addr().map(|_| None)
        }
    }
}
