//! Reading a report (or a bare results JSON) back: the results embedded in the HTML by
//! [`super::render_report`], checked for format and version; version-1 documents are converted
//! ([`crate::results::migrate_v1`]).

use serde_json::Value;

use super::RESULTS_SCRIPT_ID;
use crate::registries::Registries;
use crate::results::{ExperimentResults, RESULTS_FORMAT, RESULTS_VERSION, migrate_v1};

/// Why a file could not be imported.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReportError {
    /// Not a biaslens report or results file.
    #[error("not a biaslens report: {0}")]
    NotAReport(String),
    /// Written by a newer biaslens.
    #[error("these results are format version {found}, newer than this biaslens reads (version {supported}); update biaslens")]
    FutureVersion {
        /// The file's version.
        found: u64,
        /// The newest version this build reads.
        supported: u32,
    },
    /// The embedded JSON is broken or was edited into something that does not fit.
    #[error("the results in this file are damaged: {0}")]
    Broken(String),
}

/// Reads results back from a report made by [`render_report`] or from the bare results JSON.
///
/// # Errors
/// [`ReportError::NotAReport`] for other files (including an experiment *config*),
/// [`ReportError::FutureVersion`] for a newer format, [`ReportError::Broken`] for damaged JSON.
pub fn import_report(html_or_json: &str) -> Result<ExperimentResults, ReportError> {
    let text = html_or_json.trim_start_matches('\u{feff}').trim();
    let json = if text.starts_with('{') {
        text
    } else {
        let marker = format!("id=\"{RESULTS_SCRIPT_ID}\"");
        let Some(at) = text.find(&marker) else {
            let lower = text.get(..text.len().min(512)).unwrap_or("").to_ascii_lowercase();
            return Err(ReportError::NotAReport(if lower.contains("<html") || lower.contains("<!doctype") {
                "this HTML file has no embedded biaslens results (was it saved from another page?)".into()
            } else {
                "expected a biaslens report (.html) or results (.json) file".into()
            }));
        };
        let after = &text[at..];
        let open = after.find('>').ok_or_else(|| ReportError::Broken("the results element is cut off".into()))?;
        let body = &after[open + 1..];
        let close = body.find("</script>").ok_or_else(|| ReportError::Broken("the results element is never closed (file cut short?)".into()))?;
        body[..close].trim()
    };
    let value: Value = serde_json::from_str(json).map_err(|e| {
        ReportError::Broken(format!(
            "invalid JSON: {e} (in the results JSON); the file was cut short or edited: export it again from biaslens"
        ))
    })?;
    let Value::Object(map) = &value else {
        return Err(ReportError::NotAReport("the JSON is not an object".into()));
    };
    match map.get("format").and_then(Value::as_str) {
        Some(RESULTS_FORMAT) => {}
        Some(other) => return Err(ReportError::NotAReport(format!("the JSON is a {other:?} document, not {RESULTS_FORMAT:?}"))),
        None if map.contains_key("phis") && map.contains_key("methods") => {
            return Err(ReportError::NotAReport(
                "this is an experiment config, not results; run it with `biaslens run --config FILE`".into(),
            ));
        }
        None => return Err(ReportError::NotAReport(format!("the JSON has no \"format\": {RESULTS_FORMAT:?} field"))),
    }
    let version = map.get("version").and_then(Value::as_u64).ok_or_else(|| {
        ReportError::Broken("the results JSON has no whole-number \"version\" field; export it again from biaslens".into())
    })?;
    if version > u64::from(RESULTS_VERSION) {
        return Err(ReportError::FutureVersion { found: version, supported: RESULTS_VERSION });
    }
    let broken = |e: serde_json::Error| {
        ReportError::Broken(format!("{e} (in the results JSON); the file was edited or damaged: export it again from biaslens"))
    };
    if version < 2 {
        let migrated = migrate_v1(value, Registries::builtin())
            .map_err(|e| ReportError::Broken(format!("a version-1 results document that does not read: {e}")))?;
        return serde_json::from_value(migrated).map_err(broken);
    }
    // Decode from the text (not the value) so the error carries the line and column of the field.
    serde_json::from_str(json).map_err(broken)
}
