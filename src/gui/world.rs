//! The world in the 3D view (scenes with a `world`): each object drawn as its shape
//! and posed from the latest snapshot, links touching something tinted, and an arrow
//! per contact along its normal, 2 cm per newton (toggled by "forces").

use bevy::prelude::*;

use super::panels::UiState;
use super::view3d::{ArmRoot, LinkLook};
use super::{mesh, style};
use crate::app::live::LiveSession;

/// An object's entity.
#[derive(Component)]
pub struct ObjectVisual {
    pub object: usize,
}

/// Spawns the objects under the arm's root (after the arm is set up).
pub fn setup(
    mut commands: Commands,
    mut meshes: ResMut<Assets<Mesh>>,
    mut materials: ResMut<Assets<StandardMaterial>>,
    session: Res<LiveSession>,
    root: Query<Entity, With<ArmRoot>>,
) {
    let Some(world) = &session.0.scene.world else {
        return;
    };
    let Ok(root) = root.single() else { return };
    for (k, o) in world.objects.iter().enumerate() {
        let (m, turn) = mesh::shape(&o.shape);
        let material = materials.add(StandardMaterial {
            base_color: if o.fixed {
                style::FIXED_OBJECT
            } else {
                style::OBJECT
            },
            perceptual_roughness: 0.8,
            ..default()
        });
        let entity = commands
            .spawn((
                ObjectVisual { object: k },
                Transform::from_translation(Vec3::new(
                    o.pose.xyz[0] as f32,
                    o.pose.xyz[1] as f32,
                    o.pose.xyz[2] as f32,
                )),
                Visibility::default(),
                ChildOf(root),
            ))
            .id();
        commands.spawn((
            Mesh3d(meshes.add(m)),
            MeshMaterial3d(material),
            Transform::from_rotation(turn),
            ChildOf(entity),
        ));
    }
}

/// Poses the objects; tints links in contact.
pub fn update(
    session: Res<LiveSession>,
    mut objects: Query<(&ObjectVisual, &mut Transform)>,
    look: Res<LinkLook>,
    mut materials: ResMut<Assets<StandardMaterial>>,
) {
    let snap = &session.0.snapshot;
    for (ov, mut t) in objects.iter_mut() {
        if let Some((p, q)) = snap.objects.get(ov.object) {
            t.translation = Vec3::from(*p);
            t.rotation = Quat::from_array(*q);
        }
    }
    if session.0.scene.world.is_none() {
        return;
    }
    for (li, handle) in look.materials.iter().enumerate() {
        let touching = snap.touching.contains(&li);
        if let Some(mut m) = materials.get_mut(handle) {
            let base = match look.joint.get(li).copied().flatten() {
                Some(j) => snap
                    .joints
                    .get(j)
                    .map_or(style::BASE, |j| style::color(j.state)),
                None => style::BASE,
            };
            let want = if touching {
                base.mix(&style::CONTACT, 0.6)
            } else {
                base
            };
            if m.base_color != want {
                m.base_color = want;
            }
        }
    }
}

/// An arrow per contact, along its normal, 2 cm per newton (at most 30 cm).
pub fn forces(mut g: Gizmos, ui: Res<UiState>, session: Res<LiveSession>) {
    if !ui.show_forces {
        return;
    }
    // z-up → y-up, as the arm's root turns it.
    let r = Quat::from_rotation_x(-std::f32::consts::FRAC_PI_2);
    for (p, n, f) in &session.0.snapshot.contacts {
        let start = r * Vec3::from(*p);
        let len = (f * 0.02).min(0.3);
        if len <= 1e-4 {
            continue;
        }
        g.arrow(start, start - r * Vec3::from(*n) * len, style::CONTACT);
    }
}
