//! `cargo xtask`: the project's set-up, build, serve and test automation.
//!
//! - `cargo xtask setup`: install what the build and tests need, skipping what is present.
//! - `cargo xtask serve`: release build of the page, served on <http://127.0.0.1:8080>.
//! - `cargo xtask dist`: release build into `dist/` (relative paths; any static host).
//! - `cargo xtask test`: set-up, then every test: unit, integration, reference, browser.
//! - `cargo xtask csp`: pin the page's Content-Security-Policy (run by Trunk after each build).
//!
//! Nothing here downloads from outside the package registries (crates.io, npm, Debian):
//! Trunk would fetch wasm-bindgen and wasm-opt from GitHub unless the pinned versions are on
//! PATH, so `setup` installs exactly those and every Trunk call gets that PATH.

mod csp;
mod setup;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};

const USAGE: &str = "usage: cargo xtask <setup|serve|dist|test|csp>
  setup   install the wasm target, Trunk, wasm-bindgen-cli, wasm-opt, playwright-core, chromium
  serve   build the page (release) and serve it on http://127.0.0.1:8080
  dist    build the page (release) into dist/, ready for any static host
  test    run every test: unit, integration, reference and browser end-to-end
  csp     pin the Content-Security-Policy of a built index.html (Trunk's post_build hook)";

fn main() -> Result<()> {
    let arg = std::env::args().nth(1).unwrap_or_default();
    let root = root()?;
    std::env::set_current_dir(&root)?;
    let start = Instant::now();
    match arg.as_str() {
        "setup" => setup::all(&root, setup::Need::Everything)?,
        "serve" => serve(&root)?,
        "dist" => dist(&root)?,
        "test" => test(&root)?,
        "csp" => csp::run(std::env::args().nth(2))?,
        "" | "-h" | "--help" | "help" => println!("{USAGE}"),
        other => bail!("unknown task `{other}`\n{USAGE}"),
    }
    eprintln!("xtask {arg}: finished in {:.1} min", start.elapsed().as_secs_f64() / 60.0);
    Ok(())
}

/// The workspace root (two levels above this crate's manifest).
fn root() -> Result<PathBuf> {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.ancestors().nth(2).map(Path::to_path_buf).context("xtask is not inside the workspace")
}

/// Run a command, echoing it, and fail with its name if it fails.
pub(crate) fn run(cmd: &mut Command) -> Result<()> {
    eprintln!("xtask: $ {}", describe(cmd));
    let status = cmd.status().with_context(|| format!("could not start `{}`", describe(cmd)))?;
    if !status.success() {
        bail!("`{}` failed with {status}", describe(cmd));
    }
    Ok(())
}

fn describe(cmd: &Command) -> String {
    std::iter::once(cmd.get_program()).chain(cmd.get_args()).map(|s| s.to_string_lossy().into_owned()).collect::<Vec<_>>().join(" ")
}

/// `trunk` with the pinned tools first on PATH.
fn trunk(root: &Path) -> Result<Command> {
    let mut cmd = Command::new("trunk");
    cmd.env("PATH", setup::tool_path(root)?);
    Ok(cmd)
}

fn serve(root: &Path) -> Result<()> {
    setup::all(root, setup::Need::Build)?;
    eprintln!("xtask: the first release build takes about ten minutes (one codegen unit per crate + wasm-opt); then the page is at:");
    println!("http://127.0.0.1:8080/");
    // No auto-reload: its injected script and websocket would break the page's own CSP.
    run(trunk(root)?.args(["serve", "--release", "--cargo-profile", "web", "--no-autoreload", "--address", "127.0.0.1", "--port", "8080"]))
}

fn dist(root: &Path) -> Result<()> {
    setup::all(root, setup::Need::Build)?;
    run(trunk(root)?.args(["build", "--release", "--cargo-profile", "web", "--dist", "dist"]))?;
    report_sizes(&root.join("dist"), true)?;
    println!("built {}: serve it from any static host", root.join("dist").display());
    Ok(())
}

/// The files of a built page a visitor downloads (the loader, the module, the styles, the page).
fn shipped(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| ["wasm", "js", "css", "html", "svg", "json"].iter().any(|x| e == *x)))
        .collect();
    files.sort();
    Ok(files)
}

/// `bytes` gzip-compressed at the highest level.
fn gzip(bytes: &[u8]) -> Result<Vec<u8>> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(bytes)?;
    Ok(e.finish()?)
}

/// `bytes` brotli-compressed at quality 11 with a 16 MiB window (what `brotli -q 11 -w 24` does).
fn brotli(bytes: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let params = brotli::enc::BrotliEncoderParams { quality: 11, lgwin: 24, ..Default::default() };
    brotli::BrotliCompress(&mut &bytes[..], &mut out, &params)?;
    Ok(out)
}

/// Print each shipped file's size raw, gzip -9 and brotli -q 11, and the total a visitor
/// transfers with the best encoding a static host can serve; with `write`, also write the `.gz`
/// and `.br` files next to each (pre-compressed, so the host serves them without compressing).
/// Without `write` (the CI page, 40 MB without wasm-opt) brotli's minutes are skipped.
fn report_sizes(dir: &Path, write: bool) -> Result<()> {
    let mb = |b: usize| b as f64 / 1e6;
    let (mut raw_total, mut gz_total, mut br_total) = (0, 0, 0);
    for path in shipped(dir)? {
        let raw = std::fs::read(&path)?;
        let gz = gzip(&raw)?;
        let br = if write { brotli(&raw)? } else { gz.clone() };
        println!(
            "{:<48} {:>8.3} MB raw {:>8.3} MB gzip -9 {:>8.3} MB {}",
            path.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
            mb(raw.len()),
            mb(gz.len()),
            mb(br.len()),
            if write { "brotli -q 11" } else { "(brotli skipped)" }
        );
        raw_total += raw.len();
        gz_total += gz.len();
        br_total += br.len();
        if write {
            let name = path.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
            std::fs::write(path.with_file_name(format!("{name}.gz")), &gz)?;
            std::fs::write(path.with_file_name(format!("{name}.br")), &br)?;
        }
    }
    if write {
        println!(
            "a visitor downloads {:.3} MB with brotli ({:.3} MB with gzip, {:.3} MB uncompressed); the .br and .gz files are written next to each file",
            mb(br_total),
            mb(gz_total),
            mb(raw_total)
        );
    } else {
        println!("this build: {:.3} MB with gzip, {:.3} MB uncompressed (`cargo xtask dist` measures what ships)", mb(gz_total), mb(raw_total));
    }
    Ok(())
}

fn test(root: &Path) -> Result<()> {
    setup::all(root, setup::Need::Everything)?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    // Native: unit, integration, reference-fixture and doc tests of every library crate, the CLI
    // and xtask itself.
    // The native wgpu tests must run, not skip: setup installed Mesa's lavapipe for them.
    let lavapipe = setup::lavapipe_present();
    if !lavapipe {
        eprintln!("xtask: Mesa's lavapipe is not installed; the native wgpu tests will skip");
    }
    run(Command::new(&cargo)
        .args(["test", "--workspace", "--exclude", "biaslens-web"])
        .env("BIASLENS_REQUIRE_WGPU", if lavapipe { "1" } else { "0" })
        // Mesa prints a warning per process without it.
        .env("XDG_RUNTIME_DIR", std::env::var_os("XDG_RUNTIME_DIR").unwrap_or_else(|| std::env::temp_dir().into())))?;
    run(Command::new(&cargo).args(["build", "-p", "biaslens-cli"]))?;
    // The page, built with release semantics but 16 codegen units and no wasm-opt (see Cargo.toml's
    // `ci-wasm` profile), then driven in headless Chromium on WebGPU and on the CPU fallback.
    let dist = root.join("target/dist-ci");
    run(trunk(root)?.args(["build", "--cargo-profile", "ci-wasm", "--dist"]).arg(&dist))?;
    report_sizes(&dist, false)?;
    let cli = root.join("target/debug/biaslens");
    run(Command::new("node")
        .args(["--test", "--test-reporter=spec"])
        .current_dir(root.join("tests/e2e"))
        .env("BIASLENS_DIST", &dist)
        .env("BIASLENS_CLI", &cli))?;
    println!("all tests passed; browser screenshots in tests/e2e/out/");
    Ok(())
}
