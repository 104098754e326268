//! Helpers shared by integration tests: a real mosquitto, a small MQTT client, test PKI.
// Each test binary uses only some helpers.
#![allow(dead_code)]

pub mod certs;
pub mod client;
pub mod mosquitto;
