//! wabagate's model: the entities of Business Manager, task and scope sets, the in-memory
//! world every authorization is answered from, and the rules table. Pure: no IO, no async.

pub mod entity;
pub mod error;
mod ids;
mod names;
pub mod rules;
mod scope;
mod secret;
pub mod shape;
pub mod spreadsheet;
mod task;
pub mod template;
pub mod world;

pub use entity::*;
pub use error::{GraphError, Verb};
pub use ids::{GraphId, IdSet};
pub use scope::{SCOPES, Scope, ScopeSet};
pub use secret::Secret;
pub use task::{Task, TaskSet};
pub use world::{Change, Kind, Principal, Undo, UserKind, World};
