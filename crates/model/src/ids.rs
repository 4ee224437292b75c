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
    /// A decimal string as Graph writes ids, or a positive number.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = GraphId;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a Graph id")
            }

            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<GraphId, E> {
                if n > 0 { Ok(GraphId(n)) } else { Err(E::custom("an id is a positive number")) }
            }

            fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<GraphId, E> {
                u64::try_from(n).map_err(|_| E::custom("an id is a positive number")).and_then(|n| self.visit_u64(n))
            }

            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<GraphId, E> {
                GraphId::parse(s).ok_or_else(|| E::custom(format!("'{s}' is not a Graph id")))
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// A small set of ids kept as a sorted vector: one allocation the size of its ids, where a
/// `BTreeSet` allocates a whole node for even one id (it matters at a million system users).
/// Serialized as a list.
#[derive(Clone, Default, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(from = "Vec<GraphId>", into = "Vec<GraphId>")]
pub struct IdSet(Vec<GraphId>);

impl IdSet {
    pub fn contains(&self, id: &GraphId) -> bool {
        self.0.binary_search(id).is_ok()
    }

    /// True if the id was not in the set. Ids coming in order (as when loading) are appended.
    pub fn insert(&mut self, id: GraphId) -> bool {
        if self.0.last().is_none_or(|last| *last < id) {
            self.0.push(id);
            return true;
        }
        match self.0.binary_search(&id) {
            Ok(_) => false,
            Err(i) => {
                self.0.insert(i, id);
                true
            }
        }
    }

    /// True if the id was in the set.
    pub fn remove(&mut self, id: &GraphId) -> bool {
        match self.0.binary_search(id) {
            Ok(i) => {
                self.0.remove(i);
                true
            }
            Err(_) => false,
        }
    }

    pub fn iter(&self) -> std::slice::Iter<'_, GraphId> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<Vec<GraphId>> for IdSet {
    fn from(mut ids: Vec<GraphId>) -> IdSet {
        ids.sort_unstable();
        ids.dedup();
        IdSet(ids)
    }
}

impl From<IdSet> for Vec<GraphId> {
    fn from(set: IdSet) -> Vec<GraphId> {
        set.0
    }
}

impl<const N: usize> From<[GraphId; N]> for IdSet {
    fn from(ids: [GraphId; N]) -> IdSet {
        IdSet::from(Vec::from(ids))
    }
}

impl<'a> IntoIterator for &'a IdSet {
    type Item = &'a GraphId;
    type IntoIter = std::slice::Iter<'a, GraphId>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
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

    #[test]
    fn id_sets_stay_sorted_and_serialize_as_lists() {
        let mut set = IdSet::from([GraphId(30), GraphId(10), GraphId(30)]);
        assert!(set.insert(GraphId(20)));
        assert!(!set.insert(GraphId(10)));
        assert!(set.insert(GraphId(40)) && set.remove(&GraphId(40)) && !set.remove(&GraphId(40)));
        assert_eq!(set.iter().map(|g| g.0).collect::<Vec<_>>(), [10, 20, 30]);
        assert_eq!(serde_json::to_string(&set).unwrap(), r#"["10","20","30"]"#);
        let back: IdSet = serde_json::from_str(r#"["30","10"]"#).unwrap();
        assert!(back.contains(&GraphId(10)) && back.contains(&GraphId(30)) && back.len() == 2);
    }
}
