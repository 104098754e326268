//! The web page: one server-rendered HTML page (now playing, health, recent tracks, search,
//! the vocabulary editor) with a little inline JavaScript that polls `/api/` to keep it
//! current and drives the vocabulary buttons. No external assets, no build step. Every piece
//! of text from the daemon is escaped here, and the script only ever sets `textContent`.

use super::api::{self, HealthReport};
use super::{ApiError, AppState};
use crate::history::search::SearchResult;
use crate::score::TagScore;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::Html;
use serde_json::Value;
use std::fmt::Write;

/// Tracks shown in the recent list.
const RECENT: usize = 20;
/// Hits shown for a search.
const HITS: usize = 20;

/// `s` with the five characters HTML gives meaning to replaced by entities.
pub(super) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// An RFC 3339 time as the page shows it: date and time to the second, UTC.
fn short_time(rfc3339: &str) -> String {
    rfc3339.get(..19).unwrap_or(rfc3339).replace('T', " ")
}

fn tag_list(out: &mut String, tags: &[TagScore]) {
    out.push_str("<ul class=\"tags\">");
    for t in tags {
        let width = (t.score.clamp(0.0, 1.0) * 100.0).round();
        let _ = write!(
            out,
            "<li class=\"tag\" style=\"--w:{width}%\"><span class=\"name\">{}</span> <span class=\"score\">{:.2}</span></li>",
            escape(&t.tag),
            t.score
        );
    }
    out.push_str("</ul>");
}

fn tags_of(v: &Value) -> Vec<TagScore> {
    let tags = v["tags"].as_array().map(Vec::as_slice).unwrap_or_default();
    tags.iter()
        .filter_map(|t| {
            Some(TagScore {
                tag: t["tag"].as_str()?.to_string(),
                score: t["score"].as_f64()? as f32,
            })
        })
        .collect()
}

/// One track (a history row or a track message) as a list item.
fn track_item(out: &mut String, v: &Value) {
    let _ = write!(
        out,
        "<li class=\"track\"><div class=\"when\">{} · {:.0} s · {}</div>",
        escape(&short_time(v["started_at"].as_str().unwrap_or_default())),
        v["duration_s"].as_f64().unwrap_or_default(),
        escape(v["boundary"].as_str().unwrap_or_default()),
    );
    let tags = tags_of(v);
    if tags.is_empty() {
        out.push_str("<p class=\"muted\">no tag passed its threshold</p>");
    } else {
        tag_list(out, &tags);
    }
    out.push_str("</li>");
}

fn now_section(out: &mut String, state: &AppState) {
    let live = &state.0.live;
    out.push_str("<section id=\"now\"><h2>Now playing</h2><div id=\"now-tags\">");
    let now = live.now();
    match &now {
        Some(n) if !n.tags.is_empty() => tag_list(out, &n.tags),
        Some(_) => {
            out.push_str("<p class=\"muted\">Listening; no tag passes its threshold yet.</p>")
        }
        None => out.push_str("<p class=\"muted\">Between tracks: waiting for the next window.</p>"),
    }
    out.push_str("</div><p id=\"now-meta\" class=\"muted\">");
    if let Some(n) = &now {
        let unit = if n.windows == 1 { "window" } else { "windows" };
        let _ = write!(
            out,
            "{} {unit} since {}",
            n.windows,
            escape(&short_time(&n.started_at))
        );
    }
    out.push_str("</p></section>");
}

/// The health rows: label, value, and whether the value is an alarm.
fn health_rows(h: &HealthReport) -> Vec<(&'static str, String, bool)> {
    let yes_no = |b: bool| if b { "yes" } else { "no" }.to_string();
    let mut rows = vec![
        ("Source", h.source.to_string(), h.source == "lost"),
        (
            "Level",
            h.level_dbfs.map_or("–".into(), |l| format!("{l:.1} dBFS")),
            false,
        ),
        ("Dead air", yes_no(h.dead_air), h.dead_air),
        ("Clipping", yes_no(h.clipping), h.clipping),
        ("Source lost", yes_no(h.source_lost), h.source_lost),
        (
            "Dropped audio",
            format!("{} samples", h.dropped_samples),
            h.dropped_samples > 0,
        ),
        ("Gaps", h.gaps.to_string(), false),
        (
            "Windows",
            format!("{} ({} failed)", h.windows, h.encoder_failures),
            h.encoder_failures > 0,
        ),
        ("Tracks", h.tracks.to_string(), false),
        ("Broker", h.broker.to_string(), h.broker == "disconnected"),
    ];
    if let Some(n) = h.outbox {
        rows.push(("Outbox", format!("{n} waiting"), false));
    }
    let db = match (&h.database_error, h.stored_tracks) {
        (Some(e), _) => format!("{}: {e}", h.database),
        (None, Some(n)) => format!(
            "{} · {n} tracks · {:.1} MB",
            h.database,
            h.database_bytes.unwrap_or_default() as f64 / 1e6
        ),
        (None, None) => h.database.to_string(),
    };
    rows.push(("Database", db, h.database == "failing"));
    rows.push(("Uptime", format!("{:.0} s", h.uptime_s), false));
    rows
}

fn health_section(out: &mut String, state: &AppState) {
    let report = api::health_report(&state.0.live);
    out.push_str("<section id=\"health\"><h2>Health</h2><dl id=\"health-list\">");
    for (label, value, alarm) in health_rows(&report) {
        let class = if alarm { " class=\"alarm\"" } else { "" };
        let _ = write!(out, "<dt>{label}</dt><dd{class}>{}</dd>", escape(&value));
    }
    out.push_str("</dl></section>");
}

async fn recent_section(out: &mut String, state: &AppState) {
    out.push_str(
        "<section id=\"recent\"><h2>Recent tracks</h2><ol id=\"recent-list\" class=\"tracks\">",
    );
    match api::recent_tracks(state, None, RECENT).await {
        Ok((_, tracks, _)) if tracks.is_empty() => {
            out.push_str("<li class=\"muted\">No track finished yet.</li>")
        }
        Ok((_, tracks, _)) => tracks.iter().for_each(|t| track_item(out, t)),
        Err(e) => {
            let _ = write!(out, "<li class=\"error\">{}</li>", escape(&e.message));
        }
    }
    out.push_str("</ol></section>");
}

fn search_hits(out: &mut String, result: &SearchResult) {
    if result.hits.is_empty() {
        let _ = write!(
            out,
            "<p class=\"muted\">No stored track matches ({} scanned).</p>",
            result.scanned.scored
        );
        return;
    }
    out.push_str("<ol class=\"tracks\">");
    for hit in &result.hits {
        let t = &hit.track;
        let words: Vec<String> = hit
            .words
            .iter()
            .map(|w| format!("{} {:.2}", w.tag, w.score))
            .collect();
        let _ = write!(
            out,
            "<li class=\"track\"><div class=\"when\"><b>{:.2}</b> · {} · {:.0} s</div><div class=\"words\">{}</div>",
            hit.score,
            escape(&short_time(&t.started_at)),
            t.duration_s,
            escape(&words.join(" · "))
        );
        tag_list(out, &t.tags);
        out.push_str("</li>");
    }
    out.push_str("</ol>");
}

async fn search_section(out: &mut String, state: &AppState, params: &[(String, String)]) {
    let words = api::query_words(params);
    let since = api::param(params, "since");
    let q_text = params
        .iter()
        .filter(|(k, _)| k == "q")
        .map(|(_, v)| v.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let _ = write!(
        out,
        "<section id=\"search\"><h2>Search the history</h2>\
         <form id=\"search-form\" action=\"/\" method=\"get\">\
         <input id=\"search-q\" name=\"q\" value=\"{}\" placeholder=\"any words: melancholic, solo piano\" aria-label=\"words\">\
         <input id=\"search-since\" name=\"since\" value=\"{}\" placeholder=\"since: 7d\" aria-label=\"since\" class=\"short\">\
         <button id=\"search-go\">Search</button></form><div id=\"search-results\">",
        escape(&q_text),
        escape(since.unwrap_or_default())
    );
    if state.0.reader.is_none() {
        out.push_str("<p class=\"muted\">The history is off (<code>history.enabled = false</code>): nothing is stored to search.</p>");
    } else if !words.is_empty() {
        match api::run_search(state, words, since, HITS).await {
            Ok(result) => search_hits(out, &result),
            Err(e) => error_block(out, &e),
        }
    }
    out.push_str("</div></section>");
}

fn error_block(out: &mut String, e: &ApiError) {
    let _ = write!(out, "<p class=\"error\">{}</p>", escape(&e.message));
    if !e.errors.is_empty() {
        out.push_str("<ul class=\"errors\">");
        for item in &e.errors {
            let text = item["text"].as_str().unwrap_or_default();
            let _ = write!(out, "<li>{}</li>", escape(text));
        }
        out.push_str("</ul>");
    }
}

async fn vocabulary_section(out: &mut String, state: &AppState) {
    let reloader = &state.0.live.vocabulary;
    let current = reloader.slot.current();
    let text = tokio::fs::read_to_string(&reloader.path)
        .await
        .unwrap_or_else(|e| format!("# cannot read {}: {e}\n", reloader.path.display()));
    let preview = if state.0.reader.is_some() {
        "<button type=\"button\" id=\"vocab-preview\">Preview</button>"
    } else {
        "<button type=\"button\" id=\"vocab-preview\" disabled title=\"needs history.enabled\">Preview</button>"
    };
    let _ = write!(
        out,
        "<section id=\"vocabulary\"><h2>Vocabulary</h2>\
         <p class=\"muted\">File <code>{}</code>. In service: <code id=\"vocab-identity\">{}</code>, \
         <span id=\"vocab-count\">{}</span> tags. One tag a line: <code>word</code>, <code>a phrase</code>, \
         <code>name = other words</code>, <code>tag @0.45</code>; <code>#</code> starts a comment.</p>\
         <textarea id=\"vocab-text\" spellcheck=\"false\" rows=\"14\" aria-label=\"vocabulary\">\n{}</textarea>\
         <div class=\"buttons\"><button type=\"button\" id=\"vocab-check\">Check</button>{preview}\
         <button type=\"button\" id=\"vocab-save\" class=\"primary\">Save</button></div>\
         <p id=\"vocab-status\" role=\"status\"></p><ul id=\"vocab-errors\" class=\"errors\"></ul>\
         <div id=\"vocab-preview-out\"></div></section>",
        escape(&reloader.path.display().to_string()),
        escape(&current.identity),
        current.scorer.len(),
        escape(&text)
    );
}

/// `GET /?q=&since=`: the page, with search results when `q` is given (so it also works
/// without JavaScript).
pub(super) async fn index(
    State(state): State<AppState>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Html<String> {
    let params = query.map(|Query(p)| p).unwrap_or_default();
    let device = escape(&state.0.live.device);
    let mut out = String::with_capacity(24 * 1024);
    let _ = write!(
        out,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>hark · {device}</title><style>{STYLE}</style></head><body>\
         <header><h1>hark</h1><span class=\"device\">{device}</span><nav>\
         <a href=\"#now\">Now</a><a href=\"#recent\">Recent</a><a href=\"#search\">Search</a>\
         <a href=\"#vocabulary\">Vocabulary</a><a href=\"#health\">Health</a></nav></header><main>"
    );
    now_section(&mut out, &state);
    health_section(&mut out, &state);
    recent_section(&mut out, &state).await;
    search_section(&mut out, &state, &params).await;
    vocabulary_section(&mut out, &state).await;
    let _ = write!(
        out,
        "</main><footer class=\"muted\">{} · <a href=\"/metrics\">metrics</a> · <a href=\"/api/health\">api</a></footer>\
         <script>{SCRIPT}</script></body></html>",
        escape(&state.0.live.model)
    );
    Html(out)
}

/// The page's style: system fonts, one column on a phone, two on a wide screen.
const STYLE: &str = r#"
:root{--bg:#f6f7f9;--card:#fff;--fg:#1d2330;--muted:#667085;--accent:#2f6fed;--bar:#dbe6fd;--bad:#c0362c;--ok:#1f7a3f;--line:#e3e6eb}
@media (prefers-color-scheme:dark){:root{--bg:#14171c;--card:#1d2129;--fg:#e6e8ec;--muted:#98a2b3;--accent:#7aa2ff;--bar:#263a66;--bad:#ff7b72;--ok:#56d364;--line:#2d333b}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:16px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
header{display:flex;flex-wrap:wrap;align-items:baseline;gap:.3rem 1rem;padding:.8rem 1rem;background:var(--card);border-bottom:1px solid var(--line)}
header h1{margin:0;font-size:1.3rem}
header nav{display:flex;flex-wrap:wrap;gap:.8rem;margin-left:auto}
a{color:var(--accent)}
main{display:grid;gap:1rem;padding:1rem;max-width:70rem;margin:0 auto;grid-template-columns:1fr}
@media (min-width:52rem){main{grid-template-columns:1fr 1fr}#search,#vocabulary{grid-column:1/-1}}
section{background:var(--card);border:1px solid var(--line);border-radius:.6rem;padding:.8rem 1rem;min-width:0}
h2{font-size:1.05rem;margin:0 0 .6rem}
.muted{color:var(--muted)}
.device{color:var(--muted)}
.tags{list-style:none;margin:.3rem 0;padding:0;display:flex;flex-wrap:wrap;gap:.35rem}
.tag{position:relative;padding:.15rem .55rem;border-radius:1rem;border:1px solid var(--line);background:linear-gradient(90deg,var(--bar) var(--w,0%),transparent var(--w,0%))}
.tag .score{color:var(--muted);font-size:.85em;font-variant-numeric:tabular-nums}
#now-tags .tag{font-size:1.15rem}
.tracks{list-style:none;margin:0;padding:0}
.track{padding:.45rem 0;border-top:1px solid var(--line)}
.track:first-child{border-top:0}
.when,.words{font-size:.9rem;color:var(--muted)}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem;margin:0}
dt{color:var(--muted)}
dd{margin:0;font-variant-numeric:tabular-nums;overflow-wrap:anywhere}
dd.alarm{color:var(--bad);font-weight:600}
form{display:flex;flex-wrap:wrap;gap:.5rem}
input{flex:1 1 12rem;min-width:0;padding:.45rem .6rem;border:1px solid var(--line);border-radius:.4rem;background:var(--bg);color:var(--fg);font:inherit}
input.short{flex:0 1 7rem}
button{padding:.45rem .9rem;border:1px solid var(--line);border-radius:.4rem;background:var(--bg);color:var(--fg);font:inherit;cursor:pointer}
button.primary{background:var(--accent);border-color:var(--accent);color:#fff}
button:disabled{opacity:.5;cursor:default}
textarea{width:100%;min-height:14rem;padding:.6rem;border:1px solid var(--line);border-radius:.4rem;background:var(--bg);color:var(--fg);font:14px/1.4 ui-monospace,SFMono-Regular,Menlo,monospace}
.buttons{display:flex;gap:.5rem;margin:.5rem 0}
.error,.errors{color:var(--bad)}
.ok{color:var(--ok)}
.errors{margin:.3rem 0;padding-left:1.2rem}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{text-align:left;padding:.2rem .4rem;border-top:1px solid var(--line)}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.scroll{overflow-x:auto}
code{overflow-wrap:anywhere}
footer{text-align:center;padding:1rem;font-size:.85rem}
"#;

/// The page's behaviour: polling `/api/` and the vocabulary buttons. Text goes in through
/// `textContent` only, so nothing the daemon says can become markup.
const SCRIPT: &str = r#"
"use strict";
const $ = (id) => document.getElementById(id);
function el(tag, cls, text) { const e = document.createElement(tag); if (cls) e.className = cls; if (text !== undefined) e.textContent = text; return e; }
function shortTime(s) { return (s || "").slice(0, 19).replace("T", " "); }
function tagList(tags) {
  const ul = el("ul", "tags");
  for (const t of tags || []) {
    const li = el("li", "tag");
    li.style.setProperty("--w", Math.round(Math.max(0, Math.min(1, t.score)) * 100) + "%");
    li.append(el("span", "name", t.tag), " ", el("span", "score", t.score.toFixed(2)));
    ul.append(li);
  }
  return ul;
}
async function api(method, url, body) {
  const init = { method, credentials: "same-origin" };
  if (body !== undefined) { init.body = body; init.headers = { "Content-Type": "text/plain; charset=utf-8" }; }
  const r = await fetch(url, init);
  let data = null;
  try { data = await r.json(); } catch (e) { data = { error: "HTTP " + r.status }; }
  return { status: r.status, ok: r.ok, data };
}
function trackItem(t, hit) {
  const li = el("li", "track");
  const when = el("div", "when");
  if (hit) { when.append(el("b", "", hit.score.toFixed(2)), " · "); }
  when.append(shortTime(t.started_at) + " · " + Math.round(t.duration_s) + " s" + (hit ? "" : " · " + t.boundary));
  li.append(when);
  if (hit) { li.append(el("div", "words", hit.words.map((w) => w.tag + " " + w.score.toFixed(2)).join(" · "))); }
  if ((t.tags || []).length) li.append(tagList(t.tags)); else li.append(el("p", "muted", "no tag passed its threshold"));
  return li;
}
let lastTrackStart = null;
async function pollNow() {
  try {
    const { ok, data } = await api("GET", "/api/now");
    if (ok) {
      const box = $("now-tags"), meta = $("now-meta"), n = data.now;
      box.replaceChildren();
      if (!n) { box.append(el("p", "muted", "Between tracks: waiting for the next window.")); meta.textContent = ""; }
      else {
        if (n.tags.length) box.append(tagList(n.tags)); else box.append(el("p", "muted", "Listening; no tag passes its threshold yet."));
        meta.textContent = n.windows + (n.windows === 1 ? " window" : " windows") + " since " + shortTime(n.started_at);
      }
      const start = n ? n.started_at : null;
      if (start !== lastTrackStart) { lastTrackStart = start; refreshRecent(); refreshHealth(); }
    }
  } catch (e) { /* the daemon restarts; try again */ }
  setTimeout(pollNow, 2000);
}
async function refreshRecent() {
  try {
    const { ok, data } = await api("GET", "/api/tracks?limit=20");
    if (!ok) return;
    const list = $("recent-list");
    list.replaceChildren();
    if (!data.tracks.length) list.append(el("li", "muted", "No track finished yet."));
    for (const t of data.tracks) list.append(trackItem(t));
  } catch (e) {}
}
function healthRows(h) {
  const yn = (b) => (b ? "yes" : "no");
  const rows = [
    ["Source", h.source, h.source === "lost"],
    ["Level", h.level_dbfs == null ? "–" : h.level_dbfs.toFixed(1) + " dBFS", false],
    ["Dead air", yn(h.dead_air), h.dead_air], ["Clipping", yn(h.clipping), h.clipping],
    ["Source lost", yn(h.source_lost), h.source_lost],
    ["Dropped audio", h.dropped_samples + " samples", h.dropped_samples > 0],
    ["Gaps", String(h.gaps), false],
    ["Windows", h.windows + " (" + h.encoder_failures + " failed)", h.encoder_failures > 0],
    ["Tracks", String(h.tracks), false], ["Broker", h.broker, h.broker === "disconnected"],
  ];
  if (h.outbox != null) rows.push(["Outbox", h.outbox + " waiting", false]);
  let db = h.database;
  if (h.database_error) db += ": " + h.database_error;
  else if (h.stored_tracks != null) db += " · " + h.stored_tracks + " tracks · " + ((h.database_bytes || 0) / 1e6).toFixed(1) + " MB";
  rows.push(["Database", db, h.database === "failing"], ["Uptime", Math.round(h.uptime_s) + " s", false]);
  return rows;
}
async function refreshHealth() {
  try {
    const { ok, data } = await api("GET", "/api/health");
    if (!ok) return;
    const dl = $("health-list");
    dl.replaceChildren();
    for (const [label, value, alarm] of healthRows(data)) { dl.append(el("dt", "", label), el("dd", alarm ? "alarm" : "", value)); }
  } catch (e) {}
}
async function pollHealth() { await refreshHealth(); setTimeout(pollHealth, 5000); }
$("search-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const out = $("search-results"), q = $("search-q").value, since = $("search-since").value;
  const url = "/api/search?q=" + encodeURIComponent(q) + (since.trim() ? "&since=" + encodeURIComponent(since) : "");
  out.replaceChildren(el("p", "muted", "Searching…"));
  const { ok, data } = await api("GET", url);
  out.replaceChildren();
  if (!ok) { showError(out, data); return; }
  const hits = data.result.hits;
  if (!hits.length) { out.append(el("p", "muted", "No stored track matches (" + data.result.scanned.scored + " scanned).")); return; }
  const ol = el("ol", "tracks");
  for (const h of hits) ol.append(trackItem(h, h));
  out.append(ol);
});
function showError(into, data) {
  into.append(el("p", "error", data.error || "failed"));
  if (data.errors && data.errors.length) {
    const ul = el("ul", "errors");
    for (const e of data.errors) ul.append(el("li", "", e.line ? "line " + e.line + ": " + e.message : (e.text || e.message)));
    into.append(ul);
  }
}
function vocabResult(ok, text, data) {
  const status = $("vocab-status"), errors = $("vocab-errors");
  status.className = ok ? "ok" : "error";
  status.textContent = text;
  errors.replaceChildren();
  for (const e of (data && data.errors) || []) errors.append(el("li", "", e.line ? "line " + e.line + ": " + e.message : (e.text || e.message)));
}
async function vocabCall(method, url) {
  $("vocab-preview-out").replaceChildren();
  $("vocab-status").className = "muted";
  $("vocab-status").textContent = "Working…";
  return api(method, url, $("vocab-text").value);
}
$("vocab-check").addEventListener("click", async () => {
  const { ok, data } = await vocabCall("POST", "/api/vocabulary/check");
  vocabResult(ok, ok ? "No errors: " + data.tags + " tags (" + data.identity + ")." : data.error, data);
});
$("vocab-save").addEventListener("click", async () => {
  const { ok, data } = await vocabCall("PUT", "/api/vocabulary");
  if (ok) { $("vocab-identity").textContent = data.vocabulary; $("vocab-count").textContent = data.tags; }
  vocabResult(ok, ok ? "Saved and in service: " + data.vocabulary + ", " + data.tags + " tags." : data.error, data);
});
$("vocab-preview").addEventListener("click", async () => {
  const { ok, data } = await vocabCall("POST", "/api/vocabulary/preview");
  vocabResult(ok, ok ? "Preview of " + data.identity + " against the vocabulary in service:" : data.error, data);
  if (ok) renderPreview(data.preview);
});
function renderPreview(p) {
  const out = $("vocab-preview-out");
  out.append(el("p", "", p.scanned.scored + " stored tracks compared (" + p.scanned.other_models + " of other models left out); the top tag would change on " + p.top_changed + "; untagged: " + p.untagged[0] + " (now " + p.untagged[1] + ")."));
  if (p.appear.length) out.append(el("p", "", "Would appear: " + p.appear.join(", ")));
  if (p.vanish.length) out.append(el("p", "", "Would vanish: " + p.vanish.join(", ")));
  const table = el("table"), head = el("tr");
  for (const h of ["Tag", "Change", "In service", "Proposed", "As top"]) head.append(el("th", "", h));
  table.append(head);
  for (const t of p.tags) {
    const tr = el("tr");
    tr.append(el("td", "", t.tag), el("td", "", t.change), el("td", "n", String(t.tracks_in_service)), el("td", "n", String(t.tracks_proposed)), el("td", "n", String(t.top_proposed)));
    table.append(tr);
  }
  const wrap = el("div", "scroll");
  wrap.append(table);
  out.append(wrap);
}
pollNow();
setTimeout(pollHealth, 5000);
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_leaves_no_markup() {
        assert_eq!(
            escape(r#"<script>alert("x&y")</script> it's"#),
            "&lt;script&gt;alert(&quot;x&amp;y&quot;)&lt;/script&gt; it&#39;s"
        );
        assert_eq!(
            short_time("2026-11-22T08:40:18.993Z"),
            "2026-11-22 08:40:18"
        );
        assert_eq!(short_time("short"), "short");
    }

    #[test]
    fn a_tag_list_escapes_labels_and_bounds_its_bars() {
        let mut out = String::new();
        tag_list(
            &mut out,
            &[TagScore {
                tag: "<b>".into(),
                score: 1.7,
            }],
        );
        assert!(out.contains("&lt;b&gt;"), "{out}");
        assert!(out.contains("--w:100%"), "{out}");
        assert!(!out.contains("<b>"), "{out}");
    }
}
