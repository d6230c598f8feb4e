//! `--events json`: one JSON object per line on stdout for each significant event, for the
//! end-to-end tests and scripts (`{"serial":"ZN000000001","event":"session_end",...}`).

use std::io::Write as _;

use crate::settings::Settings;

/// Prints `{"serial":…,"event":…, …fields}` when the run asked for JSON events.
pub fn emit(settings: &Settings, serial: &str, event: &str, fields: serde_json::Value) {
    if !settings.json_events {
        return;
    }
    let mut line = serde_json::Map::new();
    line.insert("serial".to_owned(), serial.into());
    line.insert("event".to_owned(), event.into());
    if let serde_json::Value::Object(extra) = fields {
        line.extend(extra);
    }
    let text = serde_json::Value::Object(line).to_string();
    let mut out = std::io::stdout().lock();
    // A closed stdout (the reader went away) must not stop the simulation.
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}
