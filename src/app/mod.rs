//! The Bevy app shell. The same [`SimPlugin`] runs headless (with `MinimalPlugins`,
//! no rendering) and, later, under the GUI's render plugins. It owns the simulation
//! resource and exports [`SimSystems`]: `Step` advances the lockstep simulation by a
//! batch of physics steps per app update (the batch size is a setting, chosen by
//! measurement: see BENCHMARKS.md), `Publish` copies a [`Snapshot`] that renderers and
//! panels read. Nothing outside `Step` ever drives simulated time.

pub mod live;
pub mod replay;
pub mod session;

use std::sync::Mutex;

use bevy::app::{App, Plugin, Update};
use bevy::ecs::prelude::*;

use crate::runtime::{Lockstep, RunOptions};
use crate::scene::Scene;
use crate::telemetry::{JointHealth, Report};

/// System sets of the simulation plugin, in order.
#[derive(SystemSet, Debug, Clone, PartialEq, Eq, Hash)]
pub enum SimSystems {
    /// Advance the simulation.
    Step,
    /// Publish the snapshot.
    Publish,
}

/// The running simulation. Behind a mutex because joint controllers are `Send` but
/// not `Sync`; only the `Step` system locks it.
#[derive(Resource)]
pub struct Sim {
    pub scene: Scene,
    sim: Mutex<Option<Lockstep>>,
    /// Physics steps per app update.
    pub steps_per_update: u32,
    /// Total steps of the run.
    pub total_steps: u64,
    /// The final report once the run has ended.
    pub report: Option<Report>,
    /// Why the simulation could not start, if it could not.
    pub start_error: Option<String>,
}

/// One joint in a snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct JointSnapshot {
    pub name: String,
    pub health: JointHealth,
    /// Setpoint and true position, rad (or m).
    pub setpoint: f64,
    pub position: f64,
    /// Torque delivered last step, N·m.
    pub torque: f64,
    pub deadline_misses: u64,
}

/// What renderers and panels read: copied once per update.
#[derive(Resource, Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// Simulated time, s.
    pub t: f64,
    pub steps: u64,
    pub joints: Vec<JointSnapshot>,
    /// World pose of every link body: translation, rotation quaternion (x, y, z, w).
    pub links: Vec<([f32; 3], [f32; 4])>,
    pub finished: bool,
}

/// Adds the simulation of one scene to an app.
pub struct SimPlugin {
    pub scene: Scene,
    pub options: RunOptions,
    /// Physics steps per app update.
    pub steps_per_update: u32,
}

impl Plugin for SimPlugin {
    fn build(&self, app: &mut App) {
        let duration = self.options.duration_s.unwrap_or(self.scene.duration_s);
        let total_steps = (duration * self.scene.physics.rate_hz).round() as u64;
        let (sim, start_error) = match Lockstep::new(&self.scene, &self.options) {
            Ok(s) => (Some(s), None),
            Err(e) => (None, Some(format!("cannot start the simulation: {e}"))),
        };
        app.insert_resource(Sim {
            scene: self.scene.clone(),
            sim: Mutex::new(sim),
            steps_per_update: self.steps_per_update.max(1),
            total_steps,
            report: None,
            start_error,
        })
        .init_resource::<Snapshot>()
        .configure_sets(Update, (SimSystems::Step, SimSystems::Publish).chain())
        .add_systems(Update, step_sim.in_set(SimSystems::Step))
        .add_systems(Update, publish_snapshot.in_set(SimSystems::Publish));
    }
}

fn step_sim(mut sim: ResMut<Sim>) {
    let sim = &mut *sim;
    let Ok(mut guard) = sim.sim.lock() else {
        return;
    };
    let Some(ls) = guard.as_mut() else { return };
    for _ in 0..sim.steps_per_update {
        if ls.plant.steps >= sim.total_steps || !ls.step() {
            break;
        }
    }
    if (ls.plant.steps >= sim.total_steps || ls.aborted.is_some())
        && let Some(done) = guard.take()
    {
        sim.report = Some(done.finish(&sim.scene));
    }
}

fn publish_snapshot(sim: Res<Sim>, mut snap: ResMut<Snapshot>) {
    let Ok(guard) = sim.sim.lock() else { return };
    let Some(ls) = guard.as_ref() else {
        snap.finished = true;
        if let Some(r) = &sim.report {
            snap.t = r.sim_time_s;
            snap.steps = r.steps;
            for (j, jr) in snap.joints.iter_mut().zip(&r.joints) {
                j.health = jr.state;
            }
        }
        return;
    };
    let p = &ls.plant;
    snap.t = p.t;
    snap.steps = p.steps;
    snap.joints = p
        .joints
        .iter()
        .enumerate()
        .map(|(i, j)| JointSnapshot {
            name: j.name.clone(),
            health: j.health,
            setpoint: p.traj.sample(i, p.t).pos,
            position: p.world.joint_state(i).pos,
            torque: j.delivered,
            deadline_misses: j.stats.deadline_misses,
        })
        .collect();
    snap.links = p.world.link_poses();
}
