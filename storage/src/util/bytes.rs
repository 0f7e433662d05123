//! Byte counts for people: binary units (`1.5 MiB`, as `repo stat -H` and the
//! add progress bar print them) and SI units the way go-humanize's `Bytes` does
//! (`1.5 kB`, as Kubo's `stats bw` and `bitswap stat -H` print them).

/// `n` bytes in binary units (`B`, `KiB`, ... `TiB`) with `decimals` decimals
/// (whole bytes have none): `binary_units(1536, 2)` is `1.50 KiB`.
pub fn binary_units(n: u64, decimals: usize) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.decimals$} {}", UNITS[u])
    }
}

/// go-humanize's `Bytes`: SI units, one decimal below 10 (`1.5 kB`, `15 kB`).
pub fn si_units(n: f64) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    if n < 10.0 {
        return format!("{} B", n as u64);
    }
    let e = (n.log10() / 3.0).floor().min(6.0) as usize;
    let v = n / 1000f64.powi(e as i32);
    if v < 10.0 {
        format!("{v:.1} {}", UNITS[e])
    } else {
        format!("{v:.0} {}", UNITS[e])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary() {
        assert_eq!(binary_units(0, 1), "0 B");
        assert_eq!(binary_units(1023, 1), "1023 B");
        assert_eq!(binary_units(1536, 2), "1.50 KiB");
        assert_eq!(binary_units(3 << 20, 1), "3.0 MiB");
        assert_eq!(binary_units(5 << 40, 1), "5.0 TiB");
        assert_eq!(binary_units(2048 << 40, 0), "2048 TiB");
    }

    #[test]
    fn si_like_go_humanize() {
        assert_eq!(si_units(0.0), "0 B");
        assert_eq!(si_units(9.9), "9 B");
        assert_eq!(si_units(82.0), "82 B");
        assert_eq!(si_units(1500.0), "1.5 kB");
        assert_eq!(si_units(15_000.0), "15 kB");
        assert_eq!(si_units(2_500_000.0), "2.5 MB");
    }
}
