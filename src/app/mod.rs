//! The app shell: a run as something to watch and steer. A [`session::Session`] runs a
//! scene on its own thread(s) and exposes what it publishes (snapshots, a bounded
//! feed of samples and events) and its control channel; [`live::LivePlugin`] puts a
//! session into a Bevy app (the GUI, or `MinimalPlugins` in tests) and refreshes it
//! once per update; [`replay`] is the same surface over a recording. Headless runs do
//! not go through Bevy: they call the runtime directly, and the app never drives time.

pub mod live;
pub mod replay;
pub mod session;
