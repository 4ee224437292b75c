//! Deserializing lists of names (scopes, tasks) without allocating a string per name: each name
//! is parsed where it is read, which matters when a million tokens are loaded.

use std::fmt;
use std::marker::PhantomData;

use serde::Deserializer;
use serde::de::{DeserializeSeed, Error, SeqAccess, Visitor};

/// Reads a list of names, handing each parsed name to `add`; an unknown name is an error that
/// says which `what` it was.
pub(crate) fn deserialize_names<'de, D: Deserializer<'de>, T>(
    d: D,
    what: &'static str,
    parse: fn(&str) -> Option<T>,
    add: impl FnMut(T),
) -> Result<(), D::Error> {
    d.deserialize_seq(Names { what, parse, add, item: PhantomData })
}

struct Names<T, F> {
    what: &'static str,
    parse: fn(&str) -> Option<T>,
    add: F,
    item: PhantomData<T>,
}

impl<'de, T, F: FnMut(T)> Visitor<'de> for Names<T, F> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a list of {} names", self.what)
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        while let Some(item) = seq.next_element_seed(Name { what: self.what, parse: self.parse })? {
            (self.add)(item);
        }
        Ok(())
    }
}

struct Name<T> {
    what: &'static str,
    parse: fn(&str) -> Option<T>,
}

impl<'de, T> DeserializeSeed<'de> for Name<T> {
    type Value = T;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<T, D::Error> {
        d.deserialize_str(self)
    }
}

impl<T> Visitor<'_> for Name<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a {} name", self.what)
    }

    fn visit_str<E: Error>(self, name: &str) -> Result<T, E> {
        (self.parse)(name).ok_or_else(|| E::custom(format!("unknown {} {name}", self.what)))
    }
}
