//! Client certificates issued on the fly by a test federation's CA (shared by the
//! `common` and `managed` harnesses).

use std::path::{Path, PathBuf};

use guichet::pki::{Ca, DevPki, Identity, LeafSpec, Role};

/// Issues a 30-day certificate `role:name` from `pki`'s CA into `dir`; returns (cert, key).
pub fn issue_client(pki: &DevPki, dir: &Path, role: Role, name: &str) -> (PathBuf, PathBuf) {
    let ca = Ca::load(&pki.ca_cert, &pki.ca_key).expect("ca");
    let id = Identity::new(role, name).expect("identity");
    let leaf = ca.issue(&LeafSpec::new(id, 30)).expect("leaf");
    let (cert, key) = (
        dir.join(format!("{name}.pem")),
        dir.join(format!("{name}.key")),
    );
    leaf.write(&cert, &key).expect("write");
    (cert, key)
}
