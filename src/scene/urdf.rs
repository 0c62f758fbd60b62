//! URDF import: links (mass, inertia, centre of mass, visual meshes) and joints
//! (revolute, continuous, prismatic, fixed; origin, axis, limits, effort, velocity,
//! damping, friction), and collision geometry (box, cylinder, sphere, or a mesh, which
//! collides as its convex hull; used when the scene has a `world`). Read with
//! `roxmltree`.

use std::path::{Path, PathBuf};

use super::schema::{JointKind, OriginSpec, ShapeSpec};
use crate::physics::spec::{ColliderGeom, LinkCollider};

/// A link as the URDF states it.
#[derive(Debug, Clone)]
pub struct UrdfLink {
    pub name: String,
    pub mass: f64,
    /// Inertial origin (centre of mass and inertia axes) in the link frame.
    pub inertial_origin: OriginSpec,
    /// ixx, iyy, izz, ixy, ixz, iyz in the inertial frame.
    pub inertia: [f64; 6],
    /// Visual meshes: absolute path, origin, scale.
    pub meshes: Vec<(PathBuf, OriginSpec, [f64; 3])>,
    /// `<collision>` elements.
    pub colliders: Vec<LinkCollider>,
}

/// A joint as the URDF states it.
#[derive(Debug, Clone)]
pub struct UrdfJoint {
    pub name: String,
    pub kind: JointKind,
    /// `true` for URDF `continuous` (revolute without limits).
    pub continuous: bool,
    pub parent: String,
    pub child: String,
    pub origin: OriginSpec,
    pub axis: [f64; 3],
    pub lower: f64,
    pub upper: f64,
    /// `<limit effort>`, N·m or N (0 when absent).
    pub effort: f64,
    /// `<limit velocity>`, rad/s or m/s (0 when absent).
    pub velocity: f64,
    /// `<dynamics damping friction>`.
    pub damping: f64,
    pub friction: f64,
}

/// A parsed robot.
#[derive(Debug, Clone)]
pub struct UrdfRobot {
    pub name: String,
    pub links: Vec<UrdfLink>,
    pub joints: Vec<UrdfJoint>,
}

/// Parses URDF text. `path` resolves relative mesh paths and names errors.
pub fn parse(path: &Path, text: &str) -> Result<UrdfRobot, String> {
    let doc = roxmltree::Document::parse(text).map_err(|e| format!("XML: {e}"))?;
    let robot = doc.root_element();
    if robot.tag_name().name() != "robot" {
        return Err(format!(
            "root element is <{}>, expected <robot>",
            robot.tag_name().name()
        ));
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut out = UrdfRobot {
        name: robot.attribute("name").unwrap_or("robot").to_string(),
        links: Vec::new(),
        joints: Vec::new(),
    };
    for node in robot.children().filter(|n| n.is_element()) {
        match node.tag_name().name() {
            "link" => out.links.push(parse_link(node, dir)?),
            "joint" => out.joints.push(parse_joint(node)?),
            _ => {}
        }
    }
    Ok(out)
}

fn child<'a, 'i>(n: roxmltree::Node<'a, 'i>, tag: &str) -> Option<roxmltree::Node<'a, 'i>> {
    n.children()
        .find(|c| c.is_element() && c.tag_name().name() == tag)
}

fn num(n: roxmltree::Node, attr: &str, what: &str) -> Result<f64, String> {
    match n.attribute(attr) {
        None => Ok(0.0),
        Some(s) => s
            .trim()
            .parse::<f64>()
            .map_err(|_| format!("{what}: attribute {attr}=\"{s}\" is not a number")),
    }
}

fn vec3(s: Option<&str>, default: [f64; 3], what: &str) -> Result<[f64; 3], String> {
    let Some(s) = s else { return Ok(default) };
    let parts: Vec<&str> = s.split_whitespace().collect();
    if parts.len() != 3 {
        return Err(format!("{what}: \"{s}\" needs 3 numbers"));
    }
    let mut v = [0.0; 3];
    for (i, p) in parts.iter().enumerate() {
        v[i] = p
            .parse::<f64>()
            .map_err(|_| format!("{what}: \"{s}\" is not 3 numbers"))?;
    }
    Ok(v)
}

fn origin(n: roxmltree::Node, what: &str) -> Result<OriginSpec, String> {
    match child(n, "origin") {
        None => Ok(OriginSpec::default()),
        Some(o) => Ok(OriginSpec {
            xyz: vec3(o.attribute("xyz"), [0.0; 3], &format!("{what} origin xyz"))?,
            rpy: vec3(o.attribute("rpy"), [0.0; 3], &format!("{what} origin rpy"))?,
        }),
    }
}

fn parse_link(n: roxmltree::Node, dir: &Path) -> Result<UrdfLink, String> {
    let name = n
        .attribute("name")
        .ok_or("a <link> has no name attribute")?
        .to_string();
    let what = format!("link \"{name}\"");
    let mut link = UrdfLink {
        name: name.clone(),
        mass: 0.0,
        inertial_origin: OriginSpec::default(),
        inertia: [0.0; 6],
        meshes: Vec::new(),
        colliders: Vec::new(),
    };
    if let Some(inertial) = child(n, "inertial") {
        link.inertial_origin = origin(inertial, &what)?;
        if let Some(m) = child(inertial, "mass") {
            link.mass = num(m, "value", &format!("{what} mass"))?;
        }
        if let Some(i) = child(inertial, "inertia") {
            let w = format!("{what} inertia");
            link.inertia = [
                num(i, "ixx", &w)?,
                num(i, "iyy", &w)?,
                num(i, "izz", &w)?,
                num(i, "ixy", &w)?,
                num(i, "ixz", &w)?,
                num(i, "iyz", &w)?,
            ];
        }
    }
    for visual in n
        .children()
        .filter(|c| c.is_element() && c.tag_name().name() == "visual")
    {
        let vo = origin(visual, &what)?;
        if let Some(mesh) = child(visual, "geometry").and_then(|g| child(g, "mesh"))
            && let Some(file) = mesh.attribute("filename")
        {
            let rel = mesh_path(file);
            let scale = vec3(
                mesh.attribute("scale"),
                [1.0; 3],
                &format!("{what} mesh scale"),
            )?;
            link.meshes.push((dir.join(rel), vo, scale));
        }
    }
    for collision in n
        .children()
        .filter(|c| c.is_element() && c.tag_name().name() == "collision")
    {
        let origin = origin(collision, &what)?;
        let Some(g) =
            child(collision, "geometry").and_then(|g| g.children().find(|c| c.is_element()))
        else {
            continue;
        };
        let w = format!("{what} collision {}", g.tag_name().name());
        let positive = |attr: &str| -> Result<f64, String> {
            let v = num(g, attr, &w)?;
            if v > 0.0 {
                Ok(v)
            } else {
                Err(format!("{w}: {attr}=\"{v}\" must be > 0"))
            }
        };
        let geom = match g.tag_name().name() {
            "box" => {
                let size = vec3(g.attribute("size"), [0.0; 3], &w)?;
                if size.iter().any(|v| *v <= 0.0) {
                    return Err(format!("{w}: size needs 3 numbers > 0"));
                }
                ColliderGeom::Shape(ShapeSpec::Box { size })
            }
            "cylinder" => ColliderGeom::Shape(ShapeSpec::Cylinder {
                radius: positive("radius")?,
                length: positive("length")?,
            }),
            "sphere" => ColliderGeom::Shape(ShapeSpec::Sphere {
                radius: positive("radius")?,
            }),
            "mesh" => {
                let Some(file) = g.attribute("filename") else {
                    return Err(format!("{w}: no filename"));
                };
                ColliderGeom::Mesh {
                    file: dir.join(mesh_path(file)),
                    scale: vec3(g.attribute("scale"), [1.0; 3], &format!("{w} scale"))?,
                }
            }
            other => return Err(format!("{w}: <{other}> is not a URDF geometry")),
        };
        link.colliders.push(LinkCollider { geom, origin });
    }
    Ok(link)
}

/// A mesh filename relative to the URDF's directory (`package://PKG/` stripped).
fn mesh_path(file: &str) -> &str {
    file.strip_prefix("package://")
        .map(|s| s.split_once('/').map_or(s, |(_, r)| r))
        .unwrap_or(file)
}

fn parse_joint(n: roxmltree::Node) -> Result<UrdfJoint, String> {
    let name = n
        .attribute("name")
        .ok_or("a <joint> has no name attribute")?
        .to_string();
    let what = format!("joint \"{name}\"");
    let ty = n.attribute("type").unwrap_or("");
    let (kind, continuous) = match ty {
        "revolute" => (JointKind::Revolute, false),
        "continuous" => (JointKind::Revolute, true),
        "prismatic" => (JointKind::Prismatic, false),
        "fixed" => (JointKind::Fixed, false),
        other => {
            return Err(format!(
                "{what}: type \"{other}\" is not supported (expected revolute, continuous, prismatic or fixed)"
            ));
        }
    };
    let link_of = |tag: &str| -> Result<String, String> {
        child(n, tag)
            .and_then(|c| c.attribute("link"))
            .map(str::to_string)
            .ok_or(format!("{what}: missing <{tag} link=...>"))
    };
    let mut j = UrdfJoint {
        name: name.clone(),
        kind,
        continuous,
        parent: link_of("parent")?,
        child: link_of("child")?,
        origin: origin(n, &what)?,
        axis: vec3(
            child(n, "axis").and_then(|a| a.attribute("xyz")),
            [1.0, 0.0, 0.0],
            &format!("{what} axis"),
        )?,
        lower: 0.0,
        upper: 0.0,
        effort: 0.0,
        velocity: 0.0,
        damping: 0.0,
        friction: 0.0,
    };
    if let Some(l) = child(n, "limit") {
        let w = format!("{what} limit");
        j.lower = num(l, "lower", &w)?;
        j.upper = num(l, "upper", &w)?;
        j.effort = num(l, "effort", &w)?;
        j.velocity = num(l, "velocity", &w)?;
    } else if kind != JointKind::Fixed && !continuous {
        return Err(format!("{what}: a {ty} joint needs a <limit>"));
    }
    if let Some(d) = child(n, "dynamics") {
        let w = format!("{what} dynamics");
        j.damping = num(d, "damping", &w)?;
        j.friction = num(d, "friction", &w)?;
    }
    Ok(j)
}
