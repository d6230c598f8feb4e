//! `cpe-sim`: a simulator of many TR-069 CPEs in one process. For now it holds the data model
//! each virtual CPE operates on ([`datamodel`]); the SOAP/HTTP side and the binary come later.

pub mod datamodel;
