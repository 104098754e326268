//! `/metrics`: the live counters in the Prometheus (OpenMetrics) text format. A registry is
//! built per scrape from the counters the daemon keeps anyway, so nothing is counted twice;
//! the encoder histogram is the pipeline's own.

use super::AppState;
use crate::daemon::live::Live;
use crate::history::DatabaseState;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::registry::Registry;
use std::sync::atomic::{AtomicU64, Ordering};

/// The OpenMetrics text content type Prometheus asks for.
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

type Labelled = Family<Vec<(&'static str, String)>, prometheus_client::metrics::counter::Counter>;

fn counter(registry: &mut Registry, name: &str, help: &str, value: &AtomicU64) {
    registry.register(name, help, ConstCounter::new(value.load(Ordering::Relaxed)));
}

fn gauge(registry: &mut Registry, name: &str, help: &str, value: i64) {
    registry.register(name, help, ConstGauge::new(value));
}

/// The counters of the pipeline, the source and the health monitor.
fn pipeline(registry: &mut Registry, live: &Live) {
    let (p, s) = (&live.pipeline, &live.source);
    let counters: [(&str, &str, &AtomicU64); 7] = [
        ("hark_windows", "Windows embedded", &p.windows),
        (
            "hark_encoder_failures",
            "Windows the encoder failed on",
            &p.encoder_failures,
        ),
        (
            "hark_tracks_short",
            "Tracks dropped for being shorter than tracks.min_track_s",
            &p.tracks_short,
        ),
        (
            "hark_gaps",
            "Holes in the audio (device lost, pipeline full)",
            &p.gaps,
        ),
        ("hark_samples", "Audio samples captured", &s.samples),
        (
            "hark_samples_dropped",
            "Audio samples dropped because the pipeline was full",
            &s.dropped_samples,
        ),
        (
            "hark_source_restarts",
            "Times the capture device was reopened",
            &s.restarts,
        ),
    ];
    for (name, help, value) in counters {
        counter(registry, name, help, value);
    }
    let queued = s.queued.load(Ordering::Relaxed) as i64;
    gauge(
        registry,
        "hark_samples_queued",
        "Samples captured and not yet taken by the pipeline",
        queued,
    );
    let encoder = p.encoder_seconds.clone();
    registry.register(
        "hark_encoder_seconds",
        "Time the audio encoder took per window",
        encoder,
    );
    let tracks = Labelled::default();
    for (boundary, n) in live.boundaries() {
        tracks
            .get_or_create(&vec![("boundary", boundary.to_string())])
            .inc_by(n);
    }
    registry.register("hark_tracks", "Tracks reported, by what ended them", tracks);
}

/// The input's alarms and level.
fn health(registry: &mut Registry, live: &Live) {
    let h = live.health();
    let alarms = [
        (
            "hark_dead_air",
            "1 while dead air (silence past health.dead_air_s) goes on",
            h.dead_air,
        ),
        ("hark_clipping", "1 while the input clips", h.clipping),
        (
            "hark_source_lost",
            "1 while the capture device is gone",
            h.source_lost,
        ),
    ];
    for (name, help, on) in alarms {
        gauge(registry, name, help, i64::from(on));
    }
    if let Some(level) = h.level_dbfs {
        let g = Gauge::<f64, AtomicU64>::default();
        g.set(f64::from(level));
        registry.register(
            "hark_input_level_dbfs",
            "Input level of the last second of audio, dBFS",
            g,
        );
    }
}

/// The broker connection and the outbox, when MQTT is on.
fn mqtt(registry: &mut Registry, live: &Live) {
    if let Some(m) = &live.mqtt {
        let st = m.stats();
        gauge(
            registry,
            "hark_outbox_messages",
            "Track messages waiting in the outbox for a PUBACK",
            m.outbox_len() as i64,
        );
        gauge(
            registry,
            "hark_mqtt_connected",
            "1 while the broker connection is up",
            i64::from(m.is_connected()),
        );
        registry.register(
            "hark_mqtt_connects",
            "Accepted broker connections",
            ConstCounter::new(st.connects),
        );
        registry.register(
            "hark_mqtt_connect_failures",
            "Failed connection attempts",
            ConstCounter::new(st.connect_failures),
        );
        registry.register(
            "hark_mqtt_acked",
            "Track messages acknowledged by the broker",
            ConstCounter::new(st.acked),
        );
    }
}

/// Vocabulary reloads and uptime.
fn services(registry: &mut Registry, live: &Live) {
    let reloads = Labelled::default();
    let (applied, refused) = &live.reloads;
    for (result, n) in [("applied", applied), ("refused", refused)] {
        let labels = vec![("result", result.to_string())];
        reloads
            .get_or_create(&labels)
            .inc_by(n.load(Ordering::Relaxed));
    }
    registry.register(
        "hark_vocabulary_reloads",
        "Vocabulary reloads, by result",
        reloads,
    );
    let uptime = Gauge::<f64, AtomicU64>::default();
    uptime.set(live.started.elapsed().as_secs_f64());
    registry.register(
        "hark_uptime_seconds",
        "Seconds since the daemon started",
        uptime,
    );
}

/// The history writer's counters, when the history is on.
fn history(registry: &mut Registry, live: &Live) {
    if let Some(h) = &live.history {
        let counters: [(&str, &str, &AtomicU64); 6] = [
            (
                "hark_history_written",
                "Tracks committed to the history",
                &h.written,
            ),
            (
                "hark_history_dropped",
                "Tracks not stored because the writer fell behind",
                &h.dropped,
            ),
            (
                "hark_history_failures",
                "History writes that failed",
                &h.failures,
            ),
            (
                "hark_history_recoveries",
                "Corrupt history files moved aside",
                &h.recoveries,
            ),
            (
                "hark_history_pruned",
                "Tracks removed by retention",
                &h.pruned,
            ),
            (
                "hark_history_write_bytes",
                "Bytes the history writer passed to write(2)",
                &h.bytes_written,
            ),
        ];
        for (name, help, value) in counters {
            counter(registry, name, help, value);
        }
        let ok = i64::from(matches!(h.state(), DatabaseState::Ok));
        gauge(
            registry,
            "hark_history_tracks",
            "Tracks in the history file",
            h.tracks.load(Ordering::Relaxed) as i64,
        );
        gauge(
            registry,
            "hark_history_db_bytes",
            "Bytes of data in the history file",
            h.used_bytes.load(Ordering::Relaxed) as i64,
        );
        gauge(
            registry,
            "hark_history_ok",
            "1 while the history is being written",
            ok,
        );
    }
}

/// The whole exposition, text.
pub(super) fn render(live: &Live) -> Result<String, std::fmt::Error> {
    let mut registry = Registry::default();
    pipeline(&mut registry, live);
    health(&mut registry, live);
    mqtt(&mut registry, live);
    history(&mut registry, live);
    services(&mut registry, live);
    let mut text = String::new();
    encode(&mut text, &registry)?;
    Ok(text)
}

/// `GET /metrics`.
pub(super) async fn metrics(State(state): State<AppState>) -> Response {
    match render(&state.0.live) {
        Ok(text) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot encode metrics: {e}"),
        )
            .into_response(),
    }
}
