//! In-memory datasets as read from their official files, before import into the store.

/// One split (train or test) of a dataset, images in NCHW u8 order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RawSplit {
    /// `n * channels * height * width` bytes, channel-major per image.
    pub images: Vec<u8>,
    /// Class index per image.
    pub labels: Vec<u16>,
    /// Coarse (superclass) index per image, for datasets that have one (CIFAR-100).
    pub coarse_labels: Option<Vec<u16>>,
}

impl RawSplit {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when the split has no image.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
}

/// A whole dataset read from its source files.
#[derive(Debug, Clone, PartialEq)]
pub struct RawDataset {
    /// Canonical dataset name (`cifar10`, `cifar100`, `mnist`, `fashion-mnist`).
    pub name: String,
    /// Class names, by index.
    pub classes: Vec<String>,
    /// Coarse class names, for datasets that have them.
    pub coarse_classes: Option<Vec<String>>,
    /// Image shape: channels, height, width.
    pub shape: [usize; 3],
    /// Training split, in the official order.
    pub train: RawSplit,
    /// Test split.
    pub test: RawSplit,
}

impl RawDataset {
    /// Bytes per image.
    pub fn image_bytes(&self) -> usize {
        self.shape.iter().product()
    }
}

/// Characters that make a spreadsheet read a cell as a formula when they open it (`=`, `+`,
/// `-`, `@`, and tab or carriage return before one).
pub const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// Checks a list of class names: each non-empty, none a missing-value marker (`NaN`, `null`,
/// `None`, `NA`, `N/A`, `-1`), none repeated, no control characters (they would be printed
/// raw to a terminal), and none beginning with a character a spreadsheet runs as a formula
/// ([`FORMULA_STARTS`]): class names are written into CSV files unescaped, so they are refused
/// here, where the data comes in. Two classes of one name, or a "class" made of missing
/// labels, would be guesses downstream. Returns the problem in words.
pub fn check_class_names(names: &[String]) -> Result<(), String> {
    const MISSING: [&str; 7] = ["nan", "null", "none", "na", "n/a", "-1", "?"];
    let mut seen = std::collections::BTreeMap::new();
    for (i, n) in names.iter().enumerate() {
        if n.chars().any(char::is_control) {
            return Err(format!(
                "class {i} is named {:?}, which holds control characters",
                n.escape_debug().to_string()
            ));
        }
        let t = n.trim();
        if t.is_empty() {
            return Err(format!("class {i} has an empty name"));
        }
        if MISSING.contains(&t.to_ascii_lowercase().as_str()) {
            return Err(format!("class {i} is named {t:?}, a missing-value marker, not a class"));
        }
        if n.starts_with(FORMULA_STARTS) {
            return Err(format!(
                "class {i} is named {n:?}: a name beginning with '=', '+', '-' or '@' is run as a formula by spreadsheets that open the CSV reports; rename the class"
            ));
        }
        if MISSING.contains(&t.to_ascii_lowercase().as_str()) {
            return Err(format!("class {i} is named {t:?}, a missing-value marker, not a class"));
        }
        if let Some(first) = seen.insert(t.to_string(), i) {
            return Err(format!("classes {first} and {i} have the same name {t:?}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_class_names;

    #[test]
    fn class_names_must_be_distinct_and_present() {
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(check_class_names(&names(&["cat", "dog"])).is_ok());
        assert!(check_class_names(&names(&["cat", "dog", "cat"])).unwrap_err().contains("classes 0 and 2"));
        assert!(check_class_names(&names(&["cat", " "])).unwrap_err().contains("empty"));
        for m in ["NaN", "-1", "null"] {
            assert!(check_class_names(&names(&["cat", m])).unwrap_err().contains("missing-value"), "{m}");
        }
        for f in ["=HYPERLINK(\"x\")", "+1", "-cat", "@SUM(A1)"] {
            assert!(check_class_names(&names(&["cat", f])).unwrap_err().contains("formula"), "{f}");
        }
        assert!(check_class_names(&names(&["cat", "d\u{1b}[31mog"])).unwrap_err().contains("control"));
    }
}
