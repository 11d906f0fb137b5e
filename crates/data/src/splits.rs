//! Correlation control: train / debias / test splits by undersampling the four (target,
//! protected attribute) cells.
//!
//! Implements the authors' pipeline (`docs/METHODS.md#splits`): the rows are cut into
//! contiguous blocks (train 0.30, test 0.50, debias ("unlearn") 0.20, in that order), and each
//! block is undersampled by rules of the form "cell (T, PA) makes up a fraction p of the split"
//! (their `balance_dataset`). Two ways to ask for a correlation are offered:
//!
//! * [`Correlation::CellPercentage`], the authors' knob: the off-diagonal cells (T=0, PA=1) and
//!   (T=1, PA=0) each make up `p`, the rest `1 − 2p` is drawn uniformly from the diagonal cells.
//!   `p = 0.5` gives φ = −1 (the authors' `train_percentage` default), `p = 0.25` is their debias
//!   default.
//! * [`Correlation::Phi`]: a signed Yule's φ is asked for directly, with chosen marginals
//!   (default 50% smiling, 50% with the attribute); the four cell fractions then follow exactly.
//!
//! The test split is balanced at 25% per cell ([`Correlation::Balanced`]; φ = 0). Every split
//! reports its cell counts and achieved φ.
//!
//! Deliberate deviations from the authors' code, for exact and reproducible proportions:
//! the split size `total` is bounded by the diagonal remainder too (the authors' can drift when a
//! cell runs short), a cell is drawn by a seeded partial Fisher–Yates shuffle (not numpy's
//! `choice`), and indices are returned in ascending order (not Python set order).

use serde::{Deserialize, Serialize};

use crate::rng::SplitMix64;

/// Which of the three splits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SplitName {
    /// Training of the vanilla model.
    Train,
    /// The hold-out set the debiasing methods use (the authors' "unlearn" split).
    Debias,
    /// Evaluation, balanced per cell.
    Test,
}

impl SplitName {
    /// Lower-case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Train => "train",
            Self::Debias => "debias",
            Self::Test => "test",
        }
    }
}

impl std::fmt::Display for SplitName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Image counts of the four (target, attribute) cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CellCounts {
    /// Target 0, attribute 0.
    pub t0a0: usize,
    /// Target 0, attribute 1.
    pub t0a1: usize,
    /// Target 1, attribute 0.
    pub t1a0: usize,
    /// Target 1, attribute 1.
    pub t1a1: usize,
}

impl CellCounts {
    /// Counts over the rows `indices` of the label vectors.
    ///
    /// # Panics
    /// If an index is out of range of `target` or `attribute`.
    pub fn of(target: &[u8], attribute: &[u8], indices: &[usize]) -> Self {
        let mut c = Self::default();
        for &i in indices {
            *c.get_mut(target[i] != 0, attribute[i] != 0) += 1;
        }
        c
    }

    /// Count of cell (target `t`, attribute `a`).
    pub const fn get(&self, t: bool, a: bool) -> usize {
        match (t, a) {
            (false, false) => self.t0a0,
            (false, true) => self.t0a1,
            (true, false) => self.t1a0,
            (true, true) => self.t1a1,
        }
    }

    fn get_mut(&mut self, t: bool, a: bool) -> &mut usize {
        match (t, a) {
            (false, false) => &mut self.t0a0,
            (false, true) => &mut self.t0a1,
            (true, false) => &mut self.t1a0,
            (true, true) => &mut self.t1a1,
        }
    }

    /// Number of images.
    pub const fn total(&self) -> usize {
        self.t0a0 + self.t0a1 + self.t1a0 + self.t1a1
    }

    /// Yule's φ between target and attribute,
    /// `(n11·n00 − n10·n01) / √((n11+n10)(n01+n00)(n11+n01)(n10+n00))`, with n_{TA}.
    /// Positive when the attribute goes with the target (smiling). `None` when a marginal is
    /// empty (φ undefined).
    pub fn phi(&self) -> Option<f64> {
        let [a, b, c, d] = [self.t1a1, self.t1a0, self.t0a1, self.t0a0].map(|v| v as f64);
        let den = ((a + b) * (c + d) * (a + c) * (b + d)).sqrt();
        (den > 0.0).then(|| (a * d - b * c) / den)
    }
}

/// How target and attribute should be correlated in a split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Correlation {
    /// The authors' `balance_dataset` rules: (T=0, PA=1) and (T=1, PA=0) each make up `p` of the
    /// split (`p ∈ [0, 0.5]`); the rest is drawn uniformly from (T=0, PA=0) ∪ (T=1, PA=1).
    /// φ ≈ −p/(1−p) when the attribute is rare; the exact φ is in `docs/METHODS.md#splits`.
    CellPercentage {
        /// The fraction of each off-diagonal cell.
        p: f64,
    },
    /// A requested signed Yule's φ with the given marginals.
    Phi {
        /// The requested φ in `[-1, 1]`; negative = attribute goes with *not* smiling, as in
        /// the authors' set-up.
        phi: f64,
        /// Fraction of the split with target 1.
        #[serde(default = "half")]
        target_rate: f64,
        /// Fraction of the split with the attribute.
        #[serde(default = "half")]
        attribute_rate: f64,
    },
    /// 25% per cell, φ = 0 (the authors' test split).
    Balanced,
}

fn half() -> f64 {
    0.5
}

impl Correlation {
    /// A requested φ with 50% marginals.
    pub const fn phi(phi: f64) -> Self {
        Self::Phi { phi, target_rate: 0.5, attribute_rate: 0.5 }
    }

    /// The authors' percentage `p` that gives about `phi` (≤ 0) when the attribute is rare:
    /// `p = |φ|/(1+|φ|)` (inverting φ ≈ −p/(1−p); `docs/METHODS.md#splits`).
    pub fn authors_p_for_phi(phi: f64) -> f64 {
        phi.abs() / (1.0 + phi.abs())
    }
}

/// Where the three pools come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Pools {
    /// The authors' contiguous row blocks, in the order train, test, debias
    /// (`docs/METHODS.md#splits`).
    Blocks {
        /// Fraction of rows for train (first block).
        train: f64,
        /// Fraction of rows for test (second block).
        test: f64,
        /// Fraction of rows for debias (third block).
        debias: f64,
    },
    /// CelebA's official `list_eval_partition.txt`: 0 → train, 1 (validation) → debias,
    /// 2 → test. Needs the partition column passed to [`make_splits`].
    Official,
}

impl Default for Pools {
    fn default() -> Self {
        Self::Blocks { train: 0.3, test: 0.5, debias: 0.2 }
    }
}

/// Settings of the three splits, with the authors' defaults (`docs/METHODS.md#splits`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SplitConfig {
    /// Where the pools come from.
    pub pools: Pools,
    /// Correlation of the training split (authors: `train_percentage: 0.50`, φ = −1).
    pub train: Correlation,
    /// Correlation of the debias split (authors: `unlearn_percentage: 0.25`).
    pub debias: Correlation,
    /// Exact sizes per split; `None` takes as many as the rarest needed cell allows.
    pub train_size: Option<usize>,
    /// See `train_size`.
    pub debias_size: Option<usize>,
    /// See `train_size`; a test size is rounded down to a multiple of 4.
    pub test_size: Option<usize>,
    /// Seed of the undersampling (the authors call `seed_everything(42)`).
    pub seed: u64,
}

impl Default for SplitConfig {
    fn default() -> Self {
        Self {
            pools: Pools::default(),
            train: Correlation::CellPercentage { p: 0.5 },
            debias: Correlation::CellPercentage { p: 0.25 },
            train_size: None,
            debias_size: None,
            test_size: None,
            seed: 42,
        }
    }
}

/// One undersampled split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Split {
    /// Which split.
    pub name: SplitName,
    /// Row indices into the label vectors, ascending.
    pub indices: Vec<usize>,
    /// Cell counts of the split.
    pub counts: CellCounts,
    /// Achieved Yule's φ (`None` if a marginal is empty).
    pub phi: Option<f64>,
}

impl std::fmt::Display for Split {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let c = &self.counts;
        write!(
            f,
            "{}: {} images (T0/A0 {}, T0/A1 {}, T1/A0 {}, T1/A1 {}), φ = ",
            self.name,
            c.total(),
            c.t0a0,
            c.t0a1,
            c.t1a0,
            c.t1a1
        )?;
        match self.phi {
            Some(phi) => write!(f, "{phi:+.3}"),
            None => f.write_str("undefined"),
        }
    }
}

/// The three splits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Splits {
    /// Training split.
    pub train: Split,
    /// Debias (hold-out) split.
    pub debias: Split,
    /// Balanced test split.
    pub test: Split,
}

/// Why splits cannot be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SplitError {
    /// A cell has too few images for the requested proportions and size.
    #[error(
        "the {split} split needs {needed} images with target={target} and attribute={attribute}, \
         but its pool has only {available}; ask for a smaller split, a weaker correlation, or \
         use more images"
    )]
    CellShort {
        /// Which split.
        split: SplitName,
        /// Target of the cell.
        target: u8,
        /// Attribute of the cell.
        attribute: u8,
        /// Images the split needs from the cell.
        needed: usize,
        /// Images the pool holds in the cell.
        available: usize,
    },
    /// The remainder of the authors' rules cannot be filled.
    #[error(
        "the {split} split needs {needed} images from the cells (target=0, attribute=0) and \
         (target=1, attribute=1) together, but its pool has only {available}; ask for a smaller \
         split or a larger cell percentage"
    )]
    RestShort {
        /// Which split.
        split: SplitName,
        /// Images needed from the diagonal cells.
        needed: usize,
        /// Images available there.
        available: usize,
    },
    /// A percentage outside `[0, 0.5]`.
    #[error("the cell percentage p of the {split} split must lie in [0, 0.5], got {p}")]
    Percentage {
        /// Which split.
        split: SplitName,
        /// The value given.
        p: f64,
    },
    /// A φ the marginals cannot reach.
    #[error(
        "the {split} split cannot reach φ = {phi} with {target_rate} smiling and {attribute_rate} \
         with the attribute; with these marginals φ must lie in [{min:.3}, {max:.3}]"
    )]
    Phi {
        /// Which split.
        split: SplitName,
        /// The requested φ.
        phi: f64,
        /// The requested target rate.
        target_rate: f64,
        /// The requested attribute rate.
        attribute_rate: f64,
        /// Smallest reachable φ.
        min: f64,
        /// Largest reachable φ.
        max: f64,
    },
    /// Block fractions that are negative or sum past 1.
    #[error("the pool fractions train={train}, test={test}, debias={debias} must be ≥ 0 and sum to at most 1")]
    Fractions {
        /// Train fraction.
        train: f64,
        /// Test fraction.
        test: f64,
        /// Debias fraction.
        debias: f64,
    },
    /// Label vectors of different lengths.
    #[error("{what} has {got} entries but there are {expected} images")]
    Length {
        /// Which vector.
        what: &'static str,
        /// Its length.
        got: usize,
        /// The number of images.
        expected: usize,
    },
    /// The official partition was asked for but not given, or holds a bad value.
    #[error("{0}")]
    Partition(String),
}

/// Cut the rows into pools, then undersample each pool per `config`.
///
/// `partition` is the official partition column (0 train, 1 validation, 2 test), needed only
/// with [`Pools::Official`].
///
/// # Errors
/// [`SplitError`] when a cell cannot supply enough images or a setting is out of range.
pub fn make_splits(target: &[u8], attribute: &[u8], partition: Option<&[u8]>, config: &SplitConfig) -> Result<Splits, SplitError> {
    let n = target.len();
    if attribute.len() != n {
        return Err(SplitError::Length { what: "the attribute column", got: attribute.len(), expected: n });
    }
    let (train_pool, test_pool, debias_pool) = match &config.pools {
        &Pools::Blocks { train, test, debias } => {
            if train < 0.0 || test < 0.0 || debias < 0.0 || train + test + debias > 1.0 + 1e-9 || !(train + test + debias).is_finite() {
                return Err(SplitError::Fractions { train, test, debias });
            }
            // As the authors: block sizes `int(fraction · n)`, in the order train, test, debias.
            let a = (train * n as f64) as usize;
            let b = a + (test * n as f64) as usize;
            let c = (b + (debias * n as f64) as usize).min(n);
            ((0..a).collect::<Vec<_>>(), (a..b).collect::<Vec<_>>(), (b..c).collect::<Vec<_>>())
        }
        Pools::Official => {
            let p = partition.ok_or_else(|| {
                SplitError::Partition("the official partition was chosen but no list_eval_partition file was given".into())
            })?;
            if p.len() != n {
                return Err(SplitError::Length { what: "the partition", got: p.len(), expected: n });
            }
            let mut pools = (Vec::new(), Vec::new(), Vec::new());
            for (i, &v) in p.iter().enumerate() {
                match v {
                    0 => pools.0.push(i),
                    1 => pools.2.push(i),
                    2 => pools.1.push(i),
                    _ => return Err(SplitError::Partition(format!("partition value {v} of image {i} is not 0, 1 or 2"))),
                }
            }
            pools
        }
    };
    let labels = Labels { target, attribute };
    Ok(Splits {
        train: undersample(labels, &train_pool, SplitName::Train, &config.train, config.train_size, config.seed)?,
        debias: undersample(labels, &debias_pool, SplitName::Debias, &config.debias, config.debias_size, config.seed)?,
        test: undersample(labels, &test_pool, SplitName::Test, &Correlation::Balanced, config.test_size, config.seed)?,
    })
}

/// The two label columns of a dataset.
#[derive(Debug, Clone, Copy)]
pub struct Labels<'a> {
    /// Target per row (0/1).
    pub target: &'a [u8],
    /// Protected attribute per row (0/1).
    pub attribute: &'a [u8],
}

/// Undersample the rows `pool` to the correlation `corr`.
///
/// With `size = None` the split is as large as the rarest needed cell allows; with a size, a
/// cell that cannot supply its share is an error. The draw is seeded by `(seed, name)`.
///
/// # Errors
/// [`SplitError`] when a cell cannot supply enough images or `corr` is out of range.
///
/// # Panics
/// If a pool index is out of range of the label columns.
pub fn undersample(labels: Labels<'_>, pool: &[usize], name: SplitName, corr: &Correlation, size: Option<usize>, seed: u64) -> Result<Split, SplitError> {
    // Cells in the order t0a0, t0a1, t1a0, t1a1.
    let mut cells: [Vec<usize>; 4] = Default::default();
    for &i in pool {
        let k = 2 * usize::from(labels.target[i] != 0) + usize::from(labels.attribute[i] != 0);
        cells[k].push(i);
    }
    let avail = cells.each_ref().map(Vec::len);
    let cell_of = |k: usize| ((k / 2) as u8, (k % 2) as u8);
    let short = |k: usize, needed: usize| {
        let (target, attribute) = cell_of(k);
        SplitError::CellShort { split: name, target, attribute, needed, available: avail[k] }
    };
    let mut rng = SplitMix64::for_item(seed, name as u64 + 1);
    // Rows chosen from the diagonal union by the authors' remainder rule.
    let mut indices = Vec::new();

    let take: [usize; 4] = match *corr {
        Correlation::CellPercentage { p } => {
            if !(0.0..=0.5).contains(&p) {
                return Err(SplitError::Percentage { split: name, p });
            }
            let rest_frac = 1.0 - 2.0 * p;
            let rest_avail = avail[0] + avail[3];
            let total = match size {
                Some(total) => total,
                None => {
                    // `calculate_max_samples`, extended to the remainder so proportions hold.
                    let mut total = usize::MAX;
                    if p > 0.0 {
                        total = total.min((avail[1] as f64 / p) as usize).min((avail[2] as f64 / p) as usize);
                    }
                    if rest_frac > 0.0 {
                        total = total.min((rest_avail as f64 / rest_frac) as usize);
                    }
                    total
                }
            };
            let off = (p * total as f64) as usize;
            for k in [1, 2] {
                if off > avail[k] || (size.is_none() && p > 0.0 && avail[k] == 0) {
                    return Err(short(k, off.max(1)));
                }
            }
            let rest = (rest_frac * total as f64) as usize;
            if rest > rest_avail || (size.is_none() && rest_frac > 0.0 && rest_avail == 0) {
                return Err(SplitError::RestShort { split: name, needed: rest.max(1), available: rest_avail });
            }
            // The remainder is uniform over the diagonal rows: a hypergeometric split between
            // t0a0 and t1a1, drawn by shuffling the union.
            let mut diag: Vec<usize> = cells[0].iter().chain(&cells[3]).copied().collect();
            partial_shuffle(&mut diag, rest, &mut rng);
            indices.extend_from_slice(&diag[..rest]);
            [0, off, off, 0]
        }
        Correlation::Phi { phi, target_rate, attribute_rate } => {
            let f = phi_fractions(name, phi, target_rate, attribute_rate)?;
            let total = match size {
                Some(total) => total,
                None => {
                    let bound = (0..4).filter(|&k| f[k] > 1e-12).map(|k| (avail[k] as f64 / f[k]) as usize).min().unwrap_or(0);
                    if bound == 0 {
                        let k = (0..4).find(|&k| f[k] > 1e-12 && avail[k] == 0).unwrap_or(0);
                        return Err(short(k, 1));
                    }
                    bound
                }
            };
            round_to_total(f, total)
        }
        Correlation::Balanced => {
            let per = match size {
                Some(total) => total / 4,
                None => {
                    let per = avail.iter().copied().min().unwrap_or(0);
                    if per == 0 {
                        let k = (0..4).find(|&k| avail[k] == 0).unwrap_or(0);
                        return Err(short(k, 1));
                    }
                    per
                }
            };
            [per; 4]
        }
    };
    for k in 0..4 {
        if take[k] > avail[k] {
            return Err(short(k, take[k]));
        }
        let cell = &mut cells[k];
        partial_shuffle(cell, take[k], &mut rng);
        indices.extend_from_slice(&cell[..take[k]]);
    }
    indices.sort_unstable();
    let counts = CellCounts::of(labels.target, labels.attribute, &indices);
    Ok(Split { name, indices, phi: counts.phi(), counts })
}

/// Cell fractions `[t0a0, t0a1, t1a0, t1a1]` with marginals `πt, πa` and correlation `φ`.
fn phi_fractions(split: SplitName, phi: f64, pt: f64, pa: f64) -> Result<[f64; 4], SplitError> {
    let sd = (pt * (1.0 - pt) * pa * (1.0 - pa)).sqrt();
    // a = n11 ranges over [max(0, πt+πa−1), min(πt, πa)].
    let (lo, hi) = ((pt + pa - 1.0).max(0.0), pt.min(pa));
    let (min, max) = if sd > 0.0 { ((lo - pt * pa) / sd, (hi - pt * pa) / sd) } else { (0.0, 0.0) };
    let ok_rates = (0.0..=1.0).contains(&pt) && (0.0..=1.0).contains(&pa) && sd > 0.0;
    if !ok_rates || !phi.is_finite() || phi < min - 1e-9 || phi > max + 1e-9 {
        return Err(SplitError::Phi { split, phi, target_rate: pt, attribute_rate: pa, min, max });
    }
    let a = (pt * pa + phi * sd).clamp(lo, hi);
    Ok([1.0 - pt - pa + a, pa - a, pt - a, a].map(|v| v.max(0.0)))
}

/// Integer counts summing to `total` in proportions `f` (largest remainder).
fn round_to_total(f: [f64; 4], total: usize) -> [usize; 4] {
    let sum: f64 = f.iter().sum();
    let exact = f.map(|v| v / sum * total as f64);
    let mut counts = exact.map(|v| v.floor() as usize);
    let mut order = [0, 1, 2, 3];
    order.sort_by(|&i, &j| (exact[j] - exact[j].floor()).total_cmp(&(exact[i] - exact[i].floor())));
    let missing = total.saturating_sub(counts.iter().sum());
    for &k in order.iter().take(missing) {
        counts[k] += 1;
    }
    counts
}

/// Move a uniform random `k`-subset of `v` to its front (partial Fisher–Yates).
fn partial_shuffle(v: &mut [usize], k: usize, rng: &mut SplitMix64) {
    let n = v.len();
    for i in 0..k.min(n) {
        let j = i + (rng.next_u64() % (n - i) as u64) as usize;
        v.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SyntheticConfig;

    fn synthetic_labels(n: usize) -> (Vec<u8>, Vec<u8>) {
        SyntheticConfig::default().labels(0, n)
    }

    #[test]
    fn phi_of_hand_worked_tables() {
        let c = CellCounts { t0a0: 10, t0a1: 0, t1a0: 0, t1a1: 10 };
        assert_eq!(c.phi(), Some(1.0));
        let c = CellCounts { t0a0: 0, t0a1: 5, t1a0: 5, t1a1: 0 };
        assert_eq!(c.phi(), Some(-1.0));
        // a=20 b=10 c=5 d=15: (300−50)/√(30·20·25·25) = 250/612.37…
        let c = CellCounts { t0a0: 15, t0a1: 5, t1a0: 10, t1a1: 20 };
        let phi = c.phi().expect("defined");
        assert!((phi - 250.0 / (30.0f64 * 20.0 * 25.0 * 25.0).sqrt()).abs() < 1e-12);
        assert_eq!(CellCounts { t0a0: 3, t0a1: 4, t1a0: 0, t1a1: 0 }.phi(), None);
    }

    #[test]
    fn requested_phi_is_met_within_two_hundredths_on_10000_images() {
        let (t, a) = synthetic_labels(10_000);
        let pool: Vec<usize> = (0..10_000).collect();
        let labels = Labels { target: &t, attribute: &a };
        for phi in [-1.0, -0.8, -0.5, -0.2, 0.0, 0.1, 0.33, 0.7, 1.0] {
            let s = undersample(labels, &pool, SplitName::Train, &Correlation::phi(phi), None, 1).expect("feasible");
            let got = s.phi.expect("defined");
            assert!((got - phi).abs() <= 0.02, "asked φ={phi}, got {got} ({s})");
            assert!(s.counts.total() > 1000, "{s}");
            // Unbalanced marginals too.
            let corr = Correlation::Phi { phi: phi * 0.5, target_rate: 0.4, attribute_rate: 0.3 };
            let s = undersample(labels, &pool, SplitName::Train, &corr, None, 1).expect("feasible");
            let got = s.phi.expect("defined");
            assert!((got - phi * 0.5).abs() <= 0.02, "asked φ={}, got {got} ({s})", phi * 0.5);
            let pt = (s.counts.t1a0 + s.counts.t1a1) as f64 / s.counts.total() as f64;
            assert!((pt - 0.4).abs() < 0.01, "target rate {pt}");
        }
    }

    #[test]
    fn authors_percentage_rules_hold_exactly() {
        let (t, a) = synthetic_labels(8000);
        let pool: Vec<usize> = (0..8000).collect();
        let labels = Labels { target: &t, attribute: &a };
        let s = undersample(labels, &pool, SplitName::Train, &Correlation::CellPercentage { p: 0.5 }, None, 0).expect("feasible");
        assert_eq!((s.counts.t0a0, s.counts.t1a1), (0, 0));
        assert_eq!(s.counts.t0a1, s.counts.t1a0);
        assert_eq!(s.phi, Some(-1.0));
        let s = undersample(labels, &pool, SplitName::Debias, &Correlation::CellPercentage { p: 0.25 }, None, 0).expect("feasible");
        let total = s.counts.total() as f64;
        assert!((s.counts.t0a1 as f64 / total - 0.25).abs() < 1e-3 && (s.counts.t1a0 as f64 / total - 0.25).abs() < 1e-3, "{s}");
        // docs/METHODS.md#splits: with r = share of (T1, PA1) in the diagonal rows,
        // a = r(1−2p), d = (1−r)(1−2p), b = c = p. Balanced labels here, r ≈ 0.5, so φ ≈ 0 at
        // p = 0.25.
        let expect = |p: f64, r: f64| {
            let (a, d) = (r * (1.0 - 2.0 * p), (1.0 - r) * (1.0 - 2.0 * p));
            (a * d - p * p) / ((a + p) * (p + d) * (a + p) * (p + d)).sqrt()
        };
        assert!((s.phi.expect("defined") - expect(0.25, 0.5)).abs() < 0.03, "{s}");
        // A rare attribute (10%): r = 0.05 / 0.5 = 0.1, φ follows the same formula.
        let cfg = SyntheticConfig { attribute_rate: 0.1, ..SyntheticConfig::default() };
        let (rt, ra) = cfg.labels(0, 20_000);
        let rare_pool: Vec<usize> = (0..20_000).collect();
        let rare = Labels { target: &rt, attribute: &ra };
        for p in [0.1, 0.25, 1.0 / 3.0] {
            let s = undersample(rare, &rare_pool, SplitName::Train, &Correlation::CellPercentage { p }, None, 0).expect("feasible");
            assert!((s.phi.expect("defined") - expect(p, 0.1)).abs() < 0.03, "p={p}: {s}, expected {}", expect(p, 0.1));
        }
        // With a requested size the off-diagonal cells get exactly int(p·size) each.
        let s = undersample(labels, &pool, SplitName::Train, &Correlation::CellPercentage { p: 0.1 }, Some(1000), 3).expect("feasible");
        assert_eq!((s.counts.t0a1, s.counts.t1a0, s.counts.total()), (100, 100, 1000));
    }

    #[test]
    fn test_split_is_exactly_balanced_and_splits_are_disjoint_blocks() {
        let (t, a) = synthetic_labels(10_000);
        let splits = make_splits(&t, &a, None, &SplitConfig::default()).expect("feasible");
        let c = splits.test.counts;
        assert_eq!([c.t0a0, c.t0a1, c.t1a0], [c.t1a1; 3]);
        assert_eq!(splits.test.phi, Some(0.0));
        // Blocks: train rows < 3000 ≤ test rows < 8000 ≤ debias rows.
        assert!(splits.train.indices.iter().all(|&i| i < 3000));
        assert!(splits.test.indices.iter().all(|&i| (3000..8000).contains(&i)));
        assert!(splits.debias.indices.iter().all(|&i| i >= 8000));
        // The test split takes every image of its rarest cell.
        let pool: Vec<usize> = (3000..8000).collect();
        let all = CellCounts::of(&t, &a, &pool);
        assert_eq!(c.t0a0, [all.t0a0, all.t0a1, all.t1a0, all.t1a1].into_iter().min().unwrap_or(0));
        // Same seed, same splits; another seed, other rows.
        assert_eq!(splits, make_splits(&t, &a, None, &SplitConfig::default()).expect("feasible"));
        let other = make_splits(&t, &a, None, &SplitConfig { seed: 7, ..SplitConfig::default() }).expect("feasible");
        assert_ne!(splits.train.indices, other.train.indices);
    }

    #[test]
    fn short_cells_are_clear_errors() {
        // Only 3 images have the attribute with target 0; 10 in each other cell.
        let mut t = vec![0u8; 13];
        let mut a = vec![0u8; 10];
        a.extend([1, 1, 1]);
        t.extend([1u8; 20]);
        a.extend([0u8; 10]);
        a.extend([1u8; 10]);
        let pool: Vec<usize> = (0..t.len()).collect();
        let labels = Labels { target: &t, attribute: &a };
        let e = undersample(labels, &pool, SplitName::Train, &Correlation::phi(-0.5), Some(40), 0).expect_err("too many asked");
        assert!(matches!(e, SplitError::CellShort { target: 0, attribute: 1, available: 3, .. }), "{e}");
        assert!(e.to_string().contains("only 3"), "{e}");
        // A cell that is empty cannot be balanced.
        let a0 = vec![0; t.len()];
        let e = undersample(Labels { target: &t, attribute: &a0 }, &pool, SplitName::Test, &Correlation::Balanced, None, 0).expect_err("empty cell");
        assert!(matches!(e, SplitError::CellShort { split: SplitName::Test, available: 0, .. }), "{e}");
        assert!(matches!(
            undersample(labels, &pool, SplitName::Train, &Correlation::CellPercentage { p: 0.7 }, None, 0),
            Err(SplitError::Percentage { .. })
        ));
        // φ = 1 is impossible with unequal marginals.
        let corr = Correlation::Phi { phi: 1.0, target_rate: 0.5, attribute_rate: 0.1 };
        assert!(matches!(undersample(labels, &pool, SplitName::Train, &corr, None, 0), Err(SplitError::Phi { .. })));
    }

    #[test]
    fn official_partition_maps_validation_to_debias() {
        let (t, a) = synthetic_labels(4000);
        let part: Vec<u8> = (0..4000).map(|i| (i % 3) as u8).collect();
        let config = SplitConfig { pools: Pools::Official, train: Correlation::phi(-0.3), debias: Correlation::phi(-0.3), ..SplitConfig::default() };
        let s = make_splits(&t, &a, Some(&part), &config).expect("feasible");
        assert!(s.train.indices.iter().all(|&i| part[i] == 0));
        assert!(s.debias.indices.iter().all(|&i| part[i] == 1));
        assert!(s.test.indices.iter().all(|&i| part[i] == 2));
        assert!(matches!(make_splits(&t, &a, None, &config), Err(SplitError::Partition(_))));
    }
}
