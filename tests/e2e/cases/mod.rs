//! One module per scenario; [`all`] is the list the harness runs on each backend.

mod auth;
mod bulk;
mod common;
mod dashboard;
mod debug;
mod durability;
mod firmware;
mod migration;
mod profiles;
mod transfers;
mod troubleshooting;
mod wake;

use crate::support::{BoxFuture, Case, Env};

macro_rules! case {
    ($path:path) => {
        (stringify!($path), |env: Env| -> BoxFuture {
            Box::pin($path(env))
        })
    };
}

pub fn all() -> Vec<Case> {
    vec![
        case!(dashboard::dashboard),
        case!(troubleshooting::troubleshooting),
        case!(bulk::bulk),
        case!(migration::organization_migration),
        case!(firmware::firmware_campaign),
        case!(durability::offline_reboot),
        case!(durability::restart_keeps_tasks),
        case!(auth::digest_auth),
        case!(transfers::software_and_scheduled_transfers),
        case!(profiles::go_sim),
        case!(profiles::ts_agent),
        case!(profiles::node_agent),
        case!(profiles::c_agent),
        case!(profiles::partial_path_crash),
        case!(debug::debug_traces),
        case!(wake::reboot_without_manual_credentials),
        case!(wake::update_status_keeps_a_healthy_fleet_up),
    ]
}
