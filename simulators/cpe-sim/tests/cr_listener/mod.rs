//! A fleet behind the simulator's own connection-request listener (`cr::serve`) on
//! 127.0.0.1:0, where each device says it listens, and a client to call it.
#![allow(dead_code)] // each test file uses its own share

use std::sync::Arc;
use std::time::Duration;

use cpe_sim::cpe::Cpe;
use cpe_sim::datamodel::Model;
use cpe_sim::fleet::{self, CrEndpoint, SerialPattern};
use cpe_sim::settings::Settings;
use cpe_sim::transport::{Client, Target, Wire};
use tokio::net::TcpListener;
use tokio::sync::watch;

pub struct Fleet {
    pub devices: Vec<Arc<Cpe>>,
    /// The listener's port.
    pub port: u16,
    /// Keeps the listener running while the fleet is held.
    _running: watch::Sender<bool>,
}

/// `n` devices of `model` named by `pattern`, their listener serving.
pub async fn fleet(model: Model, n: u32, pattern: &str, settings: &Arc<Settings>) -> Fleet {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let endpoint = CrEndpoint {
        host: "127.0.0.1".to_owned(),
        port,
    };
    let pattern = SerialPattern::parse(pattern).unwrap();
    let devices = fleet::build(model, n, &pattern, settings, Some(&endpoint)).unwrap();
    let (running, rx) = watch::channel(false);
    tokio::spawn(cpe_sim::cr::serve(
        listener,
        Arc::new(cpe_sim::cr::Listener::new(&devices, settings.clone())),
        rx,
    ));
    Fleet {
        devices,
        port,
        _running: running,
    }
}

/// ConnectionRequestURL, ConnectionRequestUsername and ConnectionRequestPassword of `cpe`.
pub fn cr_address(cpe: &Cpe) -> (String, String, String) {
    let st = cpe.state();
    let get = |leaf: &str| st.device.management_server(leaf).to_owned();
    (
        get("ConnectionRequestURL"),
        get("ConnectionRequestUsername"),
        get("ConnectionRequestPassword"),
    )
}

/// The simulator's own HTTP client, answering a 401 with `user`/`password`.
pub fn client(url: &str, user: &str, password: &str) -> Client {
    Client::new(
        Target::parse(url).unwrap(),
        Wire::default(),
        Duration::from_secs(5),
        user,
        password,
    )
}
