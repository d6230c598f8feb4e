//! The templates against the Broadband Forum's own data-model XML (`../shared/cwmp/xsd/`):
//! every standard (non-`X_`) parameter must exist there with the same type, access,
//! `forcedInform`, `activeNotify` and `hidden`, and no table may allow AddObject/DeleteObject
//! where the model makes it read-only. A minimal scan of the XML is enough: objects carry full
//! names, parameters sit inside them, the type is the first element of `<syntax>`.

use std::collections::HashMap;
use std::path::PathBuf;

use cpe_sim::datamodel::Model;
use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};
use serde_json::Value;

fn xsd_dir() -> PathBuf {
    // The shared folder sits beside the repository (README, "Tests").
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/cwmp/xsd")
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Official {
    ty: String,
    writable: bool,
    forced: bool,
    notify: String,
    hidden: bool,
    status: String,
}

#[derive(Default)]
struct OfficialModel {
    /// Object name (`X.{i}.`) → writable (`access="readWrite"`).
    objects: HashMap<String, bool>,
    params: HashMap<String, Official>,
}

fn attr(e: &BytesStart<'_>, name: &str) -> Option<String> {
    let a = e.try_get_attribute(name).ok()??;
    Some(a.value.into_owned())
}

/// TR-106 named data types of the TR-181 files, whose definitions live in `tr-106-types.xml`
/// (not among the shared files): the ones with a numeric base; every other one is a string.
fn tr106_base(name: &str) -> &'static str {
    match name {
        "StatsCounter32" => "unsignedInt",
        "StatsCounter64" => "unsignedLong",
        "Dbm1000" => "int",
        _ => "string",
    }
}

fn scan(model: &mut OfficialModel, file: &str) {
    let path = xsd_dir().join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (the official XML is part of the shared folder)",
            path.display()
        )
    });
    let mut reader = Reader::from_str(&text);
    reader.config_mut().trim_text(true);
    // dataType name → its base type or the dataType it derives from.
    let mut data_types: HashMap<String, String> = HashMap::new();
    let mut current_type: Option<String> = None;
    let mut object: Option<String> = None;
    let mut param: Option<(String, Official)> = None;
    let mut in_syntax = false;
    let mut depth_in_syntax = 0usize;
    loop {
        let event = reader
            .read_event()
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        let (e, empty) = match &event {
            Event::Start(e) => (e.clone(), false),
            Event::Empty(e) => (e.clone(), true),
            Event::End(e) => {
                match e.local_name().as_ref() {
                    "object" => object = None,
                    "dataType" => current_type = None,
                    "syntax" => in_syntax = false,
                    "parameter" => {
                        if let Some((name, p)) = param.take() {
                            model.params.insert(name, p);
                        }
                    }
                    _ => {}
                }
                if in_syntax {
                    depth_in_syntax = depth_in_syntax.saturating_sub(1);
                }
                continue;
            }
            Event::Eof => break,
            _ => continue,
        };
        let local = e.local_name();
        let tag = local.as_ref().to_owned();
        match tag.as_str() {
            "dataType" if object.is_none() && param.is_none() => {
                if let Some(name) = attr(&e, "name") {
                    if let Some(base) = attr(&e, "base") {
                        data_types.insert(name.clone(), base);
                    }
                    current_type = (!empty).then_some(name);
                }
            }
            "object" => {
                // `base=` objects extend another model (USP); only named ones define paths.
                object = attr(&e, "name");
                if let Some(name) = &object {
                    let writable = attr(&e, "access").as_deref() == Some("readWrite");
                    model.objects.insert(name.clone(), writable);
                }
                if empty {
                    object = None;
                }
            }
            "parameter" => {
                if let (Some(obj), Some(name)) = (&object, attr(&e, "name")) {
                    let p = Official {
                        ty: String::new(),
                        writable: attr(&e, "access").as_deref() == Some("readWrite"),
                        forced: attr(&e, "forcedInform").as_deref() == Some("true"),
                        notify: attr(&e, "activeNotify").unwrap_or_else(|| "normal".to_owned()),
                        hidden: false,
                        status: attr(&e, "status").unwrap_or_default(),
                    };
                    if !empty {
                        param = Some((format!("{obj}{name}"), p));
                    }
                }
            }
            "syntax" if param.is_some() => {
                in_syntax = !empty;
                depth_in_syntax = 0;
                if let Some((_, p)) = &mut param {
                    p.hidden = attr(&e, "hidden").as_deref() == Some("true");
                }
            }
            _ if in_syntax => {
                if let Some((_, p)) = &mut param
                    && depth_in_syntax == 0
                    && p.ty.is_empty()
                    && tag != "default"
                {
                    p.ty = match tag.as_str() {
                        "list" => "string".to_owned(),
                        "dataType" => format!("ref:{}", attr(&e, "ref").unwrap_or_default()),
                        other => other.to_owned(),
                    };
                }
                depth_in_syntax += usize::from(!empty);
            }
            base if current_type.is_some() && (is_base_type(base) || base == "list") => {
                if let Some(name) = current_type.take() {
                    let base = if base == "list" { "string" } else { base };
                    data_types.entry(name).or_insert_with(|| base.to_owned());
                }
            }
            _ => {}
        }
    }
    // Resolve `ref:Name` through the file's dataType chain down to a base type.
    for p in model.params.values_mut() {
        let mut ty = p.ty.clone();
        for _ in 0..8 {
            let Some(name) = ty.strip_prefix("ref:") else {
                break;
            };
            ty = match data_types.get(name) {
                Some(base) if is_base_type(base) => base.clone(),
                Some(base) => format!("ref:{base}"),
                None => tr106_base(name).to_owned(),
            };
        }
        p.ty = ty;
    }
}

fn is_base_type(name: &str) -> bool {
    matches!(
        name,
        "string"
            | "int"
            | "unsignedInt"
            | "long"
            | "unsignedLong"
            | "boolean"
            | "dateTime"
            | "base64"
            | "hexBinary"
    )
}

/// What the template says: each parameter by generic path, each object with its writability.
type TemplateView = (Vec<(String, Official)>, Vec<(String, bool)>);

fn template_params(model: Model) -> TemplateView {
    let json: Value = serde_json::from_str(model.template_json()).unwrap();
    let mut params = Vec::new();
    let mut objects = Vec::new();
    for object in json["objects"].as_array().unwrap() {
        let path = object["path"].as_str().unwrap().to_owned();
        objects.push((path.clone(), object["writable"].as_bool().unwrap_or(false)));
        for p in object["params"].as_array().into_iter().flatten() {
            let flag = |key: &str| p[key].as_bool().unwrap_or(false);
            params.push((
                format!("{path}{}", p["name"].as_str().unwrap()),
                Official {
                    ty: p["type"].as_str().unwrap().to_owned(),
                    writable: flag("writable"),
                    forced: flag("forced"),
                    notify: p["notify"].as_str().unwrap_or("normal").to_owned(),
                    hidden: flag("hidden"),
                    status: String::new(),
                },
            ));
        }
    }
    (params, objects)
}

/// Whether `path` is one the shared files cannot speak for: `uncovered` holds prefixes, or
/// exact paths written `=path`.
fn is_uncovered(path: &str, uncovered: &[&str]) -> bool {
    uncovered.iter().any(|u| match u.strip_prefix('=') {
        Some(exact) => path == exact,
        None => path.starts_with(u),
    })
}

fn official(files: &[&str]) -> OfficialModel {
    let mut official = OfficialModel::default();
    for file in files {
        scan(&mut official, file);
    }
    official
}

/// Checks one template against the official files; returns the standard paths it could not
/// check because their object is in none of the files.
fn check(model: Model, files: &[&str], uncovered: &[&str]) -> Vec<String> {
    let official = official(files);
    let (params, objects) = template_params(model);
    let mut errors = Vec::new();
    let mut unchecked = Vec::new();
    for (path, writable) in &objects {
        if path.contains("X_") {
            continue;
        }
        match official.objects.get(path) {
            Some(false) if *writable => {
                errors.push(format!("{path}: writable table, the model says readOnly"))
            }
            Some(_) => {}
            None if is_uncovered(path, uncovered) => unchecked.push(path.clone()),
            None => errors.push(format!("{path}: object not in the official model")),
        }
    }
    for (path, mine) in &params {
        if path.contains("X_") {
            continue;
        }
        let object = &path[..=path.rfind('.').unwrap()];
        let Some(theirs) = official.params.get(path) else {
            if official.objects.contains_key(object) {
                errors.push(format!("{path}: not in the official model"));
            } else if is_uncovered(path, uncovered) {
                unchecked.push(path.clone());
            } else {
                errors.push(format!("{path}: its object is not in the official model"));
            }
            continue;
        };
        let mut theirs = theirs.clone();
        if matches!(theirs.status.as_str(), "deleted" | "obsoleted") {
            errors.push(format!("{path}: {} in the official model", theirs.status));
        }
        theirs.status.clear();
        if *mine != theirs {
            errors.push(format!(
                "{path}: template {mine:?}\n    official {theirs:?}"
            ));
        }
    }
    assert!(
        errors.is_empty(),
        "{model:?} disagrees with the official model:\n  {}",
        errors.join("\n  ")
    );
    unchecked
}

#[test]
fn the_scan_reads_what_the_official_model_says() {
    let tr098 = official(&["tr-098-1-8-0-full.xml"]);
    let tr181 = official(&["tr-181-2-19-1-cwmp.xml", "tr-181-2-19-0-deviceinfo.xml"]);
    let p = |ty: &str, writable, forced, notify: &str, hidden| Official {
        ty: ty.to_owned(),
        writable,
        forced,
        notify: notify.to_owned(),
        hidden,
        status: String::new(),
    };
    let wanip = "InternetGatewayDevice.WANDevice.{i}.WANConnectionDevice.{i}.WANIPConnection.{i}.";
    let cases: &[(&OfficialModel, String, Official)] = &[
        (
            &tr098,
            format!("{wanip}ExternalIPAddress"),
            p("string", true, true, "forceDefaultEnabled", false),
        ),
        (
            &tr098,
            format!("{wanip}MaxMTUSize"),
            p("unsignedInt", true, false, "normal", false),
        ),
        (
            &tr098,
            "InternetGatewayDevice.ManagementServer.ConnectionRequestPassword".into(),
            p("string", true, false, "normal", true),
        ),
        (
            &tr098,
            "InternetGatewayDevice.DeviceInfo.UpTime".into(),
            p("unsignedInt", false, false, "canDeny", false),
        ),
        (
            &tr098,
            "InternetGatewayDevice.LANDevice.{i}.Hosts.Host.{i}.LeaseTimeRemaining".into(),
            p("int", false, false, "canDeny", false),
        ),
        (
            &tr181,
            "Device.ManagementServer.URL".into(),
            p("string", true, false, "normal", false),
        ),
        (
            &tr181,
            "Device.ManagementServer.PeriodicInformTime".into(),
            p("dateTime", true, false, "normal", false),
        ),
        (
            &tr181,
            "Device.DeviceInfo.SoftwareVersion".into(),
            p("string", false, true, "forceEnabled", false),
        ),
        (
            &tr181,
            "Device.DeviceInfo.Location.{i}.DataObject".into(),
            p("string", true, false, "normal", false),
        ),
    ];
    for (model, name, want) in cases {
        let mut got = model
            .params
            .get(name)
            .unwrap_or_else(|| panic!("{name} not scanned"))
            .clone();
        got.status.clear();
        assert_eq!(got, *want, "{name}");
    }
    assert_eq!(
        tr098
            .objects
            .get("InternetGatewayDevice.LANDevice.{i}.WLANConfiguration.{i}."),
        Some(&false)
    );
    assert_eq!(
        tr181
            .objects
            .get("Device.ManagementServer.InformParameter.{i}."),
        Some(&true)
    );
    assert!(
        tr098.params.len() > 1000,
        "{} TR-098 parameters",
        tr098.params.len()
    );
}

#[test]
fn tr098_template_matches_the_official_model() {
    let unchecked = check(Model::Tr098, &["tr-098-1-8-0-full.xml"], &[]);
    assert_eq!(unchecked, Vec::<String>::new());
}

#[test]
fn tr181_template_matches_the_official_model_where_the_shared_files_have_it() {
    // IP, DHCPv4, Hosts, WiFi and the root's own parameters are defined in component files
    // (tr-181-2-ip.xml, …, tr-181-2-root.xml) that are not among the shared files.
    let uncovered = [
        "=Device.",
        "=Device.RootDataModelVersion",
        "Device.IP.",
        "Device.DHCPv4.",
        "Device.Hosts.",
        "Device.WiFi.",
    ];
    let unchecked = check(
        Model::Tr181,
        &["tr-181-2-19-1-cwmp.xml", "tr-181-2-19-0-deviceinfo.xml"],
        &uncovered,
    );
    // DeviceInfo and ManagementServer, the part every ACS reads, are all checked.
    assert!(unchecked.iter().all(
        |p| !p.starts_with("Device.DeviceInfo.") && !p.starts_with("Device.ManagementServer.")
    ));
    eprintln!(
        "TR-181 paths not in the shared official files: {}",
        unchecked.len()
    );
}
