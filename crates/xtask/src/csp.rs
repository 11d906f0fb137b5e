//! `cargo xtask csp [INDEX.html]`: pins the page's Content-Security-Policy.
//!
//! Run by Trunk as a `post_build` hook (`Trunk.toml`) on the staged `index.html`
//! (`$TRUNK_STAGING_DIR`). Trunk writes an inline module script that loads the wasm; its file
//! names carry content hashes, so its text changes with every build. A static page cannot use a
//! nonce, so this computes the SHA-256 of every inline script and writes a
//! `<meta http-equiv="Content-Security-Policy">` as the first element of `<head>` that allows
//! exactly: the page's own files (`'self'`), those inline scripts by hash, WebAssembly
//! compilation (`'wasm-unsafe-eval'`), inline style attributes (Leptos sets `style=`), and
//! `data:`/`blob:` images (the favicon, chart cells). Everything else, and every request to
//! another origin, is refused by the browser.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use base64::Engine;
use sha2::{Digest, Sha256};

const MARK: &str = "<meta http-equiv=\"Content-Security-Policy\"";

/// The policy for these inline-script hashes.
pub fn policy(script_hashes: &[String]) -> String {
    let scripts: String = script_hashes.iter().map(|h| format!(" 'sha256-{h}'")).collect();
    format!(
        "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'{scripts}; connect-src 'self'; \
         img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; font-src 'self'; \
         worker-src 'self' blob:; manifest-src 'self'; base-uri 'none'; form-action 'none'; \
         object-src 'none'"
    )
}

/// Base64 SHA-256 of the text of each `<script>` without a `src` attribute.
pub fn inline_script_hashes(html: &str) -> Result<Vec<String>> {
    let mut hashes = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find("<script") {
        let after = &rest[start..];
        let open_end = after.find('>').context("unterminated <script> tag")?;
        let tag = &after[..open_end];
        let body_start = open_end + 1;
        let close = after[body_start..].find("</script>").context("<script> without </script>")?;
        let body = &after[body_start..body_start + close];
        if !tag.contains("src=") && !body.trim().is_empty() {
            let digest = Sha256::digest(body.as_bytes());
            hashes.push(base64::engine::general_purpose::STANDARD.encode(digest));
        }
        rest = &after[body_start + close + "</script>".len()..];
    }
    Ok(hashes)
}

/// `html` with its policy meta (re)written as the first element of `<head>`.
pub fn with_policy(html: &str) -> Result<String> {
    // Drop an earlier policy (a rebuild of the same staging file).
    let mut html = html.to_string();
    if let Some(start) = html.find(MARK) {
        let end = html[start..].find('>').context("unterminated CSP meta")? + start + 1;
        html.replace_range(start..end, "");
    }
    let hashes = inline_script_hashes(&html)?;
    let head = html.find("<head>").context("index.html has no <head>")? + "<head>".len();
    let meta = format!("{MARK} content=\"{}\">", policy(&hashes));
    html.insert_str(head, &meta);
    Ok(html)
}

/// Rewrite `path` (default: `$TRUNK_STAGING_DIR/index.html`).
pub fn run(path: Option<String>) -> Result<()> {
    let path = match path {
        Some(p) => PathBuf::from(p),
        None => match std::env::var("TRUNK_STAGING_DIR") {
            Ok(dir) => PathBuf::from(dir).join("index.html"),
            Err(_) => bail!("give the index.html to pin, or run as a Trunk hook (TRUNK_STAGING_DIR)"),
        },
    };
    let html = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let out = with_policy(&html)?;
    std::fs::write(&path, out).with_context(|| format!("writing {}", path.display()))?;
    eprintln!("xtask csp: pinned the Content-Security-Policy of {}", path.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hash of a known script text (checked with `printf '%s' "$s" | openssl dgst -sha256
    /// -binary | base64`), and the policy replaces an earlier one instead of stacking.
    #[test]
    fn hashes_inline_scripts_and_rewrites_the_meta() {
        let html = "<html><head><script type=\"module\">alert(1)</script>\
                    <script src=\"x.js\"></script></head><body></body></html>";
        let hashes = inline_script_hashes(html).expect("parse");
        assert_eq!(hashes, vec!["bhHHL3z2vDgxUt0W3dWQOrprscmda2Y5pLsLg4GF+pI=".to_string()]);
        let once = with_policy(html).expect("policy");
        assert!(once.starts_with("<html><head><meta http-equiv=\"Content-Security-Policy\""));
        assert!(once.contains("'sha256-bhHHL3z2vDgxUt0W3dWQOrprscmda2Y5pLsLg4GF+pI='"));
        let twice = with_policy(&once).expect("policy");
        assert_eq!(once, twice);
        assert!(with_policy("<html><body></body></html>").is_err());
    }
}
