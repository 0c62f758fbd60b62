//! The live-session plugin: a [`Session`] as a Bevy resource, refreshed once per app
//! update in [`LiveSystems::Refresh`]. The run itself is on its own thread at its own
//! pace; an update only copies what the run published, so however long a frame takes
//! (a dragged window, a GPU stall), no control period waits for it. The GUI adds its
//! render and panel systems after [`LiveSystems::Refresh`]; tests run the same plugin
//! under `MinimalPlugins`.

use bevy::app::{App, Plugin, PreUpdate};
use bevy::ecs::prelude::*;

use super::session::{Session, SessionOptions};
use crate::scene::Scene;

/// System sets of the live plugin.
#[derive(SystemSet, Debug, Clone, PartialEq, Eq, Hash)]
pub enum LiveSystems {
    /// Take the run's news: snapshot, samples, events.
    Refresh,
}

/// The session the app observes and steers.
#[derive(Resource)]
pub struct LiveSession(pub Session);

/// Starts `scene` on its own thread when the app is built (or plays a recording).
pub struct LivePlugin {
    pub scene: Scene,
    pub options: SessionOptions,
    /// Play this recording back instead of running the scene, from this time (s).
    pub replay: Option<(crate::recording::Recording, f64)>,
}

impl LivePlugin {
    /// A live run of `scene`.
    pub fn run(scene: Scene, options: SessionOptions) -> Self {
        Self {
            scene,
            options,
            replay: None,
        }
    }
}

impl Plugin for LivePlugin {
    fn build(&self, app: &mut App) {
        let session = match &self.replay {
            Some((rec, at)) => {
                let mut s = Session::replay(self.scene.clone(), rec.clone());
                if let Some(r) = s.replay_mut() {
                    r.seek(*at);
                }
                s
            }
            None => Session::start(self.scene.clone(), self.options.clone()),
        };
        app.insert_resource(LiveSession(session))
            .add_systems(PreUpdate, refresh.in_set(LiveSystems::Refresh));
    }
}

fn refresh(mut s: ResMut<LiveSession>) {
    s.0.refresh();
}
