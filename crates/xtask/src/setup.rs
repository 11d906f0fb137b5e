//! Idempotent installation of the build and test tools, at the exact versions Trunk expects.
//!
//! Costs on a fresh 2-core machine are in BENCHMARKS.md; each step is skipped when its tool is
//! already there at the right version.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::run;

/// Trunk version the build is verified with.
const TRUNK: &str = "0.21.14";

/// What a task needs installed.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Building the page: wasm target, Trunk, wasm-bindgen, wasm-opt.
    Build,
    /// Building and testing: also playwright-core and Chromium.
    Everything,
}

/// Install what `need` asks for.
pub fn all(root: &Path, need: Need) -> Result<()> {
    wasm_target()?;
    trunk()?;
    wasm_bindgen(root)?;
    npm_packages(root)?;
    if need == Need::Everything {
        chromium()?;
    }
    Ok(())
}

/// PATH with cargo's bin directory and the npm tools (wasm-opt) first.
pub fn tool_path(root: &Path) -> Result<std::ffi::OsString> {
    let mut dirs = vec![root.join("tests/e2e/node_modules/.bin"), cargo_bin()];
    dirs.extend(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()));
    Ok(std::env::join_paths(dirs)?)
}

fn cargo_bin() -> PathBuf {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .unwrap_or_else(|| PathBuf::from(".cargo"))
        .join("bin")
}

/// First line of `program --version`, or None if it does not run.
fn version_of(program: &str) -> Option<String> {
    let out = Command::new(program).arg("--version").env("PATH", tool_path(Path::new(".")).ok()?).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).lines().next().unwrap_or("").trim().to_string())
}

fn wasm_target() -> Result<()> {
    let out = Command::new("rustup").args(["target", "list", "--installed"]).output().context("rustup is needed")?;
    if String::from_utf8_lossy(&out.stdout).lines().any(|l| l.trim() == "wasm32-unknown-unknown") {
        return Ok(());
    }
    run(Command::new("rustup").args(["target", "add", "wasm32-unknown-unknown"]))
}

/// `cargo install` without fat LTO: the tools run for seconds, but LTO costs minutes to build.
fn cargo_install(args: &[&str]) -> Result<()> {
    run(Command::new("cargo")
        .arg("install")
        .args(args)
        .env("CARGO_PROFILE_RELEASE_LTO", "false")
        .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "16"))
}

fn trunk() -> Result<()> {
    if version_of("trunk").is_some_and(|v| v == format!("trunk {TRUNK}")) {
        return Ok(());
    }
    cargo_install(&["--locked", "trunk", "--version", TRUNK])
}

/// wasm-bindgen's version in Cargo.lock: the CLI must match it exactly.
pub fn locked_wasm_bindgen(root: &Path) -> Result<String> {
    let lock = std::fs::read_to_string(root.join("Cargo.lock")).context("reading Cargo.lock")?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line == "name = \"wasm-bindgen\"" {
            if let Some(v) = lines.next().and_then(|l| l.strip_prefix("version = \"")).and_then(|l| l.strip_suffix('"')) {
                return Ok(v.to_string());
            }
        }
    }
    bail!("Cargo.lock has no wasm-bindgen entry")
}

fn wasm_bindgen(root: &Path) -> Result<()> {
    let want = locked_wasm_bindgen(root)?;
    let trunk_toml = std::fs::read_to_string(root.join("Trunk.toml"))?;
    if !trunk_toml.contains(&format!("wasm_bindgen = \"{want}\"")) {
        bail!("Trunk.toml must pin wasm_bindgen = \"{want}\" (the version in Cargo.lock)");
    }
    if version_of("wasm-bindgen").is_some_and(|v| v == format!("wasm-bindgen {want}")) {
        return Ok(());
    }
    // Not --locked: the registry mirror lacks one of its locked dependencies.
    cargo_install(&["wasm-bindgen-cli", "--version", &want])
}

fn npm_packages(root: &Path) -> Result<()> {
    let dir = root.join("tests/e2e");
    let ready = ["playwright-core/package.json", "binaryen/package.json", ".package-lock.json"]
        .iter()
        .all(|p| dir.join("node_modules").join(p).exists());
    let lock = dir.join("package-lock.json");
    let fresh = ready
        && std::fs::metadata(dir.join("node_modules/.package-lock.json"))
            .and_then(|m| m.modified())
            .ok()
            .zip(std::fs::metadata(&lock).and_then(|m| m.modified()).ok())
            .is_some_and(|(installed, wanted)| installed >= wanted);
    if fresh {
        return Ok(());
    }
    run(Command::new("npm").args(["ci", "--no-audit", "--no-fund"]).current_dir(&dir))
}

/// Whether Mesa's lavapipe (a Vulkan adapter on the CPU, for the native wgpu tests) is installed.
pub fn lavapipe_present() -> bool {
    std::fs::read_dir("/usr/share/vulkan/icd.d")
        .map(|dir| dir.flatten().any(|e| e.file_name().to_string_lossy().starts_with("lvp_icd.")))
        .unwrap_or(false)
}

fn chromium() -> Result<()> {
    // DejaVu: the browser's and `biaslens report --png`'s labels.
    let fonts = Path::new("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf").exists();
    if Path::new("/usr/bin/chromium").exists() && lavapipe_present() && fonts {
        return Ok(());
    }
    let root = Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0").unwrap_or(false);
    let apt = |args: &[&str]| {
        let mut cmd = if root { Command::new("apt-get") } else { Command::new("sudo") };
        if !root {
            cmd.arg("apt-get");
        }
        cmd.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        cmd
    };
    run(&mut apt(&["update", "-q"]))?;
    // Fonts so screenshots show text; Mesa's lavapipe for native Vulkan tests.
    run(&mut apt(&["install", "-y", "-q", "chromium", "fonts-dejavu-core", "mesa-vulkan-drivers"]))
}
