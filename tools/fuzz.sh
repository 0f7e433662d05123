#!/usr/bin/env bash
# Runs every fuzz target (fuzz/: one libFuzzer binary, the target picked by name)
# for SECONDS_PER_TARGET seconds each and prints, per target, the executions, the
# corpus size and the findings (crash, timeout, out-of-memory and leak inputs left
# in fuzz/artifacts/<target>/). Exits 1 when anything was found.
#
#   tools/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]    default: 10 s, every target
#   tools/fuzz.sh --seeds                             rewrite the generated seeds
#   tools/fuzz.sh --list                              the targets' names
#
# Seeds are in fuzz/corpus/<target>/ (committed, read only here); what a run
# discovers goes to <target dir>/corpus/<target>/, kept between runs, so a long
# campaign resumes where the last one stopped. Reproduce a finding with
#   ACORN_FUZZ_TARGET=<target> <binary> fuzz/artifacts/<target>/<file>
# (the binary's path is printed at the start).
#
# Toolchain: nightly when rustup has one (cargo fuzz needs -Z flags), else the
# stable compiler with RUSTC_BOOTSTRAP=1 and no sanitizer. cargo-fuzz itself is
# installed with `cargo install --locked cargo-fuzz` when missing.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)

command -v cargo-fuzz >/dev/null 2>&1 || cargo install --locked cargo-fuzz

toolchain=()
sanitizer=()
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    toolchain=(+nightly)
else
    export RUSTC_BOOTSTRAP=1
    sanitizer=(--sanitizer none)
fi

target_dir=${CARGO_TARGET_DIR:-$root/fuzz/target}
target_dir=${target_dir%/}/fuzz
host=$(rustc "${toolchain[@]}" -vV | sed -n 's/^host: //p')
bin=$target_dir/$host/release/acorn

build() {
    (cd fuzz && cargo "${toolchain[@]}" fuzz build -O "${sanitizer[@]}" \
        --target-dir "$target_dir" acorn)
}

case "${1:-}" in
--seeds)
    build
    empty=$(mktemp)
    # The binary writes the seeds and exits (libFuzzer reports that exit).
    ACORN_FUZZ_SEEDS="$root/fuzz/corpus" "$bin" "$empty" >/dev/null 2>&1 || true
    rm -f "$empty"
    echo "seeds written under fuzz/corpus/"
    exit 0
    ;;
--list)
    sed -n 's/^    ("\([a-z_0-9]*\)", targets::.*/\1/p' fuzz/src/main.rs
    exit 0
    ;;
esac

secs=${1:-10}
[ $# -gt 0 ] && shift
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <("$0" --list)
fi

build
echo "fuzz binary: $bin"

found=0
printf '\n%-16s %12s %10s %8s %9s\n' target executions exec/s corpus findings
for t in "${targets[@]}"; do
    work=$target_dir/corpus/$t
    arts=$root/fuzz/artifacts/$t
    mkdir -p "$work" "$arts" "fuzz/corpus/$t"
    log=$target_dir/log-$t.txt
    set +e
    ACORN_FUZZ_TARGET=$t "$bin" "$work" "fuzz/corpus/$t" \
        -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=128 -print_final_stats=1 \
        -artifact_prefix="$arts/" >"$log" 2>&1
    rc=$?
    set -e
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    corpus=$(find "$work" -type f | wc -l)
    findings=$(find "$arts" -type f | wc -l)
    printf '%-16s %12s %10s %8s %9s\n' "$t" "${execs:-?}" "${rate:-?}" "$corpus" "$findings"
    if [ "$rc" -ne 0 ] || [ "$findings" -ne 0 ]; then
        found=1
        echo "  exit $rc; log: $log" >&2
        grep -m 3 -E 'panicked|ERROR: libFuzzer|SUMMARY' "$log" | sed 's/^/  /' >&2 || true
    fi
done
exit "$found"
