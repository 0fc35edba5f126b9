//! AHV numbers for the load generator: a seeded random population or a file.

use std::path::Path;

use anyhow::Context;
use rand::{Rng, SeedableRng};

use crate::model::Vn;

/// `n` random valid AHV numbers from `seed` (ChaCha: the same seed gives the same numbers
/// on every machine and version).
pub fn random_population(n: usize, seed: u64) -> Vec<Vn> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| Vn::from_serial(rng.random_range(0..1_000_000_000)))
        .collect()
}

/// One AHV number per line (13 digits or dotted); blank lines and `#` comments are skipped.
/// A bad line is reported with the file and line number (never with its content).
pub fn population_from_file(path: &Path) -> anyhow::Result<Vec<Vn>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("--population-file: cannot read {}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let vn = Vn::parse(line)
            .with_context(|| format!("--population-file {}:{}", path.display(), i + 1))?;
        out.push(vn);
    }
    anyhow::ensure!(
        !out.is_empty(),
        "--population-file {} holds no AHV number",
        path.display()
    );
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_population_is_stable_and_valid() {
        let a = random_population(100, 7);
        assert_eq!(a, random_population(100, 7));
        assert_ne!(a, random_population(100, 8));
        for vn in &a {
            assert_eq!(Vn::parse(&vn.digits()).ok(), Some(*vn));
        }
    }

    #[test]
    fn file_errors_name_the_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("p.txt");
        let good = Vn::from_serial(123_456_789).dotted();
        std::fs::write(&path, format!("# people\n{good}\n\n7561234567890\n")).expect("write");
        let err = population_from_file(&path).expect_err("bad check digit");
        assert!(format!("{err:#}").contains("p.txt:4"), "{err:#}");
        std::fs::write(&path, format!("{good}\n")).expect("write");
        assert_eq!(population_from_file(&path).expect("ok").len(), 1);
    }
}
