//! Black-box tests of the Graph API: each test starts a real server on a free port over a fresh
//! store and speaks HTTP to it, asserting what a client sees on the wire.

mod assignments;
mod audit;
mod console;
mod copy;
mod credit;
mod deliveries;
mod docs;
mod faults;
mod fixtures;
mod hostile;
mod limits;
mod matrix;
mod memory;
mod observe;
mod persistence;
mod reach;
mod replicas;
mod secrets;
mod solutions;
mod system_users;
mod templates;
mod tokens;
mod webhooks;
mod whatsapp;
mod wire;
mod worlds;
