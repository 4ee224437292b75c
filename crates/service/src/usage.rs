//! Token last-use times, coalesced in memory and flushed to the store now and then, so that an
//! authorized request never waits on a write.

use std::collections::HashMap;
use std::sync::Mutex;

use model::{GraphId, Timestamp};

#[derive(Default)]
pub struct Usage {
    pending: Mutex<HashMap<GraphId, Timestamp>>,
}

impl Usage {
    pub fn note(&self, token: GraphId, at: Timestamp) {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let entry = pending.entry(token).or_insert(at);
        *entry = (*entry).max(at);
    }

    /// Puts back uses that could not be written (a failed flush), keeping the later of two times.
    pub fn put_back(&self, uses: &[(GraphId, Timestamp)]) {
        for (token, at) in uses {
            self.note(*token, *at);
        }
    }

    pub fn take(&self) -> Vec<(GraphId, Timestamp)> {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let mut uses: Vec<_> = pending.drain().collect();
        uses.sort();
        uses
    }
}
