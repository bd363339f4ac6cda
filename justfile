# Every recipe is exactly what CI (.ci/run) runs.

# The main demo.
demo:
    cargo run --example pipe

# The README's test command.
test:
    cargo nextest run --workspace && cargo test --doc --workspace

fmt:
    cargo fmt --all --check

clippy:
    cargo clippy --workspace --all-targets --locked -- -D warnings
    cargo clippy -p procvisor-pool --features progress --all-targets --locked -- -D warnings

loom:
    RUSTFLAGS="--cfg procvisor_loom" CARGO_TARGET_DIR=target/loom cargo test -p procvisor-sync --lib --release --locked loom

doc:
    RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked

bench-smoke:
    cargo run -p procvisor-bench --release --locked -- --smoke

# The full side-by-side benchmark against Python (minutes; not part of CI).
bench *WORKLOADS:
    cargo run -p procvisor-bench --release --locked -- {{WORKLOADS}}

# Tests that only mean something in a release build.
test-release:
    cargo nextest run --release --locked -p procvisor-runtime --test link_polling

book:
    mdbook build book

# Grow the fuzz corpora (needs cargo-fuzz; runs on stable through RUSTC_BOOTSTRAP).
fuzz TARGET SECONDS="120":
    cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run {{TARGET}} -- -max_total_time={{SECONDS}} -rss_limit_mb=1024 -malloc_limit_mb=512

ci:
    bash .ci/run
