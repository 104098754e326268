//! The JSON API under `/api/`: now playing, tracks, search, health and the vocabulary
//! (read, check, preview, save). Errors are `{"error": ...}` with a status that says whose
//! fault it was; vocabulary errors list every line.

use super::{ApiError, AppState};
use crate::daemon::live::Live;
use crate::history::{DatabaseState, QueryError};
use crate::vocab::{VocabLoadError, VocabularyScorer};
use axum::extract::rejection::{QueryRejection, StringRejection};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::time::SystemTime;

/// Tracks listed when no `limit` is given.
const DEFAULT_LIMIT: usize = 20;
/// Most tracks one request may list or find.
const MAX_LIMIT: usize = 500;
/// Example tracks per tag in a preview.
const PREVIEW_EXAMPLES: usize = 3;

type ApiResult = Result<Json<Value>, ApiError>;

/// `limit` and `since`, as `/api/tracks` and the preview take them.
#[derive(Debug, Default, Deserialize)]
pub(super) struct Window {
    limit: Option<usize>,
    since: Option<String>,
}

impl ApiError {
    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    fn from_query(e: QueryRejection) -> Self {
        Self::new(e.status(), e.body_text())
    }

    fn from_body(e: StringRejection) -> Self {
        Self::new(e.status(), e.body_text())
    }

    /// A vocabulary (or search words) that does not resolve: 422 with every error and its
    /// line, and `outcome` saying what became of the request; anything else (the model
    /// failing) is the server's problem.
    fn from_vocab_said(e: VocabLoadError, outcome: &str) -> Self {
        match e {
            VocabLoadError::Vocabulary(errors) => {
                let list = errors
                    .errors()
                    .iter()
                    .map(|v| json!({ "line": v.line, "message": v.kind.to_string(), "text": v.to_string() }))
                    .collect();
                Self {
                    status: StatusCode::UNPROCESSABLE_ENTITY,
                    message: format!("{} error(s); {outcome}", errors.len()),
                    errors: list,
                }
            }
            other => Self::internal(other.to_string()),
        }
    }

    /// A vocabulary edit that does not resolve: nothing was written.
    fn from_vocab(e: VocabLoadError) -> Self {
        Self::from_vocab_said(e, "nothing was changed, the vocabulary in service stays")
    }

    fn from_query_error(e: QueryError) -> Self {
        match e {
            QueryError::Words(w) => Self::from_vocab_said(w, "nothing was searched"),
            QueryError::History(h) => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("the history cannot be read (no track stored yet?): {h}"),
            ),
        }
    }
}

/// `since` as Unix milliseconds (`i64::MIN`: everything).
fn since_ms(since: Option<&str>) -> Result<i64, ApiError> {
    crate::history::since_ms(since, SystemTime::now())
        .map_err(|e| ApiError::bad_request(e.replacen("--since", "since", 1)))
}

fn limit(given: Option<usize>) -> usize {
    given.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT)
}

/// Runs blocking work (SQLite, the word encoder) off the async thread.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ApiError::internal(format!("worker task failed: {e}")))
}

/// `GET /api/now`: the track in progress (`now` is null between tracks).
pub(super) async fn now(State(state): State<AppState>) -> Json<Value> {
    let live = &state.0.live;
    Json(json!({
        "device": live.device,
        "model": live.model,
        "vocabulary": live.vocabulary.slot.current().identity,
        "now": live.now(),
    }))
}

/// The newest tracks since `since`: from the history when it is on and readable, else from
/// memory. Returns where they came from, the tracks, and why the history was not used.
pub(super) async fn recent_tracks(
    state: &AppState,
    since: Option<&str>,
    limit: usize,
) -> Result<(&'static str, Vec<Value>, Option<String>), ApiError> {
    let from = since_ms(since)?;
    let mut history_error = None;
    if let Some(reader) = state.0.reader.clone() {
        let listed = blocking(move || {
            let mut tracks = Vec::new();
            reader
                .list(from, limit, |t| {
                    tracks.push(serde_json::to_value(t).unwrap_or_default());
                    Ok(())
                })
                .map(|()| tracks)
        })
        .await?;
        match listed {
            Ok(tracks) => return Ok(("history", tracks, None)),
            Err(e) => history_error = Some(e.to_string()),
        }
    }
    let tracks = state
        .0
        .live
        .recent()
        .into_iter()
        .filter(|t| {
            humantime::parse_rfc3339_weak(&t.started_at)
                .map(crate::history::store::unix_ms)
                .ok()
                .is_none_or(|ms| ms >= from)
        })
        .take(limit)
        .map(|t| serde_json::to_value(t).unwrap_or_default())
        .collect();
    Ok(("memory", tracks, history_error))
}

/// `GET /api/tracks?limit=&since=`: the newest tracks, newest first.
pub(super) async fn tracks(
    State(state): State<AppState>,
    query: Result<Query<Window>, QueryRejection>,
) -> ApiResult {
    let Query(q) = query.map_err(ApiError::from_query)?;
    let (source, tracks, history_error) =
        recent_tracks(&state, q.since.as_deref(), limit(q.limit)).await?;
    Ok(Json(
        json!({ "source": source, "tracks": tracks, "history_error": history_error }),
    ))
}

/// Search words from `q` parameters: each may hold several, separated by commas.
pub(super) fn query_words(params: &[(String, String)]) -> Vec<String> {
    params
        .iter()
        .filter(|(k, _)| k == "q")
        .flat_map(|(_, v)| v.split(','))
        .map(|w| w.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|w| !w.is_empty())
        .collect()
}

/// The value of parameter `key`, if given and not blank.
pub(super) fn param<'a>(params: &'a [(String, String)], key: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.trim().is_empty())
}

/// Ranks the stored tracks by `words`, best first.
pub(super) async fn run_search(
    state: &AppState,
    words: Vec<String>,
    since: Option<&str>,
    limit: usize,
) -> Result<crate::history::search::SearchResult, ApiError> {
    let Some(reader) = state.0.reader.clone() else {
        return Err(history_off());
    };
    if words.is_empty() {
        return Err(ApiError::bad_request(
            "no search words: give q=word or q=a phrase,another",
        ));
    }
    let from = since_ms(since)?;
    blocking(move || reader.search(&words, from, limit))
        .await?
        .map_err(ApiError::from_query_error)
}

fn history_off() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "the history is off (history.enabled = false): there are no stored tracks to search or preview against",
    )
}

/// `GET /api/search?q=words&since=&limit=`: stored tracks ranked by any words.
pub(super) async fn search(
    State(state): State<AppState>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> ApiResult {
    let Query(params) = query.map_err(ApiError::from_query)?;
    let lim = match param(&params, "limit") {
        Some(l) => l
            .trim()
            .parse()
            .map_err(|_| ApiError::bad_request(format!("limit {l:?} is not a whole number")))?,
        None => DEFAULT_LIMIT,
    };
    let words = query_words(&params);
    let result = run_search(
        &state,
        words.clone(),
        param(&params, "since"),
        limit(Some(lim)),
    )
    .await?;
    Ok(Json(json!({ "words": words, "result": result })))
}

/// What the health panel, `/api/health` and a person's first question need.
#[derive(Debug, Serialize)]
pub(super) struct HealthReport {
    /// `waiting` (no audio yet), `up` or `lost`.
    pub source: &'static str,
    /// Input level of the last second of audio, dBFS.
    pub level_dbfs: Option<f32>,
    /// Dead air now.
    pub dead_air: bool,
    /// Clipping now.
    pub clipping: bool,
    /// The capture device is gone.
    pub source_lost: bool,
    /// Stream seconds of the last health change.
    pub changed_at_s: f64,
    /// Samples captured.
    pub samples: u64,
    /// Samples dropped because the pipeline was full.
    pub dropped_samples: u64,
    /// Times the device was reopened.
    pub source_restarts: u64,
    /// Windows embedded.
    pub windows: u64,
    /// Windows the encoder failed on.
    pub encoder_failures: u64,
    /// Holes in the audio.
    pub gaps: u64,
    /// Tracks reported.
    pub tracks: u64,
    /// `off`, `connected` or `disconnected`.
    pub broker: &'static str,
    /// Track messages waiting in the outbox (absent when MQTT is off).
    pub outbox: Option<usize>,
    /// `off`, `starting`, `ok` or `failing`.
    pub database: &'static str,
    /// Why the database is failing.
    pub database_error: Option<String>,
    /// Tracks in the history file.
    pub stored_tracks: Option<u64>,
    /// Bytes of data in the history file.
    pub database_bytes: Option<u64>,
    /// Vocabulary identity in service.
    pub vocabulary: String,
    /// Seconds since the daemon started.
    pub uptime_s: f64,
}

/// The health now, read from the live counters.
pub(super) fn health_report(live: &Live) -> HealthReport {
    let h = live.health();
    let (p, s) = (&live.pipeline, &live.source);
    let samples = s.samples.load(Ordering::Relaxed);
    let (database, database_error) = match live.history.as_ref().map(|db| db.state()) {
        None | Some(DatabaseState::Disabled) => ("off", None),
        Some(DatabaseState::Starting) => ("starting", None),
        Some(DatabaseState::Ok) => ("ok", None),
        Some(DatabaseState::Failing { error }) => ("failing", Some(error)),
    };
    HealthReport {
        source: match (h.source_lost, samples) {
            (true, _) => "lost",
            (false, 0) => "waiting",
            _ => "up",
        },
        level_dbfs: h.level_dbfs,
        dead_air: h.dead_air,
        clipping: h.clipping,
        source_lost: h.source_lost,
        changed_at_s: h.changed_at_s,
        samples,
        dropped_samples: s.dropped_samples.load(Ordering::Relaxed),
        source_restarts: s.restarts.load(Ordering::Relaxed),
        windows: p.windows.load(Ordering::Relaxed),
        encoder_failures: p.encoder_failures.load(Ordering::Relaxed),
        gaps: p.gaps.load(Ordering::Relaxed),
        tracks: p.tracks.load(Ordering::Relaxed),
        broker: match &live.mqtt {
            None => "off",
            Some(m) if m.is_connected() => "connected",
            Some(_) => "disconnected",
        },
        outbox: live.mqtt.as_ref().map(|m| m.outbox_len()),
        database,
        database_error,
        stored_tracks: live
            .history
            .as_ref()
            .map(|h| h.tracks.load(Ordering::Relaxed)),
        database_bytes: live
            .history
            .as_ref()
            .map(|h| h.used_bytes.load(Ordering::Relaxed)),
        vocabulary: live.vocabulary.slot.current().identity.clone(),
        uptime_s: live.started.elapsed().as_secs_f64(),
    }
}

/// `GET /api/health`.
pub(super) async fn health(State(state): State<AppState>) -> Json<HealthReport> {
    Json(health_report(&state.0.live))
}

/// `GET /api/vocabulary`: the file's text and the vocabulary in service.
pub(super) async fn vocabulary(State(state): State<AppState>) -> ApiResult {
    let live = &state.0.live;
    let path = live.vocabulary.path.clone();
    let text = tokio::fs::read_to_string(&path)
        .await
        .map_err(|e| ApiError::internal(format!("cannot read {}: {e}", path.display())))?;
    let current = live.vocabulary.slot.current();
    Ok(Json(json!({
        "path": path.display().to_string(),
        "text": text,
        "identity": current.identity,
        "tags": current.scorer.len(),
        "reloads": {
            "applied": live.reloads.0.load(Ordering::Relaxed),
            "refused": live.reloads.1.load(Ordering::Relaxed),
        },
    })))
}

/// Resolves and embeds proposed vocabulary text exactly as a reload of the file would.
async fn compile(state: &AppState, text: String) -> Result<VocabularyScorer, ApiError> {
    let reloader = state.0.live.vocabulary.clone();
    blocking(move || {
        crate::vocab::scorer_from_text(&reloader.model, &reloader.glove, &text, &reloader.path)
    })
    .await?
    .map_err(ApiError::from_vocab)
}

/// `POST /api/vocabulary/check` (body: the text): 200 with the tags it resolves to, or 422
/// with every error and its line.
pub(super) async fn check(
    State(state): State<AppState>,
    body: Result<String, StringRejection>,
) -> ApiResult {
    let text = body.map_err(ApiError::from_body)?;
    let scorer = compile(&state, text).await?;
    let labels: Vec<&str> = scorer
        .scorer
        .tags()
        .iter()
        .map(|t| t.label.as_str())
        .collect();
    Ok(Json(json!({
        "ok": true,
        "tags": labels.len(),
        "labels": labels,
        "identity": scorer.identity,
    })))
}

/// `POST /api/vocabulary/preview?since=` (body: the text): what it would have tagged among
/// the stored tracks, against the vocabulary in service.
pub(super) async fn preview(
    State(state): State<AppState>,
    query: Result<Query<Window>, QueryRejection>,
    body: Result<String, StringRejection>,
) -> ApiResult {
    let Query(q) = query.map_err(ApiError::from_query)?;
    let text = body.map_err(ApiError::from_body)?;
    let Some(reader) = state.0.reader.clone() else {
        return Err(history_off());
    };
    let from = since_ms(q.since.as_deref())?;
    let proposed = compile(&state, text).await?;
    let in_service = state.0.live.vocabulary.slot.current();
    let identity = proposed.identity.clone();
    let preview = blocking(move || {
        reader.preview(&in_service.scorer, &proposed.scorer, from, PREVIEW_EXAMPLES)
    })
    .await?
    .map_err(ApiError::from_query_error)?;
    Ok(Json(json!({ "identity": identity, "preview": preview })))
}

/// `PUT /api/vocabulary` (body: the text): checked first (422 and nothing written on any
/// error), then written atomically over the file and reloaded as any edit of it is. A PUT,
/// so another site's page cannot send it without a CORS preflight this server never grants.
pub(super) async fn save(
    State(state): State<AppState>,
    body: Result<String, StringRejection>,
) -> ApiResult {
    let text = body.map_err(ApiError::from_body)?;
    let _one_at_a_time = state.0.saving.lock().await;
    compile(&state, text.clone()).await?;
    let live = state.0.live.clone();
    let reloader = live.vocabulary.clone();
    // Written and reloaded in one blocking task: it finishes even if the client goes away,
    // so the file and the vocabulary in service never part.
    let message = blocking(move || {
        crate::fsutil::write_atomic(&reloader.path, text.as_bytes())?;
        Ok::<_, std::io::Error>(reloader.reload("web"))
    })
    .await?
    .map_err(|e| {
        ApiError::internal(format!(
            "cannot write {}: {e}; the vocabulary in service stays",
            live.vocabulary.path.display()
        ))
    })?
    .ok_or_else(|| ApiError::internal("the reload said nothing".to_string()))?;
    live.vocabulary_reloaded(&message);
    if !message.ok {
        // The file changed again between the check and the reload (another editor).
        let mut e = ApiError::new(
            StatusCode::CONFLICT,
            "the file was written but refused on reload (edited meanwhile?)",
        );
        e.errors = message
            .errors
            .iter()
            .map(|m| json!({ "text": m }))
            .collect();
        return Err(e);
    }
    Ok(Json(serde_json::to_value(&message).unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn search_words_split_on_commas_and_repeat_and_keep_phrases() {
        let p = params(&[
            ("q", "melancholic, solo  piano"),
            ("since", "7d"),
            ("q", " ambient ,, "),
        ]);
        assert_eq!(
            query_words(&p),
            vec!["melancholic", "solo piano", "ambient"]
        );
        assert_eq!(param(&p, "since"), Some("7d"));
        assert_eq!(param(&params(&[("since", "  ")]), "since"), None);
        assert!(query_words(&params(&[("q", " , ")])).is_empty());
    }

    #[test]
    fn limits_are_clamped_and_since_errors_name_the_parameter() {
        assert_eq!(limit(None), DEFAULT_LIMIT);
        assert_eq!(limit(Some(0)), 1);
        assert_eq!(limit(Some(1_000_000)), MAX_LIMIT);
        let e = since_ms(Some("yesterday-ish")).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(e.message.starts_with("since "), "{}", e.message);
    }
}
