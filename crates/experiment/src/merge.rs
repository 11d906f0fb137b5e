//! Shards and merging: one run split into independent jobs (e.g. a Slurm array) and put back
//! together.
//!
//! A run's units — each training correlation φ with each seed ([`crate::driver::units`]) — are
//! independent: every unit draws its own splits and trains its own models from its own seed, so
//! its numbers do not depend on which other units ran, where, or in which order (driver.rs). A
//! [`Shard`] `I/N` runs the units whose run-order index `k` has `k mod N = I − 1` (round-robin,
//! so the seeds spread over the shards) and writes a document that lists the other units as
//! missing. [`merge`] checks that the pieces belong to one config and covers each unit once, then
//! writes the document a single run of the whole config would have written, up to timings.

use std::collections::BTreeMap;

use crate::config::ExperimentConfig;
use crate::driver::{Unit, units};
use crate::results::{ExperimentResults, Partial};

/// The `index`-th (1-based) of `count` shards of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// 1-based, at most `count` (Slurm's `$SLURM_ARRAY_TASK_ID` with `--array=1-N`).
    pub index: usize,
    /// How many shards the run is split into.
    pub count: usize,
}

impl std::str::FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("a shard is written I/N with 1 ≤ I ≤ N (e.g. 2/8), got {s:?}");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count): (usize, usize) = (i.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
        if index == 0 || count == 0 || index > count {
            return Err(bad());
        }
        Ok(Self { index, count })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    /// Whether the unit at run-order `index` belongs to this shard.
    pub fn contains(&self, index: usize) -> bool {
        index % self.count == self.index - 1
    }

    /// This shard's units of `config`, in run order.
    ///
    /// # Errors
    /// A message if the shard has no unit (more shards than units).
    pub fn units(&self, config: &ExperimentConfig) -> Result<Vec<Unit>, String> {
        let all = units(config);
        let mine: Vec<Unit> = all.iter().filter(|u| self.contains(u.index)).copied().collect();
        if mine.is_empty() {
            return Err(format!(
                "shard {self} has no unit: the config has {} unit(s) ({} φ × {} seed(s)); use at most {} shards",
                all.len(),
                config.phis.len(),
                config.seeds().len(),
                all.len()
            ));
        }
        Ok(mine)
    }
}

/// Why pieces cannot be merged.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MergeError {
    /// Nothing to merge.
    #[error("no results to merge")]
    Empty,
    /// A piece of another experiment.
    #[error("{piece} is not part of the same run as {first}: its {what} differs (config {piece_hash} vs {first_hash}); merge only the shards of one config")]
    Mismatch {
        /// The piece's name.
        piece: String,
        /// The first piece's name.
        first: String,
        /// What differs.
        what: &'static str,
        /// Short hash of the piece's config.
        piece_hash: String,
        /// Short hash of the first piece's config.
        first_hash: String,
    },
    /// A unit the config does not have.
    #[error("{piece} holds φ = {phi}, seed {seed}, which is not a unit of the config")]
    Foreign {
        /// The piece's name.
        piece: String,
        /// The unit's φ.
        phi: f64,
        /// The unit's seed.
        seed: u64,
    },
    /// The same unit in two pieces (or twice in one).
    #[error("φ = {phi}, seed {seed} is in both {first} and {second}: a shard was given twice, or two shardings were mixed")]
    Twice {
        /// The unit's φ.
        phi: f64,
        /// The unit's seed.
        seed: u64,
        /// Where it was first.
        first: String,
        /// Where it was again.
        second: String,
    },
    /// Units no piece holds.
    #[error("{} unit(s) missing: {}; run their shards, or merge with --partial for a report that lists them as missing", .0.len(), missing_text(.0))]
    Missing(Vec<(f64, u64)>),
}

fn missing_text(m: &[(f64, u64)]) -> String {
    let mut parts: Vec<String> = m.iter().take(6).map(|(phi, seed)| format!("φ = {phi} seed {seed}")).collect();
    if m.len() > 6 {
        parts.push(format!("and {} more", m.len() - 6));
    }
    parts.join(", ")
}

/// A short hash of a config (FNV-1a of its JSON), to tell configs apart in messages.
pub fn config_hash(config: &ExperimentConfig) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in config.to_json().bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("{:08x}", h >> 32)
}

/// Merges named pieces (shards, or any results documents of one config) into the document of
/// the whole run: units in run order, timings concatenated, devices named as the runs named
/// them. With `allow_missing`, units no piece holds are listed in [`ExperimentResults::partial`]
/// instead of refused.
///
/// # Errors
/// [`MergeError`]: no pieces, pieces of different configs (or data, or builds' result formats),
/// a unit that is not the config's, a unit twice, or units missing without `allow_missing`.
pub fn merge(pieces: Vec<(String, ExperimentResults)>, allow_missing: bool) -> Result<ExperimentResults, MergeError> {
    let mut pieces = pieces.into_iter();
    let (first_name, mut first) = pieces.next().ok_or(MergeError::Empty)?;
    // The first piece's units and timings go through the loop like every other piece's; what
    // stays behind (`head`) is what the pieces are compared against, cheap to clone.
    let (first_phis, first_timings) = (std::mem::take(&mut first.phis), std::mem::take(&mut first.timings));
    let head = first;
    let config = head.config.clone();
    let all = units(&config);
    let key = |phi: f64, seed: u64| all.iter().position(|u| u.phi == phi && u.seed == seed);
    let mut slots: BTreeMap<usize, (String, crate::results::PhiResult)> = BTreeMap::new();
    let mut out = ExperimentResults { total_seconds: 0.0, partial: None, ..head.clone() };
    let mut devices: Vec<String> = Vec::new();
    let mut timings = Vec::new();
    let whole_first = ExperimentResults { phis: first_phis, timings: first_timings, ..head.clone() };
    for (name, piece) in std::iter::once((first_name.clone(), whole_first)).chain(pieces) {
        let differs = if piece.config != config {
            Some("config")
        } else if piece.format != head.format || piece.version != head.version {
            Some("results format")
        } else if piece.image != head.image || piece.roi != head.roi || piece.attributions != head.attributions {
            Some("image geometry or attributions")
        } else if piece.data_source != head.data_source || piece.per_image_regions != head.per_image_regions {
            Some("data")
        } else {
            None
        };
        if let Some(what) = differs {
            return Err(MergeError::Mismatch {
                piece: name,
                first: first_name,
                what,
                piece_hash: config_hash(&piece.config),
                first_hash: config_hash(&config),
            });
        }
        for d in piece.device.split(" + ") {
            if !devices.iter().any(|x| x == d) {
                devices.push(d.to_owned());
            }
        }
        for p in piece.phis {
            let Some(k) = key(p.phi, p.seed) else {
                return Err(MergeError::Foreign { piece: name, phi: p.phi, seed: p.seed });
            };
            if let Some((earlier, _)) = slots.get(&k) {
                return Err(MergeError::Twice { phi: p.phi, seed: p.seed, first: earlier.clone(), second: name });
            }
            slots.insert(k, (name.clone(), p));
        }
        timings.extend(piece.timings);
        out.total_seconds += piece.total_seconds;
    }
    // Stages in run order: by unit (φ and seed), each unit's stages in the order they ran;
    // whole-run stages and stages of documents without seeds keep their place at the end.
    let rank = |t: &crate::results::StageTiming| match (t.phi, t.seed) {
        (Some(phi), Some(seed)) => key(phi, seed).unwrap_or(usize::MAX),
        _ => usize::MAX,
    };
    timings.sort_by_key(rank);
    out.timings = timings;
    let missing: Vec<(f64, u64)> = all.iter().filter(|u| !slots.contains_key(&u.index)).map(|u| (u.phi, u.seed)).collect();
    if !missing.is_empty() {
        if !allow_missing {
            return Err(MergeError::Missing(missing));
        }
        out.partial = Some(Partial { missing });
    }
    out.phis = slots.into_values().map(|(_, p)| p).collect();
    out.device = devices.join(" + ");
    out.config = config;
    out.seed = out.config.seed;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_parse_and_cover_every_unit_once() {
        assert_eq!("2/8".parse::<Shard>(), Ok(Shard { index: 2, count: 8 }));
        for bad in ["0/3", "4/3", "3", "a/b", "1/0", ""] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
        let mut c = ExperimentConfig::demo();
        c.set_seeds(&[1, 2, 3]);
        let n = units(&c).len();
        assert_eq!(n, 6);
        for count in 1..=n {
            let mut seen = vec![0; n];
            for index in 1..=count {
                for u in (Shard { index, count }).units(&c).expect("every shard has a unit") {
                    seen[u.index] += 1;
                }
            }
            assert!(seen.iter().all(|&k| k == 1), "{count} shards: {seen:?}");
        }
        let err = Shard { index: 7, count: 7 }.units(&c).expect_err("more shards than units");
        assert!(err.contains("at most 6 shards"), "{err}");
    }
}
