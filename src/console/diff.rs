//! A line diff of two adapter versions (longest common subsequence; adapter files are a
//! few dozen lines), for the office page's history. The managed header lines
//! (`# guichet-…`) are left out: they change with every version.

/// One line of a diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Line<'a> {
    /// In both versions.
    Same(&'a str),
    /// Only in the older one.
    Removed(&'a str),
    /// Only in the newer one.
    Added(&'a str),
}

/// The lines that differ between `old` and `new`, in order, with the unchanged ones.
pub(super) fn diff<'a>(old: &'a str, new: &'a str) -> Vec<Line<'a>> {
    let keep = |l: &&str| !l.starts_with("# guichet-");
    let a: Vec<&str> = old.lines().filter(keep).collect();
    let b: Vec<&str> = new.lines().filter(keep).collect();
    // lcs[i][j]: common lines of a[i..] and b[j..].
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() && j < b.len() {
        if a[i] == b[j] {
            out.push(Line::Same(a[i]));
            i += 1;
            j += 1;
        } else if lcs[i + 1][j] >= lcs[i][j + 1] {
            out.push(Line::Removed(a[i]));
            i += 1;
        } else {
            out.push(Line::Added(b[j]));
            j += 1;
        }
    }
    out.extend(a[i..].iter().map(|l| Line::Removed(l)));
    out.extend(b[j..].iter().map(|l| Line::Added(l)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_value_is_one_removal_and_one_addition() {
        let old = "# guichet-version = 1\nname = \"A\"\ntimeout_ms = 1500\n";
        let new = "# guichet-version = 2\nname = \"A\"\ntimeout_ms = 900\nmax_concurrency = 4\n";
        assert_eq!(
            diff(old, new),
            vec![
                Line::Same("name = \"A\""),
                Line::Removed("timeout_ms = 1500"),
                Line::Added("timeout_ms = 900"),
                Line::Added("max_concurrency = 4"),
            ]
        );
    }
}
