//! Graph ids: 64-bit numbers that travel as decimal strings, unique across every object type.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The id of any Graph node. Parsed once at the edge; nothing deeper handles raw id strings.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct GraphId(pub u64);

impl GraphId {
    /// Parses a decimal id as Meta writes them: digits only, no sign, no leading zero.
    pub fn parse(s: &str) -> Option<GraphId> {
        if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        if s.len() > 1 && s.starts_with('0') {
            return None;
        }
        s.parse().ok().filter(|v| *v > 0).map(GraphId)
    }
}

impl fmt::Display for GraphId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Serialize for GraphId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for GraphId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Num(u64),
            Str(String),
        }
        match Raw::deserialize(d)? {
            Raw::Num(n) if n > 0 => Ok(GraphId(n)),
            Raw::Num(_) => Err(serde::de::Error::custom("an id is a positive number")),
            Raw::Str(s) => {
                GraphId::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("'{s}' is not a Graph id")))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_decimal_ids_only() {
        assert_eq!(GraphId::parse("1972555232742222"), Some(GraphId(1972555232742222)));
        for bad in ["", "0", "01", "-1", "12a", "99999999999999999999999", " 1"] {
            assert_eq!(GraphId::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn serialises_as_a_string() {
        assert_eq!(serde_json::to_string(&GraphId(42)).unwrap(), "\"42\"");
        assert_eq!(serde_json::from_str::<GraphId>("42").unwrap(), GraphId(42));
        assert_eq!(serde_json::from_str::<GraphId>("\"42\"").unwrap(), GraphId(42));
    }
}
