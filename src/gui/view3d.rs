//! The 3D view: the arm's links posed from the latest snapshot and coloured by the
//! state of the joint that moves them, a ground grid, optional joint axes and link
//! frames, and an orbit camera (left drag: orbit, right/middle drag: pan, wheel:
//! zoom) that renders into the part of the window the panels leave free.
//!
//! The scene is z-up (URDF/ROS); bevy is y-up: every link hangs under one root entity
//! that turns z-up into y-up, so link poses are copied as they come.

use bevy::camera::visibility::RenderLayers;
use bevy::camera::{CameraOutputMode, Viewport};
use bevy::input::mouse::AccumulatedMouseScroll;
use bevy::prelude::*;
use bevy::render::render_resource::BlendState;
use bevy::window::PrimaryWindow;
use bevy_egui::{EguiGlobalSettings, PrimaryEguiContext};

use super::panels::UiState;
use super::{mesh, style};
use crate::app::live::LiveSession;
use crate::report::JointHealth;
use crate::scene::{OriginSpec, Scene};

/// Parent of every link: turns the scene's z-up into bevy's y-up.
#[derive(Component)]
pub struct ArmRoot;

/// A link's entity (its children carry the visuals).
#[derive(Component)]
pub struct LinkVisual {
    pub link: usize,
}

/// The 3D camera.
#[derive(Component)]
pub struct ViewCamera;

/// Orbit camera state, in bevy (y-up) coordinates.
#[derive(Resource, Debug, Clone)]
pub struct Orbit {
    pub target: Vec3,
    /// Radians about the vertical axis, and above the horizon.
    pub yaw: f32,
    pub pitch: f32,
    /// m from the target.
    pub distance: f32,
    /// Size of the arm, m (grid spacing, gizmo lengths).
    pub scale: f32,
    /// Fitted to the arm's first snapshot yet.
    pub fitted: bool,
}

impl Orbit {
    fn transform(&self) -> Transform {
        let dir = Vec3::new(
            self.pitch.cos() * self.yaw.sin(),
            self.pitch.sin(),
            self.pitch.cos() * self.yaw.cos(),
        );
        Transform::from_translation(self.target + dir * self.distance)
            .looking_at(self.target, Vec3::Y)
    }
}

/// Per link: its material and the index of the joint whose state colours it.
#[derive(Resource, Default)]
pub struct LinkLook {
    pub materials: Vec<Handle<StandardMaterial>>,
    pub joint: Vec<Option<usize>>,
    pub shown: Vec<Option<JointHealth>>,
}

/// z-up → y-up.
fn root_rotation() -> Quat {
    Quat::from_rotation_x(-std::f32::consts::FRAC_PI_2)
}

fn origin_transform(o: &OriginSpec) -> Transform {
    Transform {
        translation: Vec3::new(o.xyz[0] as f32, o.xyz[1] as f32, o.xyz[2] as f32),
        rotation: Quat::from_euler(
            EulerRot::ZYX,
            o.rpy[2] as f32,
            o.rpy[1] as f32,
            o.rpy[0] as f32,
        ),
        scale: Vec3::ONE,
    }
}

/// The actuated joint (index into `scene.joints`) that moves link `li`: the joint
/// whose child it is, or, behind fixed joints, the nearest actuated one towards the
/// base.
fn joint_of_link(scene: &Scene, li: usize) -> Option<usize> {
    let mut cur = li;
    for _ in 0..scene.arm.links.len() {
        let (ki, kj) = scene
            .arm
            .joints
            .iter()
            .enumerate()
            .find(|(_, j)| j.child == cur)?;
        if let Some(k) = scene.joints.iter().position(|c| c.kin == ki) {
            return Some(k);
        }
        cur = kj.parent;
    }
    None
}

pub fn setup(
    mut commands: Commands,
    mut meshes: ResMut<Assets<Mesh>>,
    mut materials: ResMut<Assets<StandardMaterial>>,
    mut egui_settings: ResMut<EguiGlobalSettings>,
    session: Res<LiveSession>,
    mut ui: ResMut<UiState>,
) {
    let scene = &session.0.scene;
    // The panels get a camera of their own (drawn over the 3D view, which renders
    // only into the free part of the window).
    egui_settings.auto_create_primary_context = false;
    commands.spawn((
        PrimaryEguiContext,
        Camera2d,
        RenderLayers::none(),
        Camera {
            order: 1,
            output_mode: CameraOutputMode::Write {
                blend_state: Some(BlendState::ALPHA_BLENDING),
                clear_color: ClearColorConfig::None,
            },
            clear_color: ClearColorConfig::Custom(Color::NONE),
            ..default()
        },
    ));
    commands.insert_resource(GlobalAmbientLight {
        color: Color::WHITE,
        brightness: 600.0,
        ..default()
    });
    commands.spawn((
        DirectionalLight {
            illuminance: 9_000.0,
            shadow_maps_enabled: false,
            ..default()
        },
        Transform::from_xyz(2.0, 4.0, 3.0).looking_at(Vec3::ZERO, Vec3::Y),
    ));
    commands.spawn((
        DirectionalLight {
            illuminance: 2_500.0,
            shadow_maps_enabled: false,
            ..default()
        },
        Transform::from_xyz(-3.0, 1.0, -2.0).looking_at(Vec3::ZERO, Vec3::Y),
    ));
    let orbit = Orbit {
        target: Vec3::new(0.0, 0.2, 0.0),
        yaw: 0.75,
        pitch: 0.35,
        distance: 1.2,
        scale: 0.5,
        fitted: false,
    };
    commands.spawn((Camera3d::default(), ViewCamera, orbit.transform()));
    commands.insert_resource(orbit);

    let root = commands
        .spawn((
            ArmRoot,
            Transform::from_rotation(root_rotation()),
            Visibility::default(),
        ))
        .id();
    let mut look = LinkLook::default();
    let mut loaded = 0;
    for (li, link) in scene.arm.links.iter().enumerate() {
        let joint = joint_of_link(scene, li);
        let base = if joint.is_some() {
            style::color(JointHealth::Ok)
        } else {
            style::BASE
        };
        let material = materials.add(StandardMaterial {
            base_color: base,
            perceptual_roughness: 0.6,
            metallic: 0.1,
            ..default()
        });
        let entity = commands
            .spawn((
                LinkVisual { link: li },
                Transform::default(),
                Visibility::default(),
                ChildOf(root),
            ))
            .id();
        let mut shown = false;
        for (path, origin, scale) in &link.meshes {
            match mesh::load_stl(path, *scale) {
                Ok(m) => {
                    commands.spawn((
                        Mesh3d(meshes.add(m)),
                        MeshMaterial3d(material.clone()),
                        origin_transform(origin),
                        ChildOf(entity),
                    ));
                    shown = true;
                    loaded += 1;
                }
                Err(e) => ui.problems.push(format!("link '{}': {e}", link.name)),
            }
        }
        if !shown && let Some(s) = &link.shape {
            let (m, turn) = mesh::shape(s);
            let mut t = origin_transform(&link.shape_origin);
            t.rotation *= turn;
            commands.spawn((
                Mesh3d(meshes.add(m)),
                MeshMaterial3d(material.clone()),
                t,
                ChildOf(entity),
            ));
        }
        look.materials.push(material);
        look.joint.push(joint);
        look.shown.push(None);
    }
    commands.insert_resource(look);
    let wanted: usize = scene.arm.links.iter().map(|l| l.meshes.len()).sum();
    if wanted > 0 {
        eprintln!("gui: link meshes: {loaded} of {wanted} loaded");
    }
    for p in &ui.problems {
        eprintln!("gui: {p}");
    }
}

/// Poses and colours the links from the latest snapshot; fits the camera once.
pub fn update_arm(
    session: Res<LiveSession>,
    mut links: Query<(&LinkVisual, &mut Transform)>,
    mut look: ResMut<LinkLook>,
    mut materials: ResMut<Assets<StandardMaterial>>,
    mut orbit: ResMut<Orbit>,
) {
    let snap = &session.0.snapshot;
    let scene = &session.0.scene;
    if snap.links.len() != scene.arm.links.len() {
        return;
    }
    for (lv, mut t) in links.iter_mut() {
        let (p, q) = snap.links[lv.link];
        t.translation = Vec3::from(p);
        t.rotation = Quat::from_array(q);
    }
    let look = &mut *look;
    for li in 0..look.materials.len() {
        let Some(j) = look.joint[li] else { continue };
        let Some(state) = snap.joints.get(j).map(|j| j.state) else {
            continue;
        };
        if look.shown[li] != Some(state)
            && let Some(mut m) = materials.get_mut(&look.materials[li])
        {
            m.base_color = style::color(state);
            look.shown[li] = Some(state);
        }
    }
    if !orbit.fitted {
        orbit.fitted = true;
        // Frame every link origin (in y-up coordinates) with some margin.
        let r = root_rotation();
        let pts: Vec<Vec3> = snap.links.iter().map(|(p, _)| r * Vec3::from(*p)).collect();
        let lo = pts.iter().fold(Vec3::splat(f32::MAX), |a, p| a.min(*p));
        let hi = pts.iter().fold(Vec3::splat(f32::MIN), |a, p| a.max(*p));
        let size = (hi - lo).max_element().max(0.15);
        orbit.target = (lo + hi) / 2.0;
        orbit.distance = size * 2.6;
        orbit.scale = size;
    }
}

/// Ground grid, link frames and joint axes.
pub fn gizmos(
    mut g: Gizmos,
    ui: Res<UiState>,
    orbit: Res<Orbit>,
    session: Res<LiveSession>,
    links: Query<(&LinkVisual, &GlobalTransform)>,
) {
    let cell = if orbit.scale > 0.6 { 0.1 } else { 0.05 };
    g.grid(
        Isometry3d::new(
            Vec3::ZERO,
            Quat::from_rotation_x(std::f32::consts::FRAC_PI_2),
        ),
        UVec2::splat(24),
        Vec2::splat(cell),
        Color::srgba(0.7, 0.75, 0.8, 0.25),
    );
    if !ui.show_frames && !ui.show_axes {
        return;
    }
    let scene = &session.0.scene;
    let mut world = vec![None; scene.arm.links.len()];
    for (lv, gt) in links.iter() {
        if let Some(w) = world.get_mut(lv.link) {
            *w = Some(*gt);
        }
    }
    let len = orbit.scale * 0.2;
    if ui.show_frames {
        for gt in world.iter().flatten() {
            g.axes(*gt, len);
        }
    }
    if ui.show_axes {
        for (k, c) in scene.joints.iter().enumerate() {
            let kj = &scene.arm.joints[c.kin];
            let Some(parent) = world.get(kj.parent).copied().flatten() else {
                continue;
            };
            let frame = parent.mul_transform(origin_transform(&kj.origin));
            let axis = Vec3::new(kj.axis[0] as f32, kj.axis[1] as f32, kj.axis[2] as f32);
            let start = frame.translation();
            let dir = frame.affine().transform_vector3(axis).normalize_or_zero();
            let state = session
                .0
                .snapshot
                .joints
                .get(k)
                .map_or(JointHealth::Ok, |j| j.state);
            g.arrow(
                start - dir * len,
                start + dir * len * 1.5,
                style::color(state),
            );
        }
    }
}

/// Mouse orbit, pan and zoom, when the pointer is over the 3D view.
pub fn orbit(
    buttons: Res<ButtonInput<MouseButton>>,
    scroll: Res<AccumulatedMouseScroll>,
    window: Query<&Window, With<PrimaryWindow>>,
    ui: Res<UiState>,
    mut orbit: ResMut<Orbit>,
    mut last_cursor: Local<Option<Vec2>>,
    mut cam: Query<&mut Transform, With<ViewCamera>>,
) {
    let cursor = window.single().ok().and_then(|w| w.cursor_position());
    let over_view = cursor
        .zip(ui.view_rect)
        .is_some_and(|(c, r)| r.contains(bevy_egui::egui::pos2(c.x, c.y)));
    // Motion from the cursor's own movement, not raw device motion: raw motion is
    // missing over remote desktops, VNC and virtual X servers.
    let d = match (cursor, *last_cursor) {
        (Some(c), Some(l)) => c - l,
        _ => Vec2::ZERO,
    };
    *last_cursor = cursor;
    if over_view || ui.dragging_view {
        if buttons.pressed(MouseButton::Left) {
            orbit.yaw -= d.x * 0.008;
            orbit.pitch = (orbit.pitch + d.y * 0.008).clamp(-1.5, 1.5);
        } else if buttons.pressed(MouseButton::Right) || buttons.pressed(MouseButton::Middle) {
            let t = orbit.transform();
            let k = orbit.distance * 0.0015;
            // Grab semantics: the arm follows the pointer (tested by a real drag).
            let shift = (t.right() * d.x - t.up() * d.y) * k;
            orbit.target += shift;
        }
        if over_view && scroll.delta.y != 0.0 {
            let f = (1.0 - scroll.delta.y.clamp(-5.0, 5.0) * 0.1).clamp(0.5, 1.5);
            orbit.distance = (orbit.distance * f).clamp(0.05, 50.0);
        }
    }
    if let Ok(mut t) = cam.single_mut() {
        *t = orbit.transform();
    }
}

/// Renders the 3D camera into the rectangle the panels leave free.
pub fn fit_viewport(
    ui: Res<UiState>,
    window: Query<&Window, With<PrimaryWindow>>,
    mut cam: Query<&mut Camera, With<ViewCamera>>,
) {
    let (Some(r), Ok(w), Ok(mut cam)) = (ui.view_rect, window.single(), cam.single_mut()) else {
        return;
    };
    let s = w.scale_factor();
    let pos = UVec2::new((r.min.x * s).max(0.0) as u32, (r.min.y * s).max(0.0) as u32);
    let max = UVec2::new(w.physical_width(), w.physical_height());
    let size = UVec2::new((r.width() * s) as u32, (r.height() * s) as u32)
        .min(max.saturating_sub(pos))
        .max(UVec2::ONE);
    cam.viewport = Some(Viewport {
        physical_position: pos,
        physical_size: size,
        ..default()
    });
}
