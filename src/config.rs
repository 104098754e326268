//! Daemon configuration: one TOML file plus `HARK_…` environment overrides.
