//! WABA tasks and task sets, with the implication table.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

macro_rules! tasks {
    ($($variant:ident = $bit:expr, $name:literal;)*) => {
        /// A task a user can hold on a WhatsApp Business Account (reference §2.2: the 13 documented values).
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
        pub enum Task { $($variant = $bit),* }

        impl Task {
            /// Every task, in the order Meta's docs list them.
            pub const ALL: [Task; 13] = [$(Task::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self { $(Task::$variant => $name),* }
            }

            pub fn parse(s: &str) -> Option<Task> {
                match s { $($name => Some(Task::$variant),)* _ => None }
            }
        }
    };
}

tasks! {
    Manage = 0, "MANAGE";
    Develop = 1, "DEVELOP";
    ManageTemplates = 2, "MANAGE_TEMPLATES";
    ManagePhone = 3, "MANAGE_PHONE";
    ViewCost = 4, "VIEW_COST";
    ManageExtensions = 5, "MANAGE_EXTENSIONS";
    ViewPhoneAssets = 6, "VIEW_PHONE_ASSETS";
    ManagePhoneAssets = 7, "MANAGE_PHONE_ASSETS";
    ViewTemplates = 8, "VIEW_TEMPLATES";
    Messaging = 9, "MESSAGING";
    ViewInsights = 10, "VIEW_INSIGHTS";
    ManageUsers = 11, "MANAGE_USERS";
    ManageBilling = 12, "MANAGE_BILLING";
}

impl fmt::Display for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of tasks as a bit set; iteration follows [`Task::ALL`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TaskSet(u16);

impl TaskSet {
    pub const EMPTY: TaskSet = TaskSet(0);
    pub const ALL: TaskSet = TaskSet((1 << 13) - 1);

    pub const fn of(tasks: &[Task]) -> TaskSet {
        let mut bits = 0u16;
        let mut i = 0;
        while i < tasks.len() {
            bits |= 1 << tasks[i] as u16;
            i += 1;
        }
        TaskSet(bits)
    }

    pub const fn bits(self) -> u16 {
        self.0
    }

    /// Rebuilds a set from stored bits, dropping bits no task uses.
    pub const fn from_bits(bits: u16) -> TaskSet {
        TaskSet(bits & TaskSet::ALL.0)
    }

    pub const fn contains(self, task: Task) -> bool {
        self.0 & (1 << task as u16) != 0
    }

    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub const fn union(self, other: TaskSet) -> TaskSet {
        TaskSet(self.0 | other.0)
    }

    pub const fn intersect(self, other: TaskSet) -> TaskSet {
        TaskSet(self.0 & other.0)
    }

    pub const fn minus(self, other: TaskSet) -> TaskSet {
        TaskSet(self.0 & !other.0)
    }

    pub const fn intersects(self, other: TaskSet) -> bool {
        self.0 & other.0 != 0
    }

    pub const fn is_subset_of(self, other: TaskSet) -> bool {
        self.0 & !other.0 == 0
    }

    pub fn insert(&mut self, task: Task) {
        self.0 |= 1 << task as u16;
    }

    pub fn iter(self) -> impl Iterator<Item = Task> {
        Task::ALL.into_iter().filter(move |t| self.contains(*t))
    }

    pub fn names(self) -> Vec<&'static str> {
        self.iter().map(Task::as_str).collect()
    }

    /// The set with every implied task added (the implication table of `rules`).
    pub fn expand(self) -> TaskSet {
        crate::rules::IMPLIES
            .iter()
            .filter(|(task, _)| self.contains(*task))
            .fold(self, |acc, (_, implied)| acc.union(*implied))
    }
}

impl FromIterator<Task> for TaskSet {
    fn from_iter<I: IntoIterator<Item = Task>>(iter: I) -> Self {
        let mut set = TaskSet::EMPTY;
        for t in iter {
            set.insert(t);
        }
        set
    }
}

impl fmt::Debug for TaskSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl fmt::Display for TaskSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.names().join(", "))
    }
}

impl Serialize for TaskSet {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter().map(Task::as_str))
    }
}

impl<'de> Deserialize<'de> for TaskSet {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut set = TaskSet::EMPTY;
        crate::names::deserialize_names(d, "task", Task::parse, |t| set.insert(t))?;
        Ok(set)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_task_round_trips_by_name() {
        for t in Task::ALL {
            assert_eq!(Task::parse(t.as_str()), Some(t));
        }
        assert_eq!(Task::parse("FULL_CONTROL"), None);
        assert_eq!(Task::parse("RECEIVE_INCOMING_MESSAGES"), None);
        assert_eq!(Task::parse("manage"), None);
    }

    #[test]
    fn manage_expands_to_everything() {
        assert_eq!(TaskSet::of(&[Task::Manage]).expand(), TaskSet::ALL);
    }

    #[test]
    fn develop_expands_to_the_developer_set() {
        let d = TaskSet::of(&[Task::Develop]).expand();
        for t in [Task::ViewTemplates, Task::ManageTemplates, Task::Messaging, Task::ManagePhone] {
            assert!(d.contains(t), "{t}");
        }
        for t in [Task::Manage, Task::ManageUsers, Task::ManageBilling, Task::ViewCost] {
            assert!(!d.contains(t), "{t}");
        }
    }

    #[test]
    fn serialises_as_names() {
        let s = TaskSet::of(&[Task::Develop, Task::Manage]);
        assert_eq!(serde_json::to_string(&s).unwrap(), r#"["MANAGE","DEVELOP"]"#);
    }
}
