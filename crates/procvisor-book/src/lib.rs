//! The procvisor book, as doctests.
//!
//! Each module below is one chapter of the book (`book/src/*.md`), included as its
//! documentation, so `cargo test --doc` compiles and runs every Rust listing of the book. The
//! build script expands mdBook's `{{#include …}}` directives first, so a listing taken from a
//! program in `examples/` is tested exactly as the reader sees it. Lines that start with `# `
//! in a listing are hidden by mdBook as they are by rustdoc: they hold the setup (imports,
//! registered functions, a `main` that returns a `Result`) that makes a fragment a program.
//!
//! This crate is not published and has no API.

macro_rules! chapter {
    ($name:ident, $file:literal) => {
        #[doc = include_str!(concat!(env!("OUT_DIR"), "/", $file))]
        pub mod $name {}
    };
}

chapter!(introduction, "introduction.md");
chapter!(installation, "installation.md");
chapter!(processes, "processes.md");
chapter!(start_methods, "start-methods.md");
chapter!(pipes, "pipes.md");
chapter!(guidelines, "guidelines.md");
chapter!(queues, "queues.md");
chapter!(synchronization, "synchronization.md");
chapter!(pools, "pools.md");
chapter!(managers, "managers.md");
chapter!(actors, "actors.md");
chapter!(python_to_rust, "python-to-rust.md");
