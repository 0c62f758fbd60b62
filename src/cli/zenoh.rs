//! The Zenoh flags of commands that may run external controllers.

use std::path::PathBuf;

use armhil::runtime::RunOptions;
use armhil::runtime::external::ZenohOptions;

#[derive(clap::Args, Debug, Clone, Default)]
pub(super) struct ZenohArgs {
    /// Zenoh endpoint to listen on for external controllers (repeatable; default
    /// tcp/127.0.0.1:7447: this machine only). Another address exposes the joints'
    /// samples and lets whoever reaches it command them.
    #[arg(long = "zenoh-listen", value_name = "tcp/HOST:PORT", value_parser = endpoint)]
    listen: Vec<String>,
    /// Zenoh endpoint to connect to: a router, or an external service's own listener
    /// on another host (repeatable).
    #[arg(long = "zenoh-connect", value_name = "tcp/HOST:PORT", value_parser = endpoint)]
    connect: Vec<String>,
    /// A Zenoh configuration file (JSON5) to start from; the flags above apply on top.
    #[arg(long = "zenoh-config", value_name = "FILE")]
    config: Option<PathBuf>,
}

impl ZenohArgs {
    pub(super) fn options(&self) -> ZenohOptions {
        let mut o = ZenohOptions::default();
        if !self.listen.is_empty() {
            o.listen = self.listen.clone();
        }
        o.connect = self.connect.clone();
        o.config = self.config.clone();
        o
    }

    /// Options for a campaign's runs: with `external` controllers among them, one
    /// Zenoh session opened now that every run shares (runs one after another then
    /// reuse it instead of each binding the listen endpoint again).
    pub(super) fn run_options(&self, external: bool) -> anyhow::Result<RunOptions> {
        #[cfg_attr(not(feature = "zenoh"), allow(unused_mut))]
        let mut o = RunOptions {
            zenoh: self.options(),
            ..RunOptions::default()
        };
        #[cfg(feature = "zenoh")]
        if external {
            o.zenoh_session = Some(armhil::runtime::external::open(&o.zenoh)?);
        }
        #[cfg(not(feature = "zenoh"))]
        let _ = external;
        Ok(o)
    }
}

/// `tcp/HOST:PORT` with a port in 1..=65535 (the only transport this armhil has).
fn endpoint(s: &str) -> Result<String, String> {
    let rest = s
        .strip_prefix("tcp/")
        .ok_or_else(|| format!("{s:?}: expected tcp/HOST:PORT (TCP is the transport built in)"))?;
    let (host, port) = rest
        .rsplit_once(':')
        .ok_or_else(|| format!("{s:?}: expected tcp/HOST:PORT"))?;
    match port.parse::<u16>() {
        Ok(p) if p > 0 && !host.is_empty() => Ok(s.to_string()),
        _ => Err(format!(
            "{s:?}: port {port:?} is out of range: expected 1 ..= 65535"
        )),
    }
}
