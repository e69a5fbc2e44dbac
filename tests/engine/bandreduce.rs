//! The first stage of the two-stage dense eigensolver: the panel QR kernel
//! (ops::bandreduce, shaders/bandreduce.wgsl) on its own, checked in f64 on the host
//! (Q = I - V T Vᵀ orthogonal, Qᵀ P = [R; 0] with R upper triangular, nothing outside
//! the panel touched), and the whole reduction to band form (linalg::two_stage), whose
//! band must have faer's eigenvalues and be written everywhere.

use rand::Rng;
use wideprobe::linalg::band::band_to_tridiagonal;
use wideprobe::linalg::tridiag::tridiag_eigenvalues;
use wideprobe::linalg::two_stage::TwoStage;
use wideprobe::linalg::Real;
use wideprobe::ops::bandreduce::{max_panel_rows, BandReduce, PanelKernel, MAX_BAND, PRIVATE_ROWS};

use crate::common;
use crate::spectral::reference_eigenvalues;

/// A random symmetric matrix of order n, entries in [-1, 1), as `T` stores it (in f64).
fn random_symmetric<T: Real>(rng: &mut impl Rng, n: usize) -> Vec<f64> {
    let mut a = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            let x = T::from_f64(rng.random_range(-1.0..1.0)).to_f64();
            a[i * n + j] = x;
            a[j * n + i] = x;
        }
    }
    a
}

fn frobenius(a: &[f64]) -> f64 {
    a.iter().map(|x| x * x).sum::<f64>().sqrt()
}

fn to_real<T: Real>(a: &[f64]) -> Vec<T> {
    a.iter().map(|&x| T::from_f64(x)).collect()
}

/// Orders and bands of the panel tests.
const ORDERS: [usize; 4] = [3, 7, 40, 130];
const BANDS: [usize; 3] = [1, 5, 32];

/// The panel of columns [col, col + b) of matrix `mat` of a stack of `count` random
/// symmetric matrices, by `record_panel` alone, its outputs (V's three copies, T) poisoned
/// first. Checked in f64: V zero above its diagonal and copied exactly, T upper
/// triangular, Q = I - V T Vᵀ orthogonal, Qᵀ P = R (the panel left in place, upper
/// triangular with exact zeros below), and every other element of the stack unchanged.
fn check_panel<T: Real>(
    kernel: PanelKernel, n: usize, b: usize, col: usize, mat: usize, count: usize,
) {
    let what = format!(
        "panel {kernel:?} {} n={n} b={b} col={col} mat={mat}/{count}",
        T::NAME
    );
    let gpu = common::gpu();
    let mut rng = common::rng(&what);
    let reduce = BandReduce::<T>::with_panel(gpu, kernel).unwrap();
    let work = reduce.work(gpu, count, n, b).unwrap();
    let before: Vec<f64> = (0..count)
        .flat_map(|_| random_symmetric::<T>(&mut rng, n))
        .collect();
    work.work.write(gpu, &to_real::<T>(&before)).unwrap();
    for t in [&work.vwv, &work.v, &work.tfac, &work.scratch] {
        t.poison(gpu).unwrap();
    }
    common::launch(|batch| reduce.record_panel(batch, &work, mat, col));
    let after = common::real_to_f64(&common::download(&work.work));
    let vwv = common::real_to_f64(&common::download(&work.vwv));
    let v_alone = common::real_to_f64(&common::download(&work.v));
    let t = common::real_to_f64(&common::download(&work.tfac));

    let m = n - col - b;
    let at = |i: usize, j: usize| mat * n * n + (col + b + i) * n + col + j;
    let in_panel = |idx: usize| {
        let (k, r, c) = (idx / (n * n), (idx / n) % n, idx % n);
        k == mat && r >= col + b && (col..col + b).contains(&c)
    };
    let changed: Vec<usize> = (0..count * n * n)
        .filter(|&idx| !in_panel(idx) && after[idx].to_bits() != before[idx].to_bits())
        .collect();
    assert!(
        changed.is_empty(),
        "{what}: {} elements outside the panel changed, first at {:?}",
        changed.len(),
        &changed[..changed.len().min(8)]
    );

    // The panel before (P) and after (R), m x b.
    let p: Vec<f64> = (0..m * b).map(|x| before[at(x / b, x % b)]).collect();
    let r: Vec<f64> = (0..m * b).map(|x| after[at(x / b, x % b)]).collect();
    assert!(r.iter().all(|x| x.is_finite()), "{what}: R not finite");
    for i in 0..m {
        for j in 0..i.min(b) {
            assert_eq!(r[i * b + j], 0.0, "{what}: R[{i}][{j}] below the diagonal");
        }
    }
    // V (m x b) from `v`, and its copies in `vwv` ([V | W | V], row stride 3b).
    let v = &v_alone[..m * b];
    for i in 0..m {
        for j in 0..b {
            let x = v[i * b + j];
            assert!(x.is_finite(), "{what}: V[{i}][{j}] = {x}");
            for copy in [vwv[i * 3 * b + j], vwv[i * 3 * b + 2 * b + j]] {
                assert_eq!(
                    x.to_bits(),
                    copy.to_bits(),
                    "{what}: V's copies differ at [{i}][{j}]"
                );
            }
            if i < j {
                assert_eq!(x, 0.0, "{what}: V[{i}][{j}] above the diagonal");
            }
            let w_slot = vwv[i * 3 * b + b + j];
            assert!(
                w_slot.is_nan(),
                "{what}: the panel wrote W's slot [{i}][{j}]"
            );
        }
    }
    // Nothing past the panel's rows: they belong to no panel (and the buffers' poison).
    let mut past = vwv[m * 3 * b..].iter().chain(&v_alone[m * b..]);
    assert!(
        past.all(|x| x.is_nan()),
        "{what}: V written past the panel's {m} rows"
    );
    assert!(
        t.iter().all(|x| x.is_finite()),
        "{what}: T not finite: {t:?}"
    );
    for i in 0..b {
        for j in 0..i {
            assert_eq!(t[i * b + j], 0.0, "{what}: T[{i}][{j}] below the diagonal");
        }
    }

    // Q = I - V T Vᵀ (m x m), in f64.
    let mut vt = vec![0.0; m * b];
    for i in 0..m {
        for j in 0..b {
            vt[i * b + j] = (0..b).map(|q| v[i * b + q] * t[q * b + j]).sum();
        }
    }
    let mut q = vec![0.0; m * m];
    for i in 0..m {
        for j in 0..m {
            let vtv: f64 = (0..b).map(|l| vt[i * b + l] * v[j * b + l]).sum();
            q[i * m + j] = if i == j { 1.0 } else { 0.0 } - vtv;
        }
    }
    let u = T::UNIT_ROUNDOFF;
    // Each reflector takes a fixed number of roundings whatever m is (the norm's square
    // root, alpha, tau's division, v's entries), so small panels need an order floor, as
    // the dense solver's bound has (4 (n + 8) u): at n = 3, b = 1 (one reflector, m + b =
    // 3) draws reached 12.5 u in f32 and 8 u in f64, above 4 (m + b) u; at m + b >= 35
    // they stay below 0.4 (m + b) u (80 draws each, 40 of each panel kernel).
    let scale = (m + b + 8) as f64 * u;
    let mut orth = 0.0f64;
    for i in 0..m {
        for j in 0..m {
            let s: f64 = (0..m).map(|l| q[l * m + i] * q[l * m + j]).sum();
            orth = orth.max((s - if i == j { 1.0 } else { 0.0 }).abs());
        }
    }
    // Qᵀ P against R.
    let mut resid = 0.0f64;
    for i in 0..m {
        for j in 0..b {
            let s: f64 = (0..m).map(|l| q[l * m + i] * p[l * b + j]).sum();
            resid = resid.max((s - r[i * b + j]).abs());
        }
    }
    let resid = resid / frobenius(&p).max(f64::MIN_POSITIVE);
    eprintln!(
        "{what}: |QᵀQ - I| = {:.2} (m + b + 8) u, |QᵀP - R| = {:.2} (m + b + 8) u ‖P‖",
        orth / scale,
        resid / scale
    );
    assert!(
        orth <= 4.0 * scale,
        "{what}: Q = I - V T Vᵀ is not orthogonal: max |QᵀQ - I| = {orth:e} ({:.1} (m + b + 8) u)",
        orth / scale
    );
    assert!(
        resid <= 4.0 * scale,
        "{what}: Qᵀ P differs from R by {resid:e} ‖P‖_F ({:.1} (m + b + 8) u)",
        resid / scale
    );
}

/// Every order and band with a panel of at least two rows: the first panel (col 0) of
/// a single matrix, and the second (col b) of the second matrix of a stack of two.
fn panel_is_a_householder_qr<T: Real>() {
    for kernel in panel_kernels() {
        for n in ORDERS {
            for b in BANDS {
                if n >= b + 2 {
                    check_panel::<T>(kernel, n, b, 0, 0, 1);
                    // The first of two matrices: a write past the panel's last row lands
                    // in the second (rows m .. 4 ceil(m / 4) at n = 7, b = 1 and at
                    // n = 40, b = 1 once did), where the last matrix's is dropped.
                    check_panel::<T>(kernel, n, b, 0, 0, 2);
                }
                if n >= 2 * b + 2 {
                    check_panel::<T>(kernel, n, b, b, 1, 2);
                }
            }
        }
    }
}

/// The panel kernels this adapter runs (the shared one needs subgroups).
fn panel_kernels() -> Vec<PanelKernel> {
    common::runnable(PanelKernel::ALL, |k| k.available(common::gpu()))
}

precision_tests!(panel_is_a_householder_qr);

/// `panel_private` keeps each column in private memory where `panel_shared` keeps it in
/// `scratch`, with the same sums in the same order: their outputs must be the same bits,
/// up to the tallest panel it takes ([`PRIVATE_ROWS`]), and one row past it, where the
/// host must hand the panel to `panel_shared` (a private column clamped at the cap would
/// differ).
fn private_panel_matches_shared<T: Real>() {
    let gpu = common::gpu();
    if !PanelKernel::Private.available(gpu) {
        eprintln!(
            "skipped: {} has no subgroups or is not a CPU",
            gpu.summary.name
        );
        return;
    }
    let shared = BandReduce::<T>::with_panel(gpu, PanelKernel::Shared).unwrap();
    let private = BandReduce::<T>::with_panel(gpu, PanelKernel::Private).unwrap();
    let cases = [
        2,
        7,
        33,
        130,
        PRIVATE_ROWS - 1,
        PRIVATE_ROWS,
        PRIVATE_ROWS + 1,
    ]
    .map(|m| (m, MAX_BAND))
    .into_iter()
    .chain([(9, 5), (130, 5), (41, 1)]);
    for (m, b) in cases {
        let n = m + b;
        let what = format!("private panel {} m={m} b={b}", T::NAME);
        let mut rng = common::rng(&what);
        let mut a = vec![0.0; n * n];
        for i in 0..m {
            for j in 0..b {
                a[(b + i) * n + j] = T::from_f64(rng.random_range(-1.0..1.0)).to_f64();
            }
        }
        let outputs = |reduce: &BandReduce<T>| {
            let work = reduce.work(gpu, 1, n, b).unwrap();
            work.work.write(gpu, &to_real::<T>(&a)).unwrap();
            for t in [&work.vwv, &work.v, &work.tfac, &work.scratch] {
                t.poison(gpu).unwrap();
            }
            common::launch(|batch| reduce.record_panel(batch, &work, 0, 0));
            [&work.work, &work.vwv, &work.v, &work.tfac]
                .map(|t| common::real_to_f64(&common::download(t)))
        };
        let (want, got) = (outputs(&shared), outputs(&private));
        // `vwv` and `v` up to V's last row (what is past it is no panel's).
        let lengths = [n * n, m * 3 * b, m * b, b * b];
        let names = ["work", "vwv", "v", "tfac"];
        for ((name, len), (w, g)) in names.iter().zip(lengths).zip(want.iter().zip(&got)) {
            let first = (0..len).find(|&i| w[i].to_bits() != g[i].to_bits());
            assert!(
                first.is_none(),
                "{what}: {name} differs from panel_shared's at {first:?}: {:?} vs {:?}",
                first.map(|i| g[i]),
                first.map(|i| w[i])
            );
        }
    }
}

precision_tests!(private_panel_matches_shared);

/// Panels of fewer than two rows, matrices past the stack and bands out of range are
/// errors naming what was asked, not launches.
#[test]
fn panel_and_band_out_of_range_are_errors() {
    let gpu = common::gpu();
    let reduce = BandReduce::<f32>::new(gpu).unwrap();
    for b in [0, MAX_BAND + 1] {
        common::assert_error_names(
            reduce.work(gpu, 1, 10, b),
            &["1 to 32", &format!("got {b}")],
        );
    }
    let mut batch = wideprobe::gpu::Batch::new(gpu);
    for (n, b, col, mat, count) in [
        (3, 5, 0, 0, 1),
        (7, 32, 0, 0, 1),
        (10, 4, 5, 0, 1),
        (10, 4, 0, 2, 2),
    ] {
        let work = reduce.work(gpu, count, n, b).unwrap();
        let (matrix, order) = (format!("matrix {mat}"), format!("order {n}"));
        let column = format!("column {col}");
        let names: Vec<&str> = if mat < count {
            vec![&column, &matrix, &order]
        } else {
            vec![&matrix, &order]
        };
        common::assert_error_names(reduce.record_panel(&mut batch, &work, mat, col), &names);
    }
    let work = reduce.work(gpu, 2, 10, 4).unwrap();
    common::assert_error_names(
        reduce.record_extract(&mut batch, &work, 2),
        &["matrix 2", "stack of 2"],
    );
    batch.submit().unwrap();
}

/// The whole first stage by `TwoStage::record`: the band read back from `work.band`
/// (poisoned first, with every intermediate buffer) must be written everywhere (zeros
/// past the last row), and reduced on the host to a tridiagonal with faer's eigenvalues
/// of the input within 4 max(n, 8) u ‖A‖_F, u the unit roundoff of `T` (the floor of 8:
/// at n = 3 a few f64 ulps of the host eigensolvers alone reach 3 n u ‖A‖_F). The input's
/// upper triangles are NaN: only the lower ones may be read.
fn two_stage_band_has_the_input_eigenvalues<T: Real>() {
    let gpu = common::gpu();
    let stage = TwoStage::<T>::new(gpu).unwrap();
    let mut worst = 0.0f64;
    for (n, count) in [
        (3, 1),
        (7, 1),
        (40, 1),
        (130, 1),
        (40, 2),
        (46, 2),
        (257, 1),
    ] {
        let what = format!("two-stage {} n={n} count={count}", T::NAME);
        let mut rng = common::rng(&what);
        let mats: Vec<Vec<f64>> = (0..count)
            .map(|_| random_symmetric::<T>(&mut rng, n))
            .collect();
        let lower: Vec<T> = mats
            .iter()
            .flat_map(|a| {
                (0..n * n).map(|i| {
                    if i % n > i / n {
                        T::poison()
                    } else {
                        T::from_f64(a[i])
                    }
                })
            })
            .collect();
        let a = common::upload(&[count, n, n], &lower);
        let work = stage.work(gpu, count, n).unwrap();
        let b = work.b;
        for t in [
            &work.work, &work.vwv, &work.v, &work.tfac, &work.band, &work.x, &work.tz,
        ] {
            t.poison(gpu).unwrap();
        }
        common::launch(|batch| stage.record(batch, &a, &work));
        let band = common::real_to_f64(&common::download(&work.band));
        assert_eq!(band.len(), count * n * (b + 1));
        for (i, &x) in band.iter().enumerate() {
            let (j, k) = ((i / (b + 1)) % n, i % (b + 1));
            assert!(
                x.is_finite(),
                "{what}: band[{i}] (column {j}, offset {k}) = {x}"
            );
            if j + k >= n {
                assert_eq!(x, 0.0, "{what}: band[{i}] past the last row");
            }
        }
        let from_stage = wideprobe::linalg::two_stage::tridiagonals(gpu, &work).unwrap();
        for (mat, a) in mats.iter().enumerate() {
            let chunk = &band[mat * n * (b + 1)..(mat + 1) * n * (b + 1)];
            if n <= b + 1 {
                // No panel: the band is the lower triangle, copied exactly.
                for (i, &x) in chunk.iter().enumerate() {
                    let (j, k) = (i / (b + 1), i % (b + 1));
                    if j + k < n {
                        assert_eq!(x, a[(j + k) * n + j], "{what}: band[{i}] not copied");
                    }
                }
            }
            let (d, e) = band_to_tridiagonal(chunk, n, b).unwrap();
            assert_eq!(
                from_stage[mat],
                (d.clone(), e.clone()),
                "{what}: tridiagonals()"
            );
            let got = tridiag_eigenvalues(&d, &e).unwrap();
            let want = reference_eigenvalues(a, n);
            let unit = n.max(8) as f64 * T::UNIT_ROUNDOFF * frobenius(a);
            let err = got
                .iter()
                .zip(&want)
                .map(|(g, w)| (g - w).abs())
                .fold(0.0f64, f64::max);
            let ratio = err / unit;
            worst = worst.max(ratio);
            assert!(
                ratio <= 4.0,
                "{what} matrix {mat}: eigenvalue error {err:e} is {ratio:.2} max(n, 8) u ‖A‖_F \
                 (limit 4); got {:?}, faer {:?}",
                &got[..n.min(6)],
                &want[..n.min(6)]
            );
            eprintln!("{what} matrix {mat}: eigenvalue error {ratio:.3} max(n, 8) u ‖A‖_F");
        }
    }
    eprintln!("two-stage {}: worst {worst:.3} max(n, 8) u ‖A‖_F", T::NAME);
}

precision_tests!(two_stage_band_has_the_input_eigenvalues);

/// A matrix already of semi-bandwidth b: every panel is upper triangular, so every
/// reflector must be the identity (τ = 0, LAPACK's larfg) and the band come back bit for
/// bit, its signs included. A reflection built for a zero tail would flip the sign of a
/// band entry. Orders with one panel and with several; the extracted band poisoned first.
fn band_input_passes_through_exactly<T: Real>() {
    let gpu = common::gpu();
    let stage = TwoStage::<T>::new(gpu).unwrap();
    for n in [40usize, 71, 130] {
        let what = format!("band input {} n={n}", T::NAME);
        let mut rng = common::rng(&what);
        let work = stage.work(gpu, 1, n).unwrap();
        let b = work.b;
        let mut a = vec![T::from_f64(0.0); n * n];
        for i in 0..n {
            for j in i.saturating_sub(b)..=i {
                let x =
                    T::from_f64(rng.random_range(0.5..2.0) * [-1.0, 1.0][rng.random_range(0..2)]);
                a[i * n + j] = x;
                a[j * n + i] = x;
            }
        }
        let input = common::upload(&[n, n], &a);
        work.band.poison(gpu).unwrap();
        common::launch(|batch| stage.record(batch, &input, &work));
        let band = common::download(&work.band);
        for (idx, x) in band.iter().enumerate() {
            let (j, k) = (idx / (b + 1), idx % (b + 1));
            let want = if j + k < n {
                a[(j + k) * n + j]
            } else {
                T::from_f64(0.0)
            };
            assert!(
                x.to_f64().to_bits() == want.to_f64().to_bits(),
                "{what}: band[{j}][{k}] = {} where the input has {} (the reduction of a \
                 matrix already of band {b} must leave it unchanged)",
                x.to_f64(),
                want.to_f64()
            );
        }
    }
}

precision_tests!(band_input_passes_through_exactly);

/// Building the two-stage reduction warms its kernels up on a CPU adapter (one reduction,
/// one submission) once per device and precision, not each time a solver is built: a
/// training run builds one per measured epoch. Counted on a device of its own, since the
/// shared one's counters see other tests.
#[test]
fn two_stage_warms_up_once_per_device_and_precision() {
    let gpu = wideprobe::gpu::Gpu::from_env().unwrap();
    if !gpu.summary.is_cpu() {
        eprintln!(
            "skipped: {} is not a CPU adapter, where no warm-up runs",
            gpu.summary.name
        );
        return;
    }
    let warm_up = 1;
    let submissions_of = |build: &dyn Fn()| {
        let before = gpu.traffic().submissions;
        build();
        gpu.traffic().submissions - before
    };
    let f32_stage = || drop(TwoStage::<f32>::new(&gpu).unwrap());
    assert_eq!(submissions_of(&f32_stage), warm_up, "first f32 build");
    assert_eq!(submissions_of(&f32_stage), 0, "second f32 build");
    if gpu.features().contains(wgpu::Features::SHADER_F64) {
        let f64_stage = || drop(TwoStage::<f64>::new(&gpu).unwrap());
        assert_eq!(submissions_of(&f64_stage), warm_up, "first f64 build");
        assert_eq!(submissions_of(&f64_stage), 0, "second f64 build");
    }
}

/// The longest panel the kernel takes (`max_panel_rows`, or as long as the adapter's
/// storage binding limit lets the f32 matrix be): lavapipe ends an invocation's loops
/// after 65,535 iterations in all, silently, so a wrong count there would leave the last
/// work undone, T's rows first. Checked in f64 on the host at O(m b²): R has zeros below
/// its diagonal, V's first column holds P's below its diagonal, and Qᵀ P = P − V Tᵀ Vᵀ P
/// is R, which needs every entry of T.
#[test]
fn longest_panel_is_reduced_completely() {
    let gpu = common::gpu();
    let b = MAX_BAND;
    let binding = gpu.limits().max_storage_buffer_binding_size as f64;
    let m = max_panel_rows(b).min((binding / 4.0).sqrt() as usize - b);
    let n = m + b;
    for kernel in panel_kernels() {
        check_longest_panel(kernel, n, b);
    }
}

/// One kernel's [`longest_panel_is_reduced_completely`], at order n = m + b.
fn check_longest_panel(kernel: PanelKernel, n: usize, b: usize) {
    let gpu = common::gpu();
    let m = n - b;
    let mut rng = common::rng("longest panel");
    let reduce = BandReduce::<f32>::with_panel(gpu, kernel).unwrap();
    let work = reduce.work(gpu, 1, n, b).unwrap();
    // Only the panel (rows b.., columns 0..b) matters to the kernel; the rest stays 0.
    let mut a = vec![0.0f32; n * n];
    for i in 0..m {
        for j in 0..b {
            a[(b + i) * n + j] = rng.random_range(-1.0..1.0);
        }
    }
    work.work.write(gpu, &a).unwrap();
    for t in [&work.vwv, &work.v, &work.tfac, &work.scratch] {
        t.poison(gpu).unwrap();
    }
    common::launch(|batch| reduce.record_panel(batch, &work, 0, 0));
    let after = common::download(&work.work);
    let v_alone = common::download(&work.v);
    let t: Vec<f64> = common::download(&work.tfac)
        .iter()
        .map(|&x| x as f64)
        .collect();
    let p = |i: usize, j: usize| a[(b + i) * n + j] as f64;
    let r = |i: usize, j: usize| after[(b + i) * n + j] as f64;
    let v = |i: usize, j: usize| v_alone[i * b + j] as f64;
    for i in 1..m {
        assert_eq!(v(i, 0), p(i, 0), "V[{i}][0] is not P's column 0 (m = {m})");
        for j in 0..i.min(b) {
            assert_eq!(r(i, j), 0.0, "R[{i}][{j}] below the diagonal (m = {m})");
        }
    }
    assert!(t.iter().all(|x| x.is_finite()), "T not finite (m = {m})");
    // Vᵀ P, then Tᵀ Vᵀ P (b x b).
    let mut vtp = vec![0.0; b * b];
    for q in 0..b {
        for j in 0..b {
            vtp[q * b + j] = (0..m).map(|i| v(i, q) * p(i, j)).sum();
        }
    }
    let ttvtp: Vec<f64> = (0..b * b)
        .map(|x| (0..b).map(|q| t[q * b + x / b] * vtp[q * b + x % b]).sum())
        .collect();
    let mut worst = 0.0f64;
    for i in 0..m {
        for j in 0..b {
            let qtp = p(i, j) - (0..b).map(|q| v(i, q) * ttvtp[q * b + j]).sum::<f64>();
            worst = worst.max((qtp - r(i, j)).abs());
        }
    }
    let norm = (0..m * b)
        .map(|k| p(k / b, k % b).powi(2))
        .sum::<f64>()
        .sqrt();
    let limit = 4.0 * (m + b) as f64 * f32::EPSILON as f64 / 2.0 * norm;
    assert!(
        worst <= limit,
        "a panel of {m} rows (the most the kernel takes): Qᵀ P differs from R by {worst:e} \
         (limit {limit:e})"
    );
}
