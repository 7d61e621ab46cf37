//! How sure a verdict is (SPEC §4a; README "How sure is a verdict"): per
//! class, the windows that got better, stayed the same or got worse, the
//! discordant actionable items, 95% intervals for Δfn, Δrecall and Δfp
//! paired by review window, and a sign-flip p-value for Δfn, Holm-adjusted
//! across the classes.
//!
//! Windows are the independent unit, never items. Few windows: a paired
//! bootstrap over windows (percentile interval). Many: a cluster-robust
//! normal interval over windows. Every random draw comes from a ChaCha20
//! generator seeded by the packet's inputs and the class name, so the result
//! is a pure function of the packet's inputs; everything here runs
//! sequentially per class and never depends on the thread count.

use crate::canonical::Digest;
use crate::replay::WindowCounts;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use rand_distr::{Binomial, Distribution};
use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, Normal, StudentsT};
use std::collections::BTreeMap;

/// Bootstrap resamples drawn for a class with few windows.
pub const BOOTSTRAP_RESAMPLES: u32 = 4000;
/// From this many windows on, the cluster-robust normal interval is used.
pub const NORMAL_FROM_WINDOWS: u32 = 30;
/// Up to this many non-zero window differences the sign-flip p-value is exact.
pub const SIGN_FLIP_EXACT_UP_TO: u32 = 20;
/// Monte Carlo sign flips beyond that.
pub const SIGN_FLIP_DRAWS: u32 = 10_000;
pub const CONFIDENCE: f64 = 0.95;

/// The method, as recorded in the packet.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Method {
    /// Two-sided confidence of every interval.
    pub confidence: f64,
    /// `significant` means the Holm-adjusted p-value is at most this.
    pub alpha: f64,
    /// Intervals for classes with fewer windows than `normal_from_windows`.
    pub few_windows: String,
    pub bootstrap_resamples: u32,
    pub normal_from_windows: u32,
    /// Intervals for classes with at least `normal_from_windows` windows.
    pub many_windows: String,
    pub p_value: String,
    pub sign_flip_exact_up_to: u32,
    pub sign_flip_draws: u32,
    /// Which p-values are adjusted together.
    pub holm_family: String,
    /// The generator's seed: sha256 of the history fingerprint, both revisions and the settings.
    pub seed: Digest,
}

impl Method {
    pub fn new(alpha: f64, seed: Digest) -> Method {
        Method {
            confidence: CONFIDENCE,
            alpha,
            few_windows: "paired bootstrap over windows: percentile interval, each end widened by sqrt(n/(n-1))*t(n-1)/z".into(),
            bootstrap_resamples: BOOTSTRAP_RESAMPLES,
            normal_from_windows: NORMAL_FROM_WINDOWS,
            many_windows: "cluster-robust (delta-method) interval over windows, t(n-1) critical value".into(),
            p_value: "two-sided sign-flip randomization of the per-window differences in fn".into(),
            sign_flip_exact_up_to: SIGN_FLIP_EXACT_UP_TO,
            sign_flip_draws: SIGN_FLIP_DRAWS,
            holm_family: "every class in `classes`; the `*` row is reported unadjusted".into(),
            seed,
        }
    }
}

/// Windows by their own missed actionable items: d_w = candidate fn_w − live fn_w.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WindowTally {
    pub better: u64,
    pub same: u64,
    pub worse: u64,
}

/// Actionable items surfaced by exactly one side.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DiscordantItems {
    pub only_live: u64,
    pub only_candidate: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum IntervalMethod {
    /// Fewer than two windows: no interval.
    None,
    Bootstrap,
    Normal,
}

/// A two-sided interval for candidate − live.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Interval {
    pub low: f64,
    pub high: f64,
}

/// "[-37.9, +3.9]": one decimal, signed, as the page and the terminal show it.
impl std::fmt::Display for Interval {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{:+.1}, {:+.1}]", self.low, self.high)
    }
}

impl Interval {
    /// Each end moved `factor` times as far from `estimate`.
    fn widened(self, estimate: f64, factor: f64) -> Interval {
        Interval {
            low: estimate - (estimate - self.low) * factor,
            high: estimate + (self.high - estimate) * factor,
        }
    }

    pub fn contains(&self, x: f64) -> bool {
        self.low <= x && x <= self.high
    }
}

/// The uncertainty of one class's (or `*`'s) deltas.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Uncertainty {
    pub windows: WindowTally,
    pub discordant: DiscordantItems,
    pub method: IntervalMethod,
    /// Interval for Δfn (a count of missed actionable items); null under two windows.
    #[serde(rename = "fn")]
    pub fn_: Option<Interval>,
    /// Interval for Δrecall; null when the class has no actionable items.
    pub recall: Option<Interval>,
    /// Interval for Δfp (judged, surfaced, not actionable).
    pub fp: Option<Interval>,
    /// Two-sided sign-flip p-value for Δfn; null with no windows.
    pub p_value: Option<f64>,
    /// Holm-adjusted across the classes (the `*` row: unadjusted).
    pub p_adjusted: Option<f64>,
    /// `p_adjusted` ≤ alpha.
    pub significant: bool,
}

/// One window's paired differences for one class.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Paired {
    /// candidate fn_w − live fn_w.
    pub d_fn: i64,
    /// candidate fp_w − live fp_w.
    pub d_fp: i64,
    /// Judged actionable items in the window.
    pub actionable: u64,
}

impl Paired {
    pub fn of(w: &WindowCounts) -> Paired {
        Paired {
            d_fn: w.tp[0] as i64 - w.tp[1] as i64,
            d_fp: w.fp[1] as i64 - w.fp[0] as i64,
            actionable: w.actionable as u64,
        }
    }
}

/// Another class's differences in the same window, for the `*` row's sum.
impl std::ops::AddAssign for Paired {
    fn add_assign(&mut self, p: Paired) {
        self.d_fn += p.d_fn;
        self.d_fp += p.d_fp;
        self.actionable += p.actionable;
    }
}

/// Every class's paired differences (indexed like the history's classes:
/// each window the class has items in, in window order) and the `*` row's
/// (each window's summed over its classes, in window order). One pass over
/// each ranking batch's run of window counts, on its own thread, with each
/// class's room counted first; then the runs end to end. A window's
/// entries lie next to each other; one cut between two runs is joined.
pub fn paired_by_class(counts: &[Vec<WindowCounts>], classes: usize) -> (Vec<Vec<Paired>>, Vec<Paired>) {
    use rayon::prelude::*;
    let per_run: Vec<RunPaired> = counts.par_iter().map(|run| RunPaired::of(run, classes)).collect();
    let mut all: Vec<Paired> = Vec::with_capacity(per_run.iter().map(|r| r.all.len()).sum());
    let mut last_window = None;
    for r in &per_run {
        let mut windows = r.all.iter();
        if last_window.is_some() && last_window == r.first_window {
            *all.last_mut().expect("a window was seen") += *windows.next().expect("a first window");
        }
        all.extend(windows);
        last_window = r.last_window.or(last_window);
    }
    let by_class = (0..classes)
        .into_par_iter()
        .map(|k| {
            let mut paired = Vec::with_capacity(per_run.iter().map(|r| r.by_class[k].len()).sum());
            for r in &per_run {
                paired.extend_from_slice(&r.by_class[k]);
            }
            paired
        })
        .collect();
    (by_class, all)
}

/// One run's paired differences: per class, and summed per window.
struct RunPaired {
    by_class: Vec<Vec<Paired>>,
    all: Vec<Paired>,
    first_window: Option<u32>,
    last_window: Option<u32>,
}

impl RunPaired {
    fn of(run: &[WindowCounts], classes: usize) -> RunPaired {
        let mut room = vec![0usize; classes];
        for w in run {
            room[w.class as usize] += 1;
        }
        let mut by_class: Vec<Vec<Paired>> = room.into_iter().map(Vec::with_capacity).collect();
        let mut all: Vec<Paired> = Vec::new();
        let mut last_window = None;
        for w in run {
            let p = Paired::of(w);
            by_class[w.class as usize].push(p);
            if last_window != Some(w.window) {
                all.push(Paired::default());
                last_window = Some(w.window);
            }
            *all.last_mut().expect("pushed above") += p;
        }
        RunPaired {
            by_class,
            all,
            first_window: run.first().map(|w| w.window),
            last_window,
        }
    }
}

/// The generator for one class's draws: seeded by the packet's seed and the class name.
fn generator(seed: &Digest, class: &str, purpose: &str) -> ChaCha20Rng {
    let d = Digest::of(format!("{}\n{class}\n{purpose}", seed.as_str()).as_bytes());
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(d.hex(), &mut bytes).expect("a digest is 32 bytes of hex");
    ChaCha20Rng::from_seed(bytes)
}

/// Everything but the Holm adjustment, for one class (`class` names the seed stream).
pub fn uncertainty(windows: &[Paired], discordant: DiscordantItems, seed: &Digest, class: &str) -> Uncertainty {
    let mut tally = WindowTally::default();
    for w in windows {
        match w.d_fn.signum() {
            -1 => tally.better += 1,
            0 => tally.same += 1,
            _ => tally.worse += 1,
        }
    }
    let n = windows.len();
    let (method, intervals) = if n < 2 {
        (IntervalMethod::None, [None, None, None])
    } else if (n as u32) < NORMAL_FROM_WINDOWS {
        (
            IntervalMethod::Bootstrap,
            bootstrap(windows, &mut generator(seed, class, "bootstrap")),
        )
    } else {
        (IntervalMethod::Normal, normal(windows))
    };
    let d: Vec<i64> = windows.iter().map(|w| w.d_fn).collect();
    let p_value = (n > 0).then(|| sign_flip_p(&d, &mut generator(seed, class, "sign-flip")));
    Uncertainty {
        windows: tally,
        discordant,
        method,
        fn_: intervals[0],
        recall: intervals[1],
        fp: intervals[2],
        p_value,
        p_adjusted: p_value,
        significant: false,
    }
}

/// The z quantile of the two-sided [`CONFIDENCE`].
fn z() -> f64 {
    Normal::standard().inverse_cdf(0.5 + CONFIDENCE / 2.0)
}

/// Cluster-robust normal intervals for the totals Δfn and Δfp and the ratio
/// Δrecall = −Σd_fn / Σactionable, windows as clusters:
/// Var(Σx) ≈ n/(n−1) Σ(x_w − x̄)², and for the ratio the delta-method
/// linearisation Var(R) ≈ n/(n−1) Σ(y_w − R·a_w)² / A², with Student's
/// t(n − 1) critical value (the usual small-cluster correction). The sums of squares are exact integers (i128), so the result does not
/// depend on the order the windows come in.
fn normal(windows: &[Paired]) -> [Option<Interval>; 3] {
    let n = windows.len() as i128;
    let z = t_quantile(windows.len());
    let scale = n as f64 / (n - 1) as f64;
    let total_interval = |x: &dyn Fn(&Paired) -> i128| {
        let (sum, sum_sq) = windows.iter().fold((0i128, 0i128), |(s, q), w| (s + x(w), q + x(w) * x(w)));
        // Σ(x − x̄)² = (n·Σx² − (Σx)²) / n
        let ss = (n * sum_sq - sum * sum) as f64 / n as f64;
        let se = (scale * ss).sqrt();
        Interval {
            low: sum as f64 - z * se,
            high: sum as f64 + z * se,
        }
    };
    let fn_ = total_interval(&|w| w.d_fn as i128);
    let fp = total_interval(&|w| w.d_fp as i128);
    let a: i128 = windows.iter().map(|w| w.actionable as i128).sum();
    let recall = (a > 0).then(|| {
        let (mut y, mut yy, mut ya, mut aa) = (0i128, 0i128, 0i128, 0i128);
        for w in windows {
            let (yw, aw) = (-(w.d_fn as i128), w.actionable as i128);
            (y, yy, ya, aa) = (y + yw, yy + yw * yw, ya + yw * aw, aa + aw * aw);
        }
        // Σ(y − R·a)² with R = Y/A, times A²: Σy²·A² − 2·Y·A·Σya + Y²·Σa² (exact).
        let ss_times_a2 = (yy * a * a - 2 * y * a * ya + y * y * aa) as f64;
        let r = y as f64 / a as f64;
        let se = (scale * ss_times_a2).sqrt() / (a as f64 * a as f64);
        Interval {
            low: r - z * se,
            high: r + z * se,
        }
    });
    [Some(fn_), recall, Some(fp)]
}

/// Paired bootstrap over windows: resample the windows with replacement
/// [`BOOTSTRAP_RESAMPLES`] times; percentile interval (nearest rank) of the
/// resampled totals and ratios. Resamples with no actionable item have no
/// recall and are left out of its interval.
fn bootstrap(windows: &[Paired], rng: &mut ChaCha20Rng) -> [Option<Interval>; 3] {
    use rand::RngExt;
    let n = windows.len();
    let b = BOOTSTRAP_RESAMPLES as usize;
    let (mut fns, mut fps, mut recalls) = (Vec::with_capacity(b), Vec::with_capacity(b), Vec::with_capacity(b));
    for _ in 0..b {
        let (mut d_fn, mut d_fp, mut a) = (0i64, 0i64, 0u64);
        for _ in 0..n {
            let w = &windows[rng.random_range(0..n)];
            d_fn += w.d_fn;
            d_fp += w.d_fp;
            a += w.actionable;
        }
        fns.push(d_fn as f64);
        fps.push(d_fp as f64);
        if a > 0 {
            recalls.push(-(d_fn as f64) / a as f64);
        }
    }
    let has_actionable = windows.iter().any(|w| w.actionable > 0);
    let total = |x: &dyn Fn(&Paired) -> f64| windows.iter().map(x).sum::<f64>();
    let a = total(&|w| w.actionable as f64);
    let widen = small_sample_widening(n);
    [
        percentile_interval(&mut fns).map(|i| i.widened(total(&|w| w.d_fn as f64), widen)),
        percentile_interval(&mut recalls)
            .filter(|_| has_actionable)
            .map(|i| i.widened(-total(&|w| w.d_fn as f64) / a, widen)),
        percentile_interval(&mut fps).map(|i| i.widened(total(&|w| w.d_fp as f64), widen)),
    ]
}

/// A percentile bootstrap over n windows is too narrow for small n: its
/// spread is that of a plug-in variance (divisor n, not n − 1) and its tails
/// are normal, not Student's. Both corrections together:
/// sqrt(n / (n − 1)) · t(n − 1) / z, applied to each end's distance from the estimate.
fn small_sample_widening(n: usize) -> f64 {
    (n as f64 / (n - 1) as f64).sqrt() * t_quantile(n) / z()
}

/// Student's t(n − 1) quantile of the two-sided [`CONFIDENCE`], n ≥ 2 windows.
fn t_quantile(n: usize) -> f64 {
    let df = (n - 1) as f64;
    StudentsT::new(0.0, 1.0, df).expect("df ≥ 1").inverse_cdf(0.5 + CONFIDENCE / 2.0)
}

/// Nearest-rank percentiles at (1 − confidence)/2 and (1 + confidence)/2.
fn percentile_interval(values: &mut [f64]) -> Option<Interval> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    let at = |q: f64| {
        let pos = ((values.len() as f64 * q).ceil() as usize).clamp(1, values.len());
        values[pos - 1]
    };
    Some(Interval {
        low: at((1.0 - CONFIDENCE) / 2.0),
        high: at((1.0 + CONFIDENCE) / 2.0),
    })
}

/// Two-sided sign-flip p-value of Σd: the share of sign assignments to the
/// non-zero d_w whose |Σ| is at least the observed one. Exact (by
/// convolution over the integer sums) up to [`SIGN_FLIP_EXACT_UP_TO`]
/// non-zero windows; beyond, [`SIGN_FLIP_DRAWS`] Monte Carlo draws with
/// p = (1 + hits) / (1 + draws). A draw flips every window independently,
/// drawn as one Binomial(k, ½) per distinct |d| (the same distribution,
/// in time independent of the number of windows).
pub fn sign_flip_p(d: &[i64], rng: &mut ChaCha20Rng) -> f64 {
    let nonzero: Vec<i64> = d.iter().copied().filter(|&x| x != 0).map(i64::abs).collect();
    if nonzero.is_empty() {
        return 1.0;
    }
    let observed = d.iter().sum::<i64>().abs();
    if nonzero.len() as u32 <= SIGN_FLIP_EXACT_UP_TO {
        return exact_sign_flip(&nonzero, observed);
    }
    let mut by_size: BTreeMap<i64, u64> = BTreeMap::new();
    for x in nonzero {
        *by_size.entry(x).or_default() += 1;
    }
    let draws: Vec<(i64, u64, Binomial)> = by_size
        .into_iter()
        .map(|(v, k)| (v, k, Binomial::new(k, 0.5).expect("p = 0.5 is a probability")))
        .collect();
    let mut hits = 0u64;
    for _ in 0..SIGN_FLIP_DRAWS {
        let t: i64 = draws.iter().map(|(v, k, b)| v * (2 * b.sample(rng) as i64 - *k as i64)).sum();
        hits += (t.abs() >= observed) as u64;
    }
    (1 + hits) as f64 / (1 + SIGN_FLIP_DRAWS as u64) as f64
}

/// Exact sign-flip distribution of Σ±|d_w| by convolution.
fn exact_sign_flip(magnitudes: &[i64], observed: i64) -> f64 {
    let span: i64 = magnitudes.iter().sum();
    let mut ways = vec![0u64; 2 * span as usize + 1];
    ways[span as usize] = 1;
    for &m in magnitudes {
        let mut next = vec![0u64; ways.len()];
        for (s, &c) in ways.iter().enumerate().filter(|(_, &c)| c > 0) {
            next[s + m as usize] += c;
            next[s - m as usize] += c;
        }
        ways = next;
    }
    let total: u64 = ways.iter().sum();
    let extreme: u64 = ways
        .iter()
        .enumerate()
        .filter(|(s, _)| (*s as i64 - span).abs() >= observed)
        .map(|(_, &c)| c)
        .sum();
    extreme as f64 / total as f64
}

/// Holm's step-down adjustment, in place, over the classes that have a
/// p-value; then `significant` = adjusted ≤ alpha. Ties keep class order.
pub fn holm(classes: &mut [&mut Uncertainty], alpha: f64) {
    let mut order: Vec<usize> = (0..classes.len()).filter(|&i| classes[i].p_value.is_some()).collect();
    order.sort_by(|&a, &b| classes[a].p_value.partial_cmp(&classes[b].p_value).expect("p-values are finite"));
    let m = order.len();
    let mut running = 0.0f64;
    for (j, &i) in order.iter().enumerate() {
        let p = classes[i].p_value.expect("filtered");
        running = running.max(((m - j) as f64 * p).min(1.0));
        classes[i].p_adjusted = Some(running);
    }
    for u in classes.iter_mut() {
        u.significant = u.p_adjusted.is_some_and(|p| p <= alpha);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rng() -> ChaCha20Rng {
        ChaCha20Rng::from_seed([7; 32])
    }

    /// Each class's paired differences are its window counts, in window
    /// order (runs in order, entries in order), and the `*` row's each
    /// window's summed (a window cut between two runs too), whatever the
    /// thread count.
    #[test]
    fn paired_by_class_is_each_class_filtered_in_order_and_the_star_row_summed() {
        use rand::RngExt;
        let mut r = rng();
        let classes = 7;
        let mut window = 0;
        let counts: Vec<Vec<WindowCounts>> = (0..40)
            .map(|_| {
                (0..r.random_range(0..200))
                    .map(|_| {
                        window += r.random_range(0..2);
                        WindowCounts {
                            window,
                            class: r.random_range(0..classes as u16),
                            actionable: r.random_range(0..30),
                            tp: [r.random_range(0..9), r.random_range(0..9)],
                            fp: [r.random_range(0..9), r.random_range(0..9)],
                        }
                    })
                    .collect()
            })
            .collect();
        // The `*` row's definition: entries in order, one sum per window.
        let mut all: Vec<(u32, Paired)> = Vec::new();
        for w in counts.iter().flatten() {
            let p = Paired::of(w);
            match all.last_mut() {
                Some((window, a)) if *window == w.window => *a += p,
                _ => all.push((w.window, p)),
            }
        }
        let all: Vec<Paired> = all.into_iter().map(|(_, p)| p).collect();
        for threads in 1..=3 {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            let (by_class, star) = pool.install(|| paired_by_class(&counts, classes));
            assert_eq!(by_class.len(), classes);
            for (k, paired) in by_class.iter().enumerate() {
                let want: Vec<Paired> = counts.iter().flatten().filter(|w| w.class as usize == k).map(Paired::of).collect();
                assert_eq!(paired, &want, "class {k}, {threads} threads");
            }
            assert_eq!(star, all, "{threads} threads");
        }
    }

    #[test]
    fn exact_sign_flip_matches_enumeration() {
        // d = [1, 2, 3]: sums of ±1 ±2 ±3 are -6,-4,-2,0,0,2,4,6; |sum| ≥ 6 in 2 of 8.
        assert_eq!(sign_flip_p(&[1, 2, 3, 0], &mut rng()), 0.25);
        assert_eq!(sign_flip_p(&[1, -1], &mut rng()), 1.0);
        assert_eq!(sign_flip_p(&[0, 0], &mut rng()), 1.0);
        // Five windows all worse by one: only all-plus and all-minus reach 5.
        assert_eq!(sign_flip_p(&[1; 5], &mut rng()), 2.0 / 32.0);
    }

    #[test]
    fn monte_carlo_sign_flip_agrees_with_the_normal_limit() {
        // 400 windows of ±1 with sum 40: z = 40/20 = 2, p ≈ 0.0455 (two-sided), with a continuity step.
        let mut d = vec![1i64; 220];
        d.extend(vec![-1i64; 180]);
        let p = sign_flip_p(&d, &mut rng());
        assert!((0.035..0.06).contains(&p), "p = {p}");
    }

    #[test]
    fn holm_adjusts_step_down_and_keeps_monotone() {
        let mk = |p: f64| Uncertainty {
            windows: WindowTally::default(),
            discordant: DiscordantItems::default(),
            method: IntervalMethod::None,
            fn_: None,
            recall: None,
            fp: None,
            p_value: Some(p),
            p_adjusted: None,
            significant: false,
        };
        let (mut a, mut b, mut c) = (mk(0.01), mk(0.04), mk(0.03));
        holm(&mut [&mut a, &mut b, &mut c], 0.05);
        assert_eq!(a.p_adjusted, Some(0.03));
        assert_eq!(c.p_adjusted, Some(0.06));
        assert_eq!(b.p_adjusted, Some(0.06));
        assert!(a.significant && !b.significant && !c.significant);
    }

    #[test]
    fn normal_interval_is_the_cluster_robust_total() {
        let w: Vec<Paired> = [1i64, -1, 2, 0]
            .iter()
            .map(|&d| Paired {
                d_fn: d,
                d_fp: 0,
                actionable: 4,
            })
            .collect();
        let [fn_, recall, fp] = normal(&w);
        // total 2, mean 0.5, ss = 0.25+2.25+2.25+0.25 = 5, se = sqrt(4/3·5); t(3) = 3.182446.
        let se = (20.0f64 / 3.0).sqrt();
        let i = fn_.unwrap();
        assert!((i.low - (2.0 - 3.182446305284263 * se)).abs() < 1e-9 && (i.high - (2.0 + 3.182446305284263 * se)).abs() < 1e-9);
        let r = recall.unwrap();
        assert!(r.contains(-2.0 / 16.0));
        assert_eq!(fp.unwrap(), Interval { low: 0.0, high: 0.0 });
    }
}
