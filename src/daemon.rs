//! The daemon: wires capture, front-end, encoder, tracks, scoring and MQTT together.
