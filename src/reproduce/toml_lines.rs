//! Where a value sits in a TOML file: the line number behind a path such as
//! `runs[2].name` or `profiles.cpu.seeds`, so that a check on the parsed pipeline can name the
//! line at fault.

use toml::de::{DeTable, DeValue};

/// One step of a path into a TOML document.
#[derive(Debug, Clone, Copy)]
pub enum Step<'a> {
    /// A key of a table.
    Key(&'a str),
    /// An element of an array (or of an array of tables).
    Index(usize),
}

/// The 1-based line of the value at `path` in `text` (for a table key, the line of the key;
/// for an array element, the line where the element starts); None when the text does not
/// parse or the path is not there.
pub fn line_of(text: &str, path: &[Step]) -> Option<usize> {
    let root = DeTable::parse(text).ok()?;
    let mut table: &DeTable = root.get_ref();
    let mut value: Option<&DeValue> = None;
    let mut offset = root.span().start;
    for step in path {
        match (step, value) {
            (Step::Key(k), None) | (Step::Key(k), Some(DeValue::Table(_))) => {
                if let Some(DeValue::Table(t)) = value {
                    table = t;
                }
                let (key, v) = table.iter().find(|(key, _)| key.get_ref().as_ref() == *k)?;
                offset = key.span().start;
                value = Some(v.get_ref());
            }
            (Step::Index(i), Some(DeValue::Array(a))) => {
                let v = a.get(*i)?;
                offset = v.span().start;
                value = Some(v.get_ref());
            }
            _ => return None,
        }
    }
    Some(text.get(..offset)?.matches('\n').count() + 1)
}

/// `"line N: "` for the value at `path`, or nothing when it cannot be found.
pub fn at(text: &str, path: &[Step]) -> String {
    line_of(text, path).map(|l| format!("line {l}: ")).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::Step::{Index, Key};
    use super::*;

    #[test]
    fn paths_find_their_lines() {
        let text =
            "a = 1\n[[runs]]\nname = 'x'\n\n[[runs]]\nname = 'y'\nseeds = [1,\n  1]\n[p.cpu]\nseeds = []\n";
        assert_eq!(line_of(text, &[Key("a")]), Some(1));
        assert_eq!(line_of(text, &[Key("runs"), Index(1), Key("name")]), Some(6));
        assert_eq!(line_of(text, &[Key("runs"), Index(1), Key("seeds"), Index(1)]), Some(8));
        assert_eq!(line_of(text, &[Key("p"), Key("cpu"), Key("seeds")]), Some(10));
        assert_eq!(line_of(text, &[Key("runs"), Index(5)]), None);
        assert_eq!(at("x = [", &[Key("x")]), "");
    }
}
