//! The live server's assets (Foxglove's `fetchAsset`): the scene's URDF, as
//! [`URDF_URI`], for a 3D panel's URDF layer, and the mesh files its links use,
//! asked for by any URI that ends in the mesh's file name (`package://so101/
//! assets/base.stl`, a path relative to the URDF, ...), the way the URDF names them.
//! Nothing else is served: a client never reads other files of this machine.

use std::path::PathBuf;

use crate::scene::Scene;

/// Where the scene's URDF is served.
pub const URDF_URI: &str = "package://armhil/robot.urdf";

/// The files a client may fetch.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Assets {
    urdf: Option<PathBuf>,
    meshes: Vec<PathBuf>,
}

impl Assets {
    pub fn of(scene: &Scene) -> Self {
        let mut meshes: Vec<PathBuf> = scene
            .arm
            .links
            .iter()
            .flat_map(|l| l.meshes.iter().map(|(p, _, _)| p.clone()))
            .collect();
        meshes.sort();
        meshes.dedup();
        Self {
            urdf: scene.arm.urdf.clone(),
            meshes,
        }
    }

    /// Whether there is anything to serve.
    pub fn is_empty(&self) -> bool {
        self.urdf.is_none() && self.meshes.is_empty()
    }

    /// The file `uri` names, or why not.
    pub fn path(&self, uri: &str) -> Result<&PathBuf, String> {
        if uri == URDF_URI {
            return self
                .urdf
                .as_ref()
                .ok_or_else(|| format!("{uri}: this scene's arm is not from a URDF"));
        }
        let name = uri.rsplit('/').next().unwrap_or(uri);
        self.meshes
            .iter()
            .find(|p| !name.is_empty() && p.file_name().is_some_and(|f| f == name))
            .ok_or_else(|| {
                format!(
                    "{uri}: not an asset of this scene (its URDF at {URDF_URI} and its link meshes)"
                )
            })
    }

    /// The bytes of the file `uri` names.
    pub fn fetch(&self, uri: &str) -> Result<Vec<u8>, String> {
        let path = self.path(uri)?;
        std::fs::read(path).map_err(|e| format!("{uri}: {}: {e}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_urdf_and_the_links_meshes_are_served() {
        let a = Assets {
            urdf: Some("/models/so101/so101.urdf".into()),
            meshes: vec!["/models/so101/assets/base.stl".into()],
        };
        assert_eq!(
            a.path(URDF_URI),
            Ok(&PathBuf::from("/models/so101/so101.urdf"))
        );
        for uri in [
            "package://so101/assets/base.stl",
            "assets/base.stl",
            "file:///anything/base.stl",
        ] {
            assert_eq!(
                a.path(uri),
                Ok(&PathBuf::from("/models/so101/assets/base.stl")),
                "{uri}"
            );
        }
        for uri in [
            "/etc/passwd",
            "package://so101/assets/../../../etc/passwd",
            "package://so101/assets/",
            "",
        ] {
            assert!(a.path(uri).is_err(), "{uri}");
        }
        let inline = Assets::default();
        assert!(inline.is_empty());
        assert!(
            inline
                .path(URDF_URI)
                .unwrap_err()
                .contains("not from a URDF")
        );
    }
}
