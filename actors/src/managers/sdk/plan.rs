//! The SDK tasks of a change, added by the workshop manager's planners.

use chrono::{DateTime, Utc};

use super::spec::SdkSpec;
use crate::managers::task::{TaskTarget, add_task, keys};
use crate::state::{ChangeId, Key, State, TaskId};

/// Task data: the SDK a task works on.
pub const SDK: Key<SdkSpec> = Key::new("sdk");
/// Task data: the SDK's position in the install order.
pub const ORDER: Key<usize> = Key::new("install-order");

/// `retrieve-sdk` of `sdk` for `target` on `base`, after `after`.
pub fn add_retrieve(
    st: &mut State,
    change: &ChangeId,
    target: &TaskTarget,
    sdk: &SdkSpec,
    base: &str,
    after: Option<&TaskId>,
    now: DateTime<Utc>,
) -> TaskId {
    let summary = format!("Retrieve {:?} SDK for {:?}", sdk.name, target.name);
    let id = add_task(st, change, "retrieve-sdk", &summary, target, after, now);
    let t = st.task_mut(&id).expect("new task exists");
    t.write(&SDK, sdk);
    t.write(&keys::BASE, &base.to_string());
    id
}

/// `install-sdk` of `sdk` (the `order`-th of the workshop) into `target` on `base`.
#[allow(clippy::too_many_arguments)]
pub fn add_install(
    st: &mut State,
    change: &ChangeId,
    target: &TaskTarget,
    sdk: &SdkSpec,
    order: usize,
    base: &str,
    after: Option<&TaskId>,
    now: DateTime<Utc>,
) -> TaskId {
    let summary = format!("Install {:?} SDK into {:?}", sdk.name, target.name);
    let id = add_task(st, change, "install-sdk", &summary, target, after, now);
    let t = st.task_mut(&id).expect("new task exists");
    t.write(&SDK, sdk);
    t.write(&ORDER, &order);
    t.write(&keys::BASE, &base.to_string());
    id
}
